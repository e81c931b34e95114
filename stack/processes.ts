import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';

/** What the stack records about a process it started, so it can find it again later. */
export interface ManagedProcess {
  name: string;
  pid: number;
  /** Kernel start time (clock ticks since boot) — tells our pid apart from a recycled one. */
  startTime: number;
  command: string[];
  log: string;
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may itself contain spaces or parens. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = afterName[0];
    if (state === 'Z' || state === 'X') return undefined;
    return Number(afterName[19]);
  } catch {
    return undefined;
  }
}

/** Alive and still the process we started (not a reused pid). */
export function isRunning(proc: Pick<ManagedProcess, 'pid' | 'startTime'>): boolean {
  return processStartTime(proc.pid) === proc.startTime;
}

/**
 * Starts a process in its own process group, detached from ours, with stdout and
 * stderr appended to its log file. It outlives the starting command; `stop` ends it.
 */
export function startProcess(name: string, command: string[], log: string, env: NodeJS.ProcessEnv = process.env): ManagedProcess {
  const [file, ...args] = command;
  if (!file) throw new Error(`stack: empty command for ${name}`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`stack: could not start ${name} (${file})`);
    child.unref();
    const startTime = processStartTime(child.pid);
    if (startTime === undefined) throw new Error(`stack: ${name} exited immediately; log tail:\n${tailLog(log)}`);
    return { name, pid: child.pid, startTime, command, log };
  } finally {
    closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM the process group, then SIGKILL whatever is left after the grace time. Only our own pids. */
export async function stopProcess(proc: ManagedProcess, graceMs = 10_000): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isRunning(proc)) return 'not-running';
  signalGroup(proc.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(proc)) return 'stopped';
    await sleep(100);
  }
  signalGroup(proc.pid, 'SIGKILL');
  while (isRunning(proc)) await sleep(50);
  return 'killed';
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function tailLog(path: string, lines = 25): string {
  if (!existsSync(path)) return '(no log file)';
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } finally {
    closeSync(fd);
  }
}

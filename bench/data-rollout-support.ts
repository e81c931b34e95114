/**
 * What the data-rollout bench (data-rollout.ts) runs on: the child processes it starts and
 * watches, its bounded waits, the random data it writes and the machine facts it reports.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createWriteStream, openSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../stack/stack-state';
import { procMemoryMb, sleep } from './support';

const POLL_MS = 250;
/** Deployer crashes the bench restarts (and reports) before it gives up. */
const MAX_RESTARTS = 10;
export const MIB = 2 ** 20;

export const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Processes the bench started, by name, with their log files: each is watched and always stopped. */
export class Processes {
  private readonly children = new Map<string, { child: ChildProcess; logFile: string; respawn?: () => ChildProcess }>();
  private readonly peaks = new Map<string, number>();
  /** Restarts after a crash, as the kubelet restarts a sidecar: name, exit and the last line of its log. */
  readonly crashes: { name: string; exit: string; lastLine: string }[] = [];

  constructor(private readonly logDir: string) {}

  /** `respawn`, when given, starts the process again after it exits on its own (at most MAX_RESTARTS times in all). */
  add(name: string, child: ChildProcess, logFile: string, respawn?: () => ChildProcess): ChildProcess {
    this.children.set(name, { child, logFile, ...(respawn ? { respawn } : {}) });
    child.once('error', (err) => log(`${name}: ${err.message}`));
    return child;
  }

  spawnNode(name: string, script: string, args: string[], env: Record<string, string>): ChildProcess {
    const logFile = join(this.logDir, `${name}.log`);
    const out = openSync(logFile, 'a');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', script), ...args], {
      env: { ...process.env, AUTOCRANE_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', out, out],
    });
    return this.add(name, child, logFile);
  }

  pid(name: string): number {
    const pid = this.children.get(name)?.child.pid;
    if (pid === undefined) throw new Error(`${name} has no process id`);
    return pid;
  }

  /** Reads every running process's VmHWM, so the peak of one that crashes later is not lost. */
  async samplePeaks(): Promise<void> {
    for (const [name, { child }] of this.children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      const peak = await procMemoryMb(child.pid).catch(() => 0);
      this.peaks.set(name, Math.max(peak, this.peaks.get(name) ?? 0));
    }
  }

  /** The highest VmHWM seen of `name`, over its restarts, including now. */
  async peak(name: string): Promise<number> {
    await this.samplePeaks();
    return this.peaks.get(name) ?? Number.NaN;
  }

  /**
   * Throws, with the end of its log, when a process has exited; a restartable one is started
   * again (and recorded) instead, until MAX_RESTARTS in all.
   */
  async assertAlive(): Promise<void> {
    for (const [name, entry] of this.children) {
      const { child, logFile, respawn } = entry;
      if (child.exitCode === null && child.signalCode === null) continue;
      const exit = String(child.exitCode ?? child.signalCode);
      const lines = (await readFile(logFile, 'utf8').catch(() => '')).trimEnd().split('\n');
      if (respawn && this.crashes.length < MAX_RESTARTS) {
        const lastLine = [...lines].reverse().find((l) => /Error|error/.test(l)) ?? lines.at(-1) ?? '';
        this.crashes.push({ name, exit, lastLine: lastLine.trim().slice(0, 300) });
        log(`${name} exited (${exit}): restarting it, as the kubelet would; ${lastLine.trim().slice(0, 200)}`);
        entry.child = respawn();
        continue;
      }
      throw new Error(`${name} exited (${exit}); the end of ${logFile}:\n${lines.slice(-15).join('\n')}`);
    }
  }

  /** SIGTERM to every running process, SIGKILL to those still running 5 s later. */
  async stopAll(): Promise<void> {
    const running = [...this.children.values()].map((c) => c.child).filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.all(
      running.map(async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    this.children.clear();
  }
}

/** A failure that ends the run at once (a wait's other errors are retried until its deadline). */
export class BenchFailure extends Error {
  override readonly name = 'BenchFailure';
}

/** Polls `check` until it returns a value; throws naming `what` and the last thing it waited for at the deadline. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<{ value: T } | { waiting: string }>,
  guard: () => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing checked yet';
  for (;;) {
    await guard();
    const result = await check().catch((err: unknown) => {
      if (err instanceof BenchFailure) throw err;
      return { waiting: err instanceof Error ? err.message : String(err) };
    });
    if ('value' in result) return result.value;
    last = result.waiting;
    if (Date.now() > deadline) throw new Error(`timed out after ${secs(timeoutMs)} waiting for ${what}; last: ${last}`);
    await sleep(POLL_MS);
  }
}

/** Writes `mb` MiB of random bytes (incompressible) into `files` files under `dir`, 1 MiB at a time. */
export async function writeRandomFiles(dir: string, mb: number, files: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const block = Buffer.alloc(MIB);
  const perFile = Math.floor(mb / files);
  for (let f = 0; f < files; f++) {
    const size = f === files - 1 ? mb - perFile * (files - 1) : perFile;
    const out = createWriteStream(join(dir, `part-${String(f).padStart(2, '0')}.bin`));
    for (let m = 0; m < size; m++) {
      randomFillSync(block);
      if (!out.write(Buffer.from(block))) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/** Bytes the folder's regular files hold, recursively. */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

/** The commit the checkout is at, and whether tracked files differ from it (dist/ is built from the working tree). */
export function describeCheckout(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const changed = git('status', '--porcelain', '--untracked-files=no').split('\n').filter(Boolean).length;
    return `${git('rev-parse', '--short', 'HEAD')}${changed ? ` with ${changed} tracked files changed` : ''}`;
  } catch {
    return 'an unknown commit (no git checkout)';
  }
}

export async function freeDisk(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

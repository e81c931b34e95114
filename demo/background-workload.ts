/**
 * The demo's test workload (`autocrane test-workload`) as a background process that outlives
 * the demo, so the sample app's probes keep being answered after the demo has shown its
 * rollback. Recorded in `<dir>/test-workload.json` (pid, kernel start time, port): a second
 * demo reuses it (or, once stopped, starts it again on the same port), and `stop` ends
 * exactly that process, never a recycled pid.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { isRunning, type ManagedProcess, startProcess, stopProcess, tailLog } from '../stack/processes';
import { REPO_ROOT } from '../stack/stack-state';

export interface BackgroundWorkload {
  /** Base URL of its control routes (POST /fail/{pod}, /recover/{pod}, GET /state). */
  url: string;
  port: number;
  pid: number;
  log: string;
  /** True when an earlier demo's process was still running and answering. */
  reused: boolean;
}

interface WorkloadRecord {
  process: ManagedProcess;
  port: number;
}

const recordFile = (dir: string) => join(dir, 'test-workload.json');
const START_TIMEOUT_MS = 10_000;

function readRecord(dir: string): WorkloadRecord | undefined {
  const file = recordFile(dir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as WorkloadRecord;
  } catch {
    return undefined; // a torn or foreign file: start afresh
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/state`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** `preferred` when nothing listens there (so pod templates keep their probe port across restarts), else any free port. */
function freePort(preferred: number | undefined): Promise<number> {
  const attempt = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '0.0.0.0', () => {
        const chosen = (server.address() as { port: number }).port;
        server.close(() => resolve(chosen));
      });
    });
  return (async () =>
    (preferred !== undefined ? await attempt(preferred) : undefined) ??
    (await attempt(0)) ??
    Promise.reject(new Error('no free port for the test workload')))();
}

/** The running test workload recorded in `dir`, or a new one started there. */
export async function ensureBackgroundWorkload(dir: string): Promise<BackgroundWorkload> {
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'test-workload.log');
  const previous = readRecord(dir);
  if (previous && isRunning(previous.process)) {
    const url = `http://127.0.0.1:${previous.port}`;
    if (await answers(url)) return { url, port: previous.port, pid: previous.process.pid, log, reused: true };
    await stopProcess(previous.process, 2000); // alive but deaf: replace it
  }
  const port = await freePort(previous?.port);
  const cli = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const proc = startProcess('test-workload', [process.execPath, cli, 'test-workload', '--host', '0.0.0.0', '--port', String(port)], log, {
    ...process.env,
    AUTOCRANE_LOG_FORMAT: 'json',
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(url))) {
    if (!isRunning(proc) || Date.now() > deadline) {
      await stopProcess(proc, 1000);
      throw new Error(`the test workload did not answer at ${url} within ${START_TIMEOUT_MS / 1000} s; log ${log}:\n${tailLog(log)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const tmp = `${recordFile(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ process: proc, port } satisfies WorkloadRecord, null, 2) + '\n');
  renameSync(tmp, recordFile(dir));
  return { url, port, pid: proc.pid, log, reused: false };
}

/** Stops the test workload recorded in `dir`, if it still runs; returns what happened. */
export async function stopBackgroundWorkload(dir: string): Promise<string> {
  const record = readRecord(dir);
  if (!record) return 'no demo test workload recorded';
  // The record stays: the next start takes its port again, so the sample app's probe
  // declarations (and its pods) need not change.
  const result = await stopProcess(record.process);
  return `demo test workload ${result} (pid ${record.process.pid})`;
}

/** The real `autocrane data-repository` process (from dist/), started for a test. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from '../../stack/stack-state';
import { tierStack } from './stacks';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** The last lines of a log, for an error message. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * The environment of a repository on the integration tier's Temporal, on its own task queue,
 * reading `<work>/sources.json` and storing under `<work>/store`.
 */
export function tierRepositoryEnv(work: string, taskQueue: string): Record<string, string> {
  const stack = tierStack('integration');
  return {
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.temporalNamespace,
    AUTOCRANE_TASK_QUEUE: taskQueue,
    AUTOCRANE_DATA_SOURCES_FILE: join(work, 'sources.json'),
    AUTOCRANE_DATA_REPOSITORY_ROOT: join(work, 'store'),
  };
}

export interface DataRepositoryProcess {
  child: ChildProcess;
  url: string;
}

/**
 * Starts the data repository with `env` (Temporal, sources file, root...) on a free port of
 * 127.0.0.1, its polls triggered by the test (an hour's interval); resolves once /healthz answers.
 */
export async function startDataRepository(env: Record<string, string>, logFile: string): Promise<DataRepositoryProcess> {
  const main = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: data tests need \`npm run build\` (make test does it)`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [main, 'data-repository'], {
    env: {
      ...process.env,
      AUTOCRANE_DATA_REPOSITORY_HOST: '127.0.0.1',
      AUTOCRANE_DATA_REPOSITORY_PORT: String(port),
      AUTOCRANE_DATA_POLL_INTERVAL_SECONDS: '3600',
      AUTOCRANE_WORKER_METRICS_PORT: '0',
      AUTOCRANE_LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited(child)) throw new Error(`the data repository exited (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { child, url };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the data repository did not answer ${url}/healthz within 60 s:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

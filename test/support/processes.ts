import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../stack/stack-state';

/** Starts AutoCrane's real worker process (from dist/) so a test can SIGKILL it. */
export function spawnWorker(env: Record<string, string>, logFile: string): ChildProcess {
  const main = join(REPO_ROOT, 'dist', 'workers', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: crash tests need \`npm run build\` (make test does it)`);
  const log = openSync(logFile, 'a');
  return spawn(process.execPath, [main], {
    env: { ...process.env, AUTOCRANE_LOG_FORMAT: 'json', AUTOCRANE_WORKER_METRICS_PORT: '0', ...env },
    stdio: ['ignore', log, log],
  });
}

export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWorker } from '../support/processes';

/** The worker process as deployed (dist/), started with no namespace to watch. */
describe('worker start-up', () => {
  test('with no watched namespace configured, it stops with exit status 2 and says why', async () => {
    const logFile = join(tmpdir(), `autocrane-worker-no-namespaces-${process.pid}.log`);
    const child = spawnWorker({ AUTOCRANE_WATCH_NAMESPACES: '' }, logFile);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(readFileSync(logFile, 'utf8')).toContain('AUTOCRANE_WATCH_NAMESPACES: no namespace to watch');
  });
});

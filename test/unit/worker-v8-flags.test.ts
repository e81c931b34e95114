import { Worker } from 'node:worker_threads';
import { applyWorkerV8Flags, NEW_ISOLATE_SEMI_SPACE_MB } from '../../workers/v8-flags';

/** The young generation (new space, MB) a thread reaches after allocating many short-lived objects. */
function threadNewSpaceMb(): Promise<number> {
  const code = `
    const v8 = require('node:v8');
    let kept = 0;
    for (let i = 0; i < 200; i++) kept += JSON.parse(JSON.stringify(Array.from({ length: 2000 }, (_, j) => ({ j, s: 'x' + j })))).length;
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    require('node:worker_threads').parentPort.postMessage(space.space_size / 2 ** 20);
  `;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', (mb: number) => {
      resolve(mb);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

test('threads created after the call get a young generation of at most two semi-spaces of the cap', async () => {
  const before = await threadNewSpaceMb();
  // V8's default lets the new space of a busy thread grow well beyond the cap.
  expect(before).toBeGreaterThan(2 * NEW_ISOLATE_SEMI_SPACE_MB);

  applyWorkerV8Flags();

  expect(await threadNewSpaceMb()).toBeLessThanOrEqual(2 * NEW_ISOLATE_SEMI_SPACE_MB);
});

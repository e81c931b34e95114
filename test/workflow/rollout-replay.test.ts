import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { REPO_ROOT } from '../../stack/stack-state';

/**
 * The files are handle.fetchHistory() serialized with JSON.stringify, i.e. protobufjs toJSON
 * (int64 as strings, enums by name, bytes in base64), so the client's own History.fromObject
 * reads them back exactly. Not historyFromJSON (what the worker applies to JSON histories): it
 * expects the CLI's proto3 JSON, and in this install it throws "type must be a Type" because
 * @temporalio/common and @temporalio/proto each carry their own copy of protobufjs 8.
 */
const { temporal } = createRequire(require.resolve('@temporalio/client'))('@temporalio/proto') as typeof import('@temporalio/proto');

/**
 * Replays every saved rollout history (test/fixtures/histories, written by recordHistory
 * under RECORD_HISTORIES=1) against today's workflow code: a change that would break
 * running rollouts fails here with Temporal's determinism error.
 */
const HISTORIES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'histories');

function savedHistories(): HistoryAndWorkflowId[] {
  const files = readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  return files.map((file) => ({
    workflowId: file.replace(/\.json$/, ''),
    history: temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8'))),
  }));
}

describe('saved rollout histories replay on the current workflow code', () => {
  test('every history in test/fixtures/histories replays without a determinism error', async () => {
    const histories = savedHistories();
    // An empty folder would make this test pass without checking anything.
    expect(histories.length).toBeGreaterThan(0);

    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../../workflows') }, histories)) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(histories.length);
  });
});

import { createWorker } from '../../workers/worker-factory';
import { clusterCheckWorkflow } from '../../workflows';
import { AUTOCRANE_STATE } from '../../contracts/search-attributes';
import type { ClusterDescription } from '../../activities/cluster/cluster';
import { tierStack } from '../support/stacks';
import { temporalClients, TemporalClients, uniqueTaskQueue } from '../support/temporal';

/** Workflow tier: the real dev server, activities stubbed. */
describe('clusterCheckWorkflow', () => {
  let temporal: TemporalClients;
  beforeAll(async () => {
    temporal = await temporalClients(tierStack('workflow'));
  });
  afterAll(async () => temporal.close());

  test('returns what describeCluster reports and marks itself Succeeded', async () => {
    const stack = tierStack('workflow');
    const description: ClusterDescription = { gitVersion: 'v9.9.9', nodeCount: 7, zones: ['x', 'y'] };
    const calls: string[] = [];
    const taskQueue = uniqueTaskQueue('wf-cluster-check');
    const worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue,
      activities: {
        async describeCluster() {
          calls.push('describeCluster');
          return description;
        },
      },
    });
    const handle = await temporal.client.workflow.start(clusterCheckWorkflow, { taskQueue, workflowId: `wf/${taskQueue}` });
    const result = await worker.runUntil(handle.result());

    expect(result).toEqual(description);
    expect(calls).toEqual(['describeCluster']);
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(AUTOCRANE_STATE)).toBe('Succeeded');
  });
});

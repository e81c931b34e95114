import { createActivities } from '../../activities';
import { createWorker } from '../../workers/worker-factory';
import { clusterCheckWorkflow } from '../../workflows';
import { eventually, sandboxClients } from '../support/kube';
import { tierStack } from '../support/stacks';
import { temporalClients, TemporalClients, uniqueTaskQueue } from '../support/temporal';

/**
 * A workflow with a real activity (it reads the sandbox cluster) runs on the dev server
 * through the project's own worker factory, and a visibility query on a custom search
 * attribute finds it.
 */
describe('worker on the dev server against the sandbox cluster', () => {
  let temporal: TemporalClients;

  beforeAll(async () => {
    temporal = await temporalClients(tierStack('integration'));
  });
  afterAll(async () => temporal.close());

  test('clusterCheckWorkflow describes the sandbox and is found by AutoCraneState', async () => {
    const stack = tierStack('integration');
    const kubeConfig = sandboxClients().kc;
    const taskQueue = uniqueTaskQueue('cluster-check');
    const worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue,
      activities: createActivities({ kubeConfig, watchdogs: { probeTimeoutSeconds: 5, probeConcurrency: 8 } }),
    });
    const workflowId = `cluster-check/${taskQueue}`;

    const result = await worker.runUntil(temporal.client.workflow.execute(clusterCheckWorkflow, { taskQueue, workflowId }));

    expect(result.gitVersion).toBe('v1.34.4');
    expect(result.nodeCount).toBe(3);
    expect([...result.zones].sort()).toEqual(['a', 'b', 'c']);

    // Visibility is eventually consistent; the SQLite store catches up within moments.
    const found = await eventually(async () => {
      const ids: string[] = [];
      for await (const wf of temporal.client.workflow.list({
        query: `AutoCraneState = 'Succeeded' AND WorkflowType = 'clusterCheckWorkflow' AND WorkflowId = '${workflowId}'`,
      })) {
        ids.push(wf.workflowId);
      }
      if (ids.length === 0) throw new Error('not visible yet');
      return ids;
    }, 20_000);
    expect(found).toEqual([workflowId]);
  });
});

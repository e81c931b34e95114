import { startStoppedComponent, stopComponent } from '../../stack/stack';
import { createWorker } from '../../workers/worker-factory';
import { timerWorkflow } from '../fixtures/timer-workflows';
import { eventually } from '../support/kube';
import { tierStack } from '../support/stacks';
import { temporalClients, TemporalClients, uniqueTaskQueue } from '../support/temporal';

/** Workflow state lives in the dev server's SQLite file: a timer outlives a server restart. */
describe('Temporal dev server restart', () => {
  let temporal: TemporalClients;
  afterAll(async () => temporal?.close());

  test('a workflow waiting on a timer completes after the server is stopped and started again', async () => {
    const stack = tierStack('integration');
    temporal = await temporalClients(stack);
    const taskQueue = uniqueTaskQueue('timer');
    const worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue,
      activities: {},
      workflowsPath: require.resolve('../fixtures/timer-workflows'),
    });
    const running = worker.run();
    try {
      const handle = await temporal.client.workflow.start(timerWorkflow, {
        taskQueue,
        workflowId: `timer/${taskQueue}`,
        args: [8_000],
      });
      await eventually(async () => {
        const history = await handle.fetchHistory();
        if (!history.events?.some((e) => e.timerStartedEventAttributes)) throw new Error('timer not started yet');
      });

      await stopComponent('temporal', stack.stateDir);
      await expect(temporal.client.workflow.getHandle(handle.workflowId).describe()).rejects.toThrow();
      await startStoppedComponent('temporal', { stateDir: stack.stateDir });

      expect(await handle.result()).toBe('timer fired');
      const history = await handle.fetchHistory();
      expect(history.events?.filter((e) => e.timerFiredEventAttributes)).toHaveLength(1);
      expect((await handle.describe()).runId).toBe(handle.firstExecutionRunId);
    } finally {
      worker.shutdown();
      await running;
    }
  });
});

import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { RolloutSpec } from '../../domain/rollout/rollout-spec';
import { startStoppedComponent, stopComponent } from '../../stack/stack';
import { probeScheduleId } from '../../contracts/schedule-ids';
import { rolloutWorkflow } from '../../workflows';
import { repairWorkflowId } from '../../contracts/repair-messages';
import { rolloutWorkflowId } from '../../contracts/rollout-messages';
import { eventually } from '../support/kube';
import { killAndWait, spawnWorker } from '../support/processes';
import { IMAGE_V2, newRolloutId, probedDeployment, recordHistory, rolloutSpec, waitForState } from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { tierStack } from '../support/stacks';
import { uniqueTaskQueue } from '../support/temporal';
import { livePods, readyPods } from '../support/workloads';

/** A rollout survives the crash of its worker, of the Temporal server, and an apiserver outage. */
describe('rollouts survive crashes', () => {
  let sandbox: SandboxWorker;
  beforeAll(async () => {
    sandbox = await startSandboxWorker('rollout-crash');
  });
  afterAll(async () => sandbox.close());

  async function deploymentWith(prefix: string, replicas: number): Promise<string> {
    const ns = await sandbox.namespace(prefix);
    await sandbox.k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', replicas) });
    await readyPods(sandbox.k.core, ns, 'web', replicas, eventually);
    return ns;
  }

  async function expectAllOnNewImage(ns: string, replicas: number): Promise<void> {
    const pods = await readyPods(sandbox.k.core, ns, 'web', replicas, eventually);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual(Array(replicas).fill(IMAGE_V2));
  }

  const start = (spec: RolloutSpec, taskQueue = sandbox.taskQueue): Promise<WorkflowHandle<typeof rolloutWorkflow>> =>
    sandbox.temporal.client.workflow.start(rolloutWorkflow, {
      taskQueue,
      workflowId: rolloutWorkflowId(spec.target),
      args: [{ rolloutId: newRolloutId(), spec }],
    });

  describe('with the real worker process', () => {
    const workers: ChildProcess[] = [];
    afterEach(async () => {
      for (const w of workers.splice(0)) await killAndWait(w, 'SIGKILL');
    });

    async function workerFor(ns: string) {
      const stack = tierStack('integration');
      const env = {
        KUBECONFIG: stack.kubeconfig!,
        TEMPORAL_ADDRESS: stack.temporalAddress,
        AUTOCRANE_TASK_QUEUE: uniqueTaskQueue('rollout-crash'),
        AUTOCRANE_WATCH_NAMESPACES: ns,
        AUTOCRANE_PROBE_INTERVAL_SECONDS: '3600',
        AUTOCRANE_REPAIR_ENABLED: 'false',
      };
      let n = 0;
      const spawnOne = () => {
        const child = spawnWorker(env, join(stack.stateDir, 'logs', `rollout-worker-${ns}-${++n}.log`));
        workers.push(child);
        return child;
      };
      return { taskQueue: env.AUTOCRANE_TASK_QUEUE, spawnOne };
    }

    async function cleanupSchedules(ns: string) {
      await sandbox.temporal.client.schedule
        .getHandle(probeScheduleId(ns))
        .delete()
        .catch(() => undefined);
      await sandbox.temporal.client.workflow
        .getHandle(repairWorkflowId(ns))
        .terminate()
        .catch(() => undefined);
    }

    test('SIGKILL during a bake: the restarted worker finishes the rollout', async () => {
      const ns = await deploymentWith('ro-kill-bake', 3);
      const w = await workerFor(ns);
      try {
        const first = w.spawnOne();
        const handle = await start(
          rolloutSpec({
            target: { namespace: ns, kind: 'Deployment', name: 'web' },
            stages: [
              { replicas: 1, bakeSeconds: 6 },
              { replicas: '100%', bakeSeconds: 1 },
            ],
          }),
          w.taskQueue,
        );
        await waitForState(handle, (s) => s.state === 'Baking' && s.stage === 0, 60_000);
        await killAndWait(first, 'SIGKILL');
        w.spawnOne();
        const result = await handle.result();
        expect(result.state).toBe('Succeeded');
        await expectAllOnNewImage(ns, 3);
        await recordHistory(handle, 'worker-killed-during-bake');
      } finally {
        await cleanupSchedules(ns);
      }
    });

    test('SIGKILL during a stage transition: the restarted worker finishes the rollout', async () => {
      // Stage 2 moves 17 replicas in chunks of 2 (maxSurge 1 + maxUnavailable 1), each waited
      // for: a window of a second or more in which it is Progressing, where a stage of a few
      // pods on kwok lasts less than the 200 ms between two looks at the state.
      const replicas = 20;
      const ns = await deploymentWith('ro-kill-step', replicas);
      const w = await workerFor(ns);
      try {
        const first = w.spawnOne();
        const handle = await start(
          rolloutSpec({
            target: { namespace: ns, kind: 'Deployment', name: 'web' },
            stages: [
              { replicas: 1, bakeSeconds: 0 },
              { replicas: 18, bakeSeconds: 0 },
            ],
          }),
          w.taskQueue,
        );
        await waitForState(handle, (s) => s.state === 'Progressing' && s.stage === 1, 60_000);
        await killAndWait(first, 'SIGKILL');
        w.spawnOne();
        const result = await handle.result();
        expect(result.state).toBe('Succeeded');
        await expectAllOnNewImage(ns, replicas);
        await recordHistory(handle, 'worker-killed-during-transition');
      } finally {
        await cleanupSchedules(ns);
      }
    });
  });

  test('a Temporal server restart in the middle of a rollout: it completes', async () => {
    const stack = tierStack('integration');
    const ns = await deploymentWith('ro-temporal', 3);
    const handle = await start(
      rolloutSpec({
        target: { namespace: ns, kind: 'Deployment', name: 'web' },
        stages: [
          { replicas: 1, bakeSeconds: 6 },
          { replicas: '100%', bakeSeconds: 1 },
        ],
      }),
    );
    await waitForState(handle, (s) => s.state === 'Baking' && s.stage === 0);
    await stopComponent('temporal', stack.stateDir);
    await startStoppedComponent('temporal', { stateDir: stack.stateDir });
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    await expectAllOnNewImage(ns, 3);
    await recordHistory(handle, 'temporal-restarted');
  });

  test('the apiserver stopped for a while: the rollout waits, then completes', async () => {
    const stack = tierStack('integration');
    const ns = await deploymentWith('ro-apiserver', 3);
    const handle = await start(
      rolloutSpec({
        target: { namespace: ns, kind: 'Deployment', name: 'web' },
        stages: [
          { replicas: 1, bakeSeconds: 3 },
          { replicas: '100%', bakeSeconds: 1 },
        ],
      }),
    );
    await waitForState(handle, (s) => s.state === 'Baking' && s.stage === 0);
    await stopComponent('kube-apiserver', stack.stateDir);
    await new Promise((r) => setTimeout(r, 8000));
    // Still going: waiting on the apiserver is not a failure.
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await startStoppedComponent('kube-apiserver', { stateDir: stack.stateDir });
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    await expectAllOnNewImage(ns, 3);
    expect((await livePods(sandbox.k.core, ns, 'web')).length).toBe(3);
    await recordHistory(handle, 'apiserver-stopped');
  });
});

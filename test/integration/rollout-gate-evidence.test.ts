import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { PROBE_ANNOTATION_PREFIX } from '../../domain/shared/keys';
import { probeScheduleId } from '../../contracts/schedule-ids';
import { rolloutWorkflow } from '../../workflows';
import { repairWorkflowId } from '../../contracts/repair-messages';
import { rolloutWorkflowId, type RolloutStatus } from '../../contracts/rollout-messages';
import { eventually } from '../support/kube';
import { probeAnswererPort, probeAnswererUrl } from '../support/probe-answerer';
import { killAndWait, spawnWorker } from '../support/processes';
import { IMAGE_V1, IMAGE_V2, newRolloutId, probedDeployment, probedTemplate, rolloutSpec, waitForState } from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { tierStack } from '../support/stacks';
import { uniqueTaskQueue } from '../support/temporal';
import { readyPods } from '../support/workloads';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const post = async (path: string, body: unknown = {}) => {
  const res = await fetch(`${probeAnswererUrl()}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
};

/**
 * A gate passes only on evidence gathered during the bake: the real worker process is SIGKILLed
 * while a watchdog sweep of the namespace is in flight, the new version starts failing its probe
 * at that moment, and the worker comes back 3 s later. The sweep is stalled on its heartbeat
 * timeout and its Schedule skips overlapping runs, so only the gate's own probes can see the
 * failure: the rollout must roll back every time, whatever the moment of the kill.
 */
describe('the rollout gate passes only on fresh evidence', () => {
  let sandbox: SandboxWorker;
  const workers: ChildProcess[] = [];
  beforeAll(async () => {
    sandbox = await startSandboxWorker('gate-evidence');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await killAndWait(w, 'SIGKILL');
  });
  afterAll(async () => sandbox.close());

  async function setup(prefix: string, key: string) {
    const ns = await sandbox.namespace(prefix);
    await sandbox.k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 3, undefined, key) });
    // Slow pods keep a one-probe-at-a-time sweep busy for about 6 s of every 5 s interval, so a
    // sweep is nearly always in flight (the kill waits for one anyway).
    for (let i = 0; i < 4; i++) {
      const name = `${key}-slow-${i}`;
      await sandbox.k.core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name, annotations: { [`${PROBE_ANNOTATION_PREFIX}http`]: `POD_IP:${probeAnswererPort()}/watchdog/${name}` } },
          spec: { containers: [{ name: 'app', image: IMAGE_V1 }] },
        },
      });
      await post(`/slow/${name}`, { ms: 1500 });
    }
    await readyPods(sandbox.k.core, ns, 'web', 3, eventually);
    const stack = tierStack('integration');
    const env = {
      KUBECONFIG: stack.kubeconfig!,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      AUTOCRANE_TASK_QUEUE: uniqueTaskQueue(prefix),
      AUTOCRANE_WATCH_NAMESPACES: ns,
      AUTOCRANE_PROBE_INTERVAL_SECONDS: '5',
      AUTOCRANE_PROBE_CONCURRENCY: '1',
      AUTOCRANE_REPAIR_ENABLED: 'false',
    };
    let n = 0;
    const spawnOne = () => {
      const child = spawnWorker(env, join(stack.stateDir, 'logs', `gate-evidence-${ns}-${++n}.log`));
      workers.push(child);
      return child;
    };
    const cleanup = async () => {
      await sandbox.temporal.client.schedule
        .getHandle(probeScheduleId(ns))
        .delete()
        .catch(() => undefined);
      await sandbox.temporal.client.workflow
        .getHandle(repairWorkflowId(ns))
        .terminate()
        .catch(() => undefined);
    };
    return { ns, taskQueue: env.AUTOCRANE_TASK_QUEUE, spawnOne, cleanup };
  }

  /** Waits until a sweep of the namespace is running (its Schedule's running action). */
  async function sweepInFlight(ns: string): Promise<void> {
    const schedule = sandbox.temporal.client.schedule.getHandle(probeScheduleId(ns));
    await eventually(
      async () => {
        const { info } = await schedule.describe();
        if (info.runningActions.length === 0) throw new Error('no sweep running');
      },
      30_000,
      100,
    );
  }

  // Kill moments spread over the bakes: early and late in stage 1, and in stage 2.
  const moments: { stage: number; afterMs: number }[] = [
    { stage: 0, afterMs: 0 },
    { stage: 0, afterMs: 2500 },
    { stage: 1, afterMs: Math.floor(Math.random() * 3000) },
  ];

  test.each(moments)(
    'SIGKILL during a sweep in stage $stage, $afterMs ms into the bake, as the new version starts failing: rolled back',
    async ({ stage, afterMs }) => {
      const key = `ge${newRolloutId()}`;
      const w = await setup('gate-kill', key);
      try {
        const first = w.spawnOne();
        const newTemplate = {
          ...probedTemplate('web', `${key}-v2`),
          spec: { containers: [{ name: 'app', image: IMAGE_V2 }], terminationGracePeriodSeconds: 0 },
        };
        const spec = rolloutSpec({
          target: { namespace: w.ns, kind: 'Deployment', name: 'web' },
          change: { template: newTemplate },
          stages: [
            { replicas: 1, bakeSeconds: 5 },
            { replicas: 2, bakeSeconds: 5 },
            { replicas: '100%', bakeSeconds: 5 },
          ],
        });
        const handle: WorkflowHandle<typeof rolloutWorkflow> = await sandbox.temporal.client.workflow.start(rolloutWorkflow, {
          taskQueue: w.taskQueue,
          workflowId: rolloutWorkflowId(spec.target),
          args: [{ rolloutId: newRolloutId(), spec }],
        });
        await waitForState(handle, (s) => s.state === 'Baking' && s.stage === stage, 90_000);
        await sleep(afterMs);
        await sweepInFlight(w.ns);
        await killAndWait(first, 'SIGKILL');
        const killedAt = Date.now();
        await post(`/fail/${key}-v2`);
        await sleep(3000);
        w.spawnOne();
        const result: RolloutStatus = await handle.result();
        const failed = result.decisions.find((d) => d.kind === 'gateFailed');
        expect({
          state: result.state,
          passedAfterKill: result.decisions.filter((d) => d.kind === 'gatePassed' && Date.parse(d.at) > killedAt).map((d) => d.reason),
        }).toEqual({ state: 'RolledBack', passedAfterKill: [] });
        expect(failed?.reason).toMatch(/an error watchdog.*web-canary-[a-z0-9-]+ \(http\)/);
        const pods = await readyPods(sandbox.k.core, w.ns, 'web', 3, eventually);
        expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual([IMAGE_V1, IMAGE_V1, IMAGE_V1]);
      } finally {
        await w.cleanup();
      }
    },
  );

  test('SIGKILL during a healthy bake: the time the gate could not watch does not count, and the decision log says so', async () => {
    const key = `ge${newRolloutId()}`;
    const w = await setup('gate-gap', key);
    try {
      const first = w.spawnOne();
      const spec = rolloutSpec({
        target: { namespace: w.ns, kind: 'Deployment', name: 'web' },
        stages: [
          { replicas: 1, bakeSeconds: 6 },
          { replicas: '100%', bakeSeconds: 1 },
        ],
      });
      const handle = await sandbox.temporal.client.workflow.start(rolloutWorkflow, {
        taskQueue: w.taskQueue,
        workflowId: rolloutWorkflowId(spec.target),
        args: [{ rolloutId: newRolloutId(), spec }],
      });
      const baking = await waitForState(handle, (s) => s.state === 'Baking' && s.stage === 0, 90_000);
      await sleep(1000);
      await killAndWait(first, 'SIGKILL');
      const killedAt = Date.now();
      await sleep(3000);
      w.spawnOne();
      const result = await handle.result();
      expect(result.state).toBe('Succeeded');
      const passed = result.decisions.find((d) => d.kind === 'gatePassed' && d.stage === 0)!;
      const gap = /bake extended by ([\d.]+)s the gate could not watch/.exec(passed.reason);
      expect(gap).not.toBeNull();
      // The bake lasted 6 s of watched time plus the gap, at least the time the worker was gone.
      expect(Number(gap![1])).toBeGreaterThanOrEqual(3);
      const bakeStarted = Date.parse(baking.stages[0]!.startedAt!);
      expect(Date.parse(passed.at) - bakeStarted).toBeGreaterThanOrEqual(6000 + Number(gap![1]) * 1000 - 500);
      expect(Date.parse(passed.at)).toBeGreaterThan(killedAt);
    } finally {
      await w.cleanup();
    }
  });
});

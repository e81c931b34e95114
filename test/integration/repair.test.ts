import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { RepairPolicy, RepairView } from '../../domain/repair/repair';
import { EVICTION_EVENT_REASON, WRITE_REFUSED_EVENT_REASON } from '../../domain/shared/keys';
import { startStoppedComponent, stopComponent } from '../../stack/stack';
import { repairWorkflow } from '../../workflows';
import { repairStateQuery, repairWorkflowId } from '../../contracts/repair-messages';
import { probeScheduleId } from '../../contracts/schedule-ids';
import { repairPolicy } from '../fixtures/repair';
import { eventually, type KubeClients } from '../support/kube';
import { killAndWait, spawnWorker } from '../support/processes';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { tierStack } from '../support/stacks';
import { type TemporalClients, uniqueTaskQueue } from '../support/temporal';
import { deployment, livePods, markPodError, markPodHealthy, readyPods, statefulSet, watchAvailability } from '../support/workloads';

/** Repair on the sandbox cluster, with the real activities and the real dev server. */
describe('repair on the sandbox cluster', () => {
  let sandbox: SandboxWorker;
  let k: KubeClients;
  let temporal: TemporalClients;
  let taskQueue: string;
  const handles: WorkflowHandle[] = [];

  beforeAll(async () => {
    sandbox = await startSandboxWorker('repair');
    ({ k, temporal, taskQueue } = sandbox);
  });

  afterAll(async () => {
    for (const handle of handles) await handle.terminate('test done').catch(() => undefined);
    await sandbox.close();
  });

  const namespace = (prefix: string) => sandbox.namespace(prefix);

  async function startRepair(ns: string, overrides: Partial<RepairPolicy>): Promise<WorkflowHandle<typeof repairWorkflow>> {
    const policy = repairPolicy({
      intervalSeconds: 1,
      gracePeriodSeconds: 0,
      failingSweeps: 2,
      workloadLimit: { percent: 100 },
      namespaceLimit: { percent: 100 },
      ...overrides,
    });
    const handle = await temporal.client.workflow.start(repairWorkflow, {
      taskQueue,
      workflowId: repairWorkflowId(ns),
      args: [{ namespace: ns, policy }],
    });
    handles.push(handle);
    return handle;
  }

  const view = (handle: WorkflowHandle): Promise<RepairView> => handle.query(repairStateQuery);

  async function evictionEvents(ns: string) {
    const events = (await k.core.listNamespacedEvent({ namespace: ns })).items;
    return events.filter((e) => e.reason === EVICTION_EVENT_REASON);
  }

  test('6 pods, PDB maxUnavailable 1, 3 in error: never more than 1 unavailable, all 3 replaced', async () => {
    const ns = await namespace('repair-pdb');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 6) });
    await k.policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } } },
    });
    const pods = await readyPods(k.core, ns, 'web', 6, eventually);
    await eventually(async () => {
      const pdb = await k.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns });
      if (pdb.status?.disruptionsAllowed !== 1) throw new Error(JSON.stringify(pdb.status));
    });
    const availability = await watchAvailability(k.kc, ns, 'web');
    try {
      await availability.arm(6, eventually);
      const broken = pods.slice(0, 3).map((p) => ({ name: p.metadata!.name!, uid: p.metadata!.uid! }));
      for (const pod of broken) await markPodError(k.core, ns, pod.name);
      const handle = await startRepair(ns, {});

      await eventually(async () => {
        const live = await livePods(k.core, ns, 'web');
        const uids = new Set(live.map((p) => p.metadata?.uid));
        if (broken.some((b) => uids.has(b.uid))) throw new Error('broken pods not replaced yet');
        await readyPods(k.core, ns, 'web', 6, (fn) => fn());
      }, 120_000);

      expect(availability.error).toBeUndefined();
      expect(availability.minimum).toBeGreaterThanOrEqual(5);
      const state = await view(handle);
      expect(state.recentEvictions.map((e) => e.uid).sort()).toEqual(broken.map((b) => b.uid).sort());
      // Whether the budget refuses any of the three depends on how fast kwok's replacements
      // become ready (the deterministic 429 case is in repair-activities.test.ts); every
      // refusal on record must be the PDB's 429 with its message.
      for (const refusal of state.refusals) {
        expect(refusal).toMatchObject({ result: 'refused', httpStatus: 429, message: expect.stringMatching(/disruption budget/i) });
      }
      const events = await evictionEvents(ns);
      expect(events.map((e) => e.involvedObject?.uid).sort()).toEqual(broken.map((b) => b.uid).sort());
      expect(events[0]?.message).toMatch(/app/);
    } finally {
      availability.stop();
    }
  });

  test('no PDB, failing limit 1 per window: at most 1 eviction per window', async () => {
    const ns = await namespace('repair-limit');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: deployment('api', 3) });
    const pods = await readyPods(k.core, ns, 'api', 3, eventually);
    for (const pod of pods) await markPodError(k.core, ns, pod.metadata!.name!);
    const windowSeconds = 12;
    const handle = await startRepair(ns, { unprotectedPods: 'evict', workloadLimit: { count: 1 }, limitWindowSeconds: windowSeconds });

    const first = await eventually(async () => {
      const state = await view(handle);
      if (state.recentEvictions.length === 0) throw new Error('no eviction yet');
      return state;
    }, 60_000);
    expect(first.recentEvictions).toHaveLength(1);
    const firstAt = Date.parse(first.recentEvictions[0]!.at);
    // For the rest of the window the other two are held back by the limit, and nothing else is evicted.
    await eventually(async () => {
      const state = await view(handle);
      expect(state.heldBack.filter((h) => h.reason === 'workload-limit')).toHaveLength(2);
    }, 10_000);
    const untilWindowEnd = firstAt + windowSeconds * 1000 - Date.now() - 1000;
    if (untilWindowEnd > 0) await new Promise((r) => setTimeout(r, untilWindowEnd));
    expect((await view(handle)).recentEvictions).toHaveLength(1);

    const second = await eventually(async () => {
      const state = await view(handle);
      if (state.recentEvictions.length < 2) throw new Error('no second eviction yet');
      return state;
    }, 30_000);
    const secondAt = Date.parse(second.recentEvictions[1]!.at);
    expect(secondAt - firstAt).toBeGreaterThanOrEqual(windowSeconds * 1000);
    expect(second.recentEvictions).toHaveLength(2);
  });

  test('429 refusals and the failing limit together: the limit counts evicted pods only', async () => {
    const ns = await namespace('repair-429');
    // "locked": a PDB that allows no disruption, so every eviction of its pods is refused with 429.
    await k.apps.createNamespacedDeployment({ namespace: ns, body: deployment('locked', 2) });
    await k.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
    for (const [name, maxUnavailable] of [
      ['locked', 0],
      ['web', 2],
    ] as const) {
      await k.policy.createNamespacedPodDisruptionBudget({
        namespace: ns,
        body: { metadata: { name }, spec: { maxUnavailable, selector: { matchLabels: { app: name } } } },
      });
    }
    const locked = (await readyPods(k.core, ns, 'locked', 2, eventually)).map((p) => p.metadata!.uid!);
    const web = (await readyPods(k.core, ns, 'web', 2, eventually)).map((p) => p.metadata!.uid!);
    await eventually(async () => {
      const pdb = await k.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns });
      if (pdb.status?.disruptionsAllowed !== 2) throw new Error(JSON.stringify(pdb.status));
    });
    for (const app of ['locked', 'web'])
      for (const pod of await livePods(k.core, ns, app)) await markPodError(k.core, ns, pod.metadata!.name!);
    // A namespace limit of 2; the locked pods sort first (same streak, names), so they take the first plan's 2 places.
    const handle = await startRepair(ns, { namespaceLimit: { count: 2 }, limitWindowSeconds: 600 });

    const state = await eventually(async () => {
      const s = await view(handle);
      if (s.recentEvictions.length < 2) throw new Error(`evictions so far: ${s.recentEvictions.length}`);
      return s;
    }, 60_000);
    // The two places went to the web pods, in the very sweep whose plan the 429s refused:
    // before any locked pod was refused a second time.
    expect(state.recentEvictions.map((e) => e.uid).sort()).toEqual([...web].sort());
    const firstRefusals = state.refusals.filter((r) => r.attempt === 1);
    expect(firstRefusals.map((r) => r.uid).sort()).toEqual([...locked].sort());
    for (const refusal of state.refusals)
      expect(refusal).toMatchObject({ result: 'refused', httpStatus: 429, message: expect.stringMatching(/disruption budget/i) });
    const lastEviction = Math.max(...state.recentEvictions.map((e) => Date.parse(e.at)));
    for (const later of state.refusals.filter((r) => r.attempt > 1)) expect(Date.parse(later.at)).toBeGreaterThan(lastEviction);
    // And the limit holds: nothing else is evicted in the window while the locked pods keep failing.
    await new Promise((r) => setTimeout(r, 4000));
    const after = await view(handle);
    expect(after.recentEvictions).toHaveLength(2);
    expect(after.totals.evicted).toBe(2);
    // Each refusal is told on its pod.
    const events = (await k.core.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.reason === WRITE_REFUSED_EVENT_REASON);
    expect(new Set(events.map((e) => e.involvedObject.uid))).toEqual(new Set(locked));
    expect(events[0]?.message).toMatch(/repair could not evict the pod \(disruption-budget, HTTP 429\)/);
  });

  test('a pod that recovers before the threshold is not evicted', async () => {
    const ns = await namespace('repair-recover');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
    const [pod] = await readyPods(k.core, ns, 'web', 2, eventually);
    const name = pod!.metadata!.name!;
    await markPodError(k.core, ns, name);
    const handle = await startRepair(ns, { failingSweeps: 5, unprotectedPods: 'evict' });
    await eventually(async () => expect((await view(handle)).failing[0]?.failingSweeps).toBeGreaterThanOrEqual(2), 30_000);
    await markPodHealthy(k.core, ns, name);
    const sweepAtRecovery = (await view(handle)).sweep;
    await eventually(async () => expect((await view(handle)).sweep).toBeGreaterThanOrEqual(sweepAtRecovery + 6), 30_000);

    const state = await view(handle);
    expect(state.failing).toEqual([]);
    expect(state.recentEvictions).toEqual([]);
    expect((await k.core.readNamespacedPod({ namespace: ns, name })).metadata?.uid).toBe(pod!.metadata!.uid);
    expect(await evictionEvents(ns)).toEqual([]);
  });

  test('a StatefulSet pod replaced under the same name starts counting from 0', async () => {
    const ns = await namespace('repair-sts');
    await k.apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet('db', 1) });
    const [old] = await readyPods(k.core, ns, 'db', 1, eventually);
    await markPodError(k.core, ns, 'db-0');
    const handle = await startRepair(ns, { failingSweeps: 4, unprotectedPods: 'evict' });
    await eventually(async () => expect((await view(handle)).failing[0]?.failingSweeps).toBe(3), 30_000);

    // Replaced by someone else (here a plain delete) before repair got to it.
    await k.core.deleteNamespacedPod({ namespace: ns, name: 'db-0', gracePeriodSeconds: 0 });
    const [replacement] = await eventually(async () => {
      const pods = await readyPods(k.core, ns, 'db', 1, (fn) => fn());
      if (pods[0]?.metadata?.uid === old!.metadata!.uid) throw new Error('not replaced yet');
      return pods;
    }, 60_000);
    await markPodError(k.core, ns, 'db-0');
    const newUid = replacement!.metadata!.uid!;

    const first = await eventually(async () => {
      const state = await view(handle);
      const tracked = state.failing.find((f) => f.uid === newUid);
      if (!tracked) throw new Error('replacement not tracked yet');
      return tracked;
    }, 30_000);
    expect(first.failingSweeps).toBeLessThanOrEqual(2);
    // It is evicted only after its own 4 sweeps.
    const state = await eventually(async () => {
      const s = await view(handle);
      if (s.recentEvictions.length === 0) throw new Error('not evicted yet');
      return s;
    }, 60_000);
    expect(state.recentEvictions).toEqual([
      expect.objectContaining({ uid: newUid, name: 'db-0', failingSweeps: 4, workload: 'StatefulSet/db' }),
    ]);
  });

  test('a Temporal server restart in the middle of a cycle: repair goes on and keeps its counts', async () => {
    const stack = tierStack('integration');
    const ns = await namespace('repair-restart');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
    const [pod] = await readyPods(k.core, ns, 'web', 2, eventually);
    await markPodError(k.core, ns, pod!.metadata!.name!);
    const handle = await startRepair(ns, { failingSweeps: 6, unprotectedPods: 'evict' });
    await eventually(async () => expect((await view(handle)).failing[0]?.failingSweeps).toBeGreaterThanOrEqual(2), 30_000);
    const before = await view(handle);

    await stopComponent('temporal', stack.stateDir);
    await startStoppedComponent('temporal', { stateDir: stack.stateDir });

    const state = await eventually(async () => {
      const s = await view(handle);
      if (s.recentEvictions.length === 0) throw new Error('not evicted yet');
      return s;
    }, 90_000);
    expect(state.recentEvictions[0]).toMatchObject({
      uid: pod!.metadata!.uid,
      failingSweeps: 6,
      failingSince: before.failing[0]!.failingSince,
    });
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });

  describe('with the real worker process', () => {
    const workers: ChildProcess[] = [];
    afterAll(async () => {
      for (const w of workers) await killAndWait(w, 'SIGKILL');
    });

    test('SIGKILL between sweeps loses no counts and evicts once', async () => {
      const stack = tierStack('integration');
      const ns = await namespace('repair-crash');
      await k.apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 2) });
      const [pod] = await readyPods(k.core, ns, 'web', 2, eventually);
      const podName = pod!.metadata!.name!;
      await markPodError(k.core, ns, podName);
      const env = {
        KUBECONFIG: stack.kubeconfig!,
        TEMPORAL_ADDRESS: stack.temporalAddress,
        AUTOCRANE_TASK_QUEUE: uniqueTaskQueue('repair-crash'),
        AUTOCRANE_WATCH_NAMESPACES: ns,
        AUTOCRANE_PROBE_INTERVAL_SECONDS: '3600',
        AUTOCRANE_REPAIR_INTERVAL_SECONDS: '2',
        AUTOCRANE_REPAIR_FAILING_SWEEPS: '5',
        AUTOCRANE_REPAIR_GRACE_PERIOD_SECONDS: '0',
        AUTOCRANE_REPAIR_UNPROTECTED_PODS: 'evict',
      };
      const log = (n: number) => join(stack.stateDir, 'logs', `repair-worker-${ns}-${n}.log`);
      workers.push(spawnWorker(env, log(1)));
      const handle = temporal.client.workflow.getHandle(repairWorkflowId(ns));
      handles.push(handle);
      try {
        await eventually(async () => expect((await view(handle)).failing[0]?.failingSweeps).toBeGreaterThanOrEqual(2), 60_000);
        // Between sweeps: right after one finished, with ~2 s until the next.
        const before = await view(handle);
        await killAndWait(workers[0]!, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 3000));
        workers.push(spawnWorker(env, log(2)));

        const state = await eventually(async () => {
          const s = await view(handle);
          if (s.recentEvictions.length === 0) throw new Error('not evicted yet');
          return s;
        }, 90_000);
        // The streak that began before the crash is the one that reached the threshold.
        expect(state.recentEvictions).toEqual([
          expect.objectContaining({ uid: pod!.metadata!.uid, failingSweeps: 5, failingSince: before.failing[0]!.failingSince }),
        ]);
        // A few more sweeps later: still one eviction, one Event, and one replacement pod.
        const sweepNow = state.sweep;
        await eventually(async () => expect((await view(handle)).sweep).toBeGreaterThanOrEqual(sweepNow + 2), 30_000);
        expect((await view(handle)).totals.evicted).toBe(1);
        expect(await evictionEvents(ns)).toHaveLength(1);
        const live = await readyPods(k.core, ns, 'web', 2, eventually);
        expect(live.map((p) => p.metadata?.name)).not.toContain(podName);
      } finally {
        await temporal.client.schedule
          .getHandle(probeScheduleId(ns))
          .delete()
          .catch(() => undefined);
      }
    });
  });
});

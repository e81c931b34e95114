import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { RepairPolicy, RepairView } from '../../domain/repair/repair';
import type { EvictPodsInput, EvictionOutcome, FailingPod, RepairActivities, RepairObservation } from '../../domain/repair/repair-types';
import { failingPod, repairPolicy } from '../fixtures/repair';
import { ensureRepairWorkflows } from '../../workers/repair-workflows';
import { createWorker } from '../../workers/worker-factory';
import { repairWorkflow } from '../../workflows';
import { pauseRepairUpdate, repairStateQuery, repairWorkflowId, resumeRepairUpdate } from '../../contracts/repair-messages';
import { AUTOCRANE_NAMESPACE, AUTOCRANE_STATE } from '../../contracts/search-attributes';
import { eventually } from '../support/kube';
import { recordHistory } from '../support/rollouts';
import { tierStack } from '../support/stacks';
import { temporalClients, TemporalClients, uniqueTaskQueue } from '../support/temporal';

/** Workflow tier: the repair workflow on the real dev server, its two activities stubbed. */

const policy = repairPolicy({ intervalSeconds: 1, gracePeriodSeconds: 0, namespaceLimit: { count: 10 }, unprotectedPods: 'skip' });

/** A fake namespace: the test sets which pods fail; an accepted eviction removes the pod. */
class FakeNamespace {
  failing: FailingPod[] = [];
  sweeps = 0;
  evictCalls: EvictPodsInput[] = [];
  /** The sweep (listFailingPods call) each evictPods call came in. */
  evictSweeps: number[] = [];
  listError: string | null = null;
  /** Pods whose eviction a PDB refuses (429). */
  refused = new Set<string>();

  activities(namespace: string): RepairActivities {
    return {
      listFailingPods: async (ns: string): Promise<RepairObservation> => {
        expect(ns).toBe(namespace);
        if (this.listError) throw new Error(this.listError);
        this.sweeps += 1;
        return { namespace: ns, podCount: 20, failing: [...this.failing], observedAt: new Date().toISOString() };
      },
      evictPods: async (input: EvictPodsInput): Promise<EvictionOutcome[]> => {
        this.evictCalls.push(input);
        this.evictSweeps.push(this.sweeps);
        const evicted = new Set(input.evictions.filter((e) => !this.refused.has(e.name)).map((e) => e.uid));
        this.failing = this.failing.filter((p) => !evicted.has(p.uid));
        return input.evictions.map((e) =>
          evicted.has(e.uid)
            ? { uid: e.uid, name: e.name, result: 'evicted', httpStatus: 201, message: 'evicted', at: new Date().toISOString() }
            : {
                uid: e.uid,
                name: e.name,
                result: 'refused',
                httpStatus: 429,
                message: "Cannot evict pod as it would violate the pod's disruption budget.",
                at: new Date().toISOString(),
              },
        );
      },
    };
  }

  get evicted(): string[] {
    return this.evictCalls.flatMap((c) => c.evictions.map((e) => e.name));
  }
}

describe('repairWorkflow', () => {
  let temporal: TemporalClients;
  let worker: Worker;
  let running: Promise<void>;
  const fakes = new Map<string, FakeNamespace>();
  const taskQueue = uniqueTaskQueue('wf-repair');

  beforeAll(async () => {
    temporal = await temporalClients(tierStack('workflow'));
    // One worker for the file; activities dispatch to the fake of the namespace asked for.
    const dispatch: RepairActivities = {
      listFailingPods: (ns) => (fakes.get(ns) as FakeNamespace).activities(ns).listFailingPods(ns),
      evictPods: (input) => (fakes.get(input.namespace) as FakeNamespace).activities(input.namespace).evictPods(input),
    };
    worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: tierStack('workflow').temporalNamespace,
      taskQueue,
      activities: dispatch,
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker.shutdown();
    await running;
    await temporal.close();
  });

  let counter = 0;
  async function start(fake: FakeNamespace, extra: { sweepsPerRun?: number; policy?: Partial<RepairPolicy> } = {}) {
    const namespace = `ns-${taskQueue}-${++counter}`;
    fakes.set(namespace, fake);
    const handle = await temporal.client.workflow.start(repairWorkflow, {
      taskQueue,
      workflowId: repairWorkflowId(namespace),
      args: [{ namespace, policy: { ...policy, ...extra.policy }, ...(extra.sweepsPerRun ? { sweepsPerRun: extra.sweepsPerRun } : {}) }],
    });
    return { namespace, handle };
  }

  const stop = (handle: WorkflowHandle) => handle.terminate('test done');
  const query = (handle: WorkflowHandle): Promise<RepairView> => handle.query(repairStateQuery);

  test('evicts a pod after 3 failing sweeps, once, and shows it all in the query', async () => {
    const fake = new FakeNamespace();
    fake.failing = [failingPod('web-1')];
    const { namespace, handle } = await start(fake);
    try {
      await eventually(async () => expect((await query(handle)).recentEvictions).toHaveLength(1), 20_000);
      const view = await query(handle);
      expect(view.recentEvictions[0]).toMatchObject({ name: 'web-1', workload: 'Deployment/web', failingSweeps: 3, watchdogs: ['http'] });
      expect(view.totals.evicted).toBe(1);
      expect(view.policy.workloadLimit).toBe('10');
      expect(fake.evicted).toEqual(['web-1']);
      expect(fake.evictCalls[0]).toMatchObject({ namespace, gracePeriodSeconds: 0 });

      const described = await handle.describe();
      expect(described.typedSearchAttributes.get(AUTOCRANE_NAMESPACE)).toBe(namespace);
      expect(described.typedSearchAttributes.get(AUTOCRANE_STATE)).toBe('Repairing');
      expect(String(described.memo?.summary)).toContain('evict after 3 failing sweeps');
    } finally {
      await stop(handle);
    }
  });

  test('pause holds evictions back (counting goes on) until resume; a bad reason is refused', async () => {
    const fake = new FakeNamespace();
    fake.failing = [failingPod('web-2')];
    const { handle } = await start(fake);
    try {
      const paused = await handle.executeUpdate(pauseRepairUpdate, { args: [{ reason: 'incident 42' }] });
      expect(paused).toMatchObject({ paused: true, pauseReason: 'incident 42' });
      await expect(handle.executeUpdate(pauseRepairUpdate, { args: [{ reason: 'x'.repeat(300) }] })).rejects.toBeInstanceOf(
        WorkflowUpdateFailedError,
      );

      await eventually(async () => {
        const view = await query(handle);
        expect(view.failing[0]?.failingSweeps).toBeGreaterThanOrEqual(4);
        expect(view.heldBack).toEqual([
          expect.objectContaining({ name: 'web-2', reason: 'paused', detail: 'repair is paused: incident 42' }),
        ]);
      }, 20_000);
      expect(fake.evicted).toEqual([]);
      expect((await handle.describe()).typedSearchAttributes.get(AUTOCRANE_STATE)).toBe('Paused');

      const resumed = await handle.executeUpdate(resumeRepairUpdate);
      expect(resumed.paused).toBe(false);
      await eventually(async () => expect(fake.evicted).toEqual(['web-2']), 10_000);
    } finally {
      await stop(handle);
    }
  });

  test('continue-as-new carries counts and the eviction record into the next run', async () => {
    const fake = new FakeNamespace();
    fake.failing = [failingPod('web-3')];
    const { handle } = await start(fake, { sweepsPerRun: 2 });
    const firstRun = (await handle.describe()).runId;
    try {
      await eventually(async () => expect(fake.evicted).toEqual(['web-3']), 20_000);
      // Evicted at the 3rd sweep, which is in the second run: the count crossed the run boundary.
      const view = await query(handle);
      expect(view.recentEvictions[0]?.failingSweeps).toBe(3);
      expect((await handle.describe()).runId).not.toBe(firstRun);
      // More runs later, the record is still there and nothing was evicted twice.
      await eventually(async () => expect((await query(handle)).sweep).toBeGreaterThanOrEqual(6), 20_000);
      expect((await query(handle)).recentEvictions.map((e) => e.name)).toEqual(['web-3']);
      expect(fake.evicted).toEqual(['web-3']);
    } finally {
      await stop(handle);
    }
  });

  test('a sweep that cannot list the pods is recorded, keeps the counts and does not stop repair', async () => {
    const fake = new FakeNamespace();
    fake.failing = [failingPod('web-4')];
    const { handle } = await start(fake, { policy: { failingSweeps: 4 } });
    try {
      await eventually(async () => expect((await query(handle)).failing[0]?.failingSweeps).toBe(2), 20_000);
      fake.listError = 'connect ECONNREFUSED 127.0.0.1:6443';
      await eventually(async () => expect((await query(handle)).lastError).toContain('ECONNREFUSED'), 30_000);
      expect((await query(handle)).failing[0]?.failingSweeps).toBeLessThanOrEqual(3);
      fake.listError = null;
      await eventually(async () => expect(fake.evicted).toEqual(['web-4']), 20_000);
      expect((await query(handle)).lastError).toBeNull();
    } finally {
      await stop(handle);
    }
  });

  test('a refused eviction gives its place in the failing limit to the next pod in the same sweep', async () => {
    const fake = new FakeNamespace();
    fake.failing = [failingPod('web-6'), failingPod('web-7')];
    fake.refused.add('web-6');
    const { handle } = await start(fake, { policy: { namespaceLimit: { count: 1 } } });
    try {
      await eventually(async () => expect(fake.evicted).toEqual(['web-6', 'web-7']), 20_000);
      // Both evictions were asked in one sweep: the second plan came after the refusal.
      expect(new Set(fake.evictSweeps.slice(0, 2)).size).toBe(1);
      expect((await query(handle)).recentEvictions.map((e) => e.name)).toEqual(['web-7']);
    } finally {
      await stop(handle);
      await recordHistory(handle, 'repair-replan-after-refusal');
    }
  });

  test('the worker-start helper is idempotent and applies a changed policy without losing state', async () => {
    const fake = new FakeNamespace();
    fake.failing = [failingPod('web-5')];
    const namespace = `ns-${taskQueue}-ensure`;
    fakes.set(namespace, fake);
    const slow = { ...policy, failingSweeps: 50 };
    const [id] = await ensureRepairWorkflows(temporal.client, { namespaces: [namespace], policy: slow, taskQueue });
    const handle = temporal.client.workflow.getHandle(id as string);
    try {
      await eventually(async () => expect((await query(handle)).failing[0]?.failingSweeps).toBeGreaterThanOrEqual(2), 20_000);
      const runId = (await handle.describe()).runId;
      await ensureRepairWorkflows(temporal.client, { namespaces: [namespace], policy: { ...policy, failingSweeps: 3 }, taskQueue });
      expect((await handle.describe()).runId).toBe(runId);
      await eventually(async () => expect(fake.evicted).toEqual(['web-5']), 10_000);
      expect((await query(handle)).policy.failingSweeps).toBe(3);
    } finally {
      await stop(handle);
    }
  });
});

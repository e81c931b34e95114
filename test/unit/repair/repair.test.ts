import {
  backoffSweeps,
  countHeldBack,
  initialRepairState,
  parseFailingLimit,
  planRepair,
  recordOutcomes,
  recordSweep,
  recordSweepError,
  repairView,
  resolveFailingLimit,
  RECENT_RECORDS,
  type RepairState,
} from '../../../domain/repair/repair';
import type { EvictionOutcome, FailingPod, RepairObservation } from '../../../domain/repair/repair-types';
import { failingPod, FIXED_TIME, repairPolicy } from '../../fixtures/repair';

const policy = repairPolicy();

const at = (second: number) => new Date(Date.parse(FIXED_TIME) + second * 1000).toISOString();
const pod = failingPod;

const observe = (second: number, failing: FailingPod[], podCount = 100): RepairObservation => ({
  namespace: 'ns',
  podCount,
  failing,
  observedAt: at(second),
});

/** Runs sweeps of the same failing pods at 60 s intervals, starting at `from`. */
function sweeps(state: RepairState, n: number, failing: FailingPod[], from = 0): RepairState {
  let s = state;
  for (let i = 0; i < n; i++) s = recordSweep(s, observe(from + i * 60, failing));
  return s;
}

const outcome = (
  p: FailingPod,
  result: EvictionOutcome['result'],
  second: number,
  extra: Partial<EvictionOutcome> = {},
): EvictionOutcome => ({
  uid: p.uid,
  name: p.name,
  result,
  message: result,
  at: at(second),
  ...extra,
});

describe('parseFailingLimit', () => {
  it.each([
    ['0', { count: 0 }],
    ['3', { count: 3 }],
    [' 12 ', { count: 12 }],
    ['0%', { percent: 0 }],
    ['25%', { percent: 25 }],
    ['100%', { percent: 100 }],
  ])('%j → %j', (text, limit) => expect(parseFailingLimit(text)).toEqual(limit));

  it.each(['', '-1', '1.5', '101%', '25 %', 'ten', '%', '1234567'])('%j is refused with a message naming it', (text) => {
    const result = parseFailingLimit(text);
    expect(typeof result).toBe('string');
    expect(result).toContain(`'${text}'`);
  });
});

describe('resolveFailingLimit', () => {
  it.each([
    [{ count: 2 }, 10, 2],
    [{ count: 2 }, 0, 2],
    [{ count: 0 }, 10, 0],
    [{ percent: 25 }, 6, 2], // 1.5 rounds up
    [{ percent: 25 }, 8, 2],
    [{ percent: 10 }, 3, 1], // at least 1
    [{ percent: 100 }, 7, 7],
    [{ percent: 0 }, 10, 0],
    [{ percent: 50 }, 0, 0],
  ] as const)('%j of %d pods allows %d', (limit, total, allowed) => expect(resolveFailingLimit(limit, total)).toBe(allowed));
});

describe('backoffSweeps', () => {
  it('doubles from 1 sweep and caps at 8', () => {
    expect([1, 2, 3, 4, 5, 9].map(backoffSweeps)).toEqual([1, 2, 4, 8, 8, 8]);
  });
});

describe('recordSweep', () => {
  it('counts consecutive failing sweeps per UID and keeps the start of the streak', () => {
    const a = pod('a');
    const s = sweeps(initialRepairState('ns'), 3, [a]);
    expect(s.sweep).toBe(3);
    expect(s.tracked['uid-a']).toMatchObject({ failingSweeps: 3, failingSince: at(0) });
    expect(s.lastSweepAt).toBe(at(120));
  });

  it('forgets a pod that is not failing in a sweep: it starts again from 0', () => {
    const a = pod('a');
    let s = sweeps(initialRepairState('ns'), 2, [a]);
    s = recordSweep(s, observe(120, []));
    expect(s.tracked).toEqual({});
    s = recordSweep(s, observe(180, [a]));
    expect(s.tracked['uid-a']).toMatchObject({ failingSweeps: 1, failingSince: at(180) });
  });

  it('tracks by UID: a replacement under the same name starts from 1', () => {
    const old = pod('db-0');
    const replacement = pod('db-0', { uid: 'uid-db-0-new' });
    let s = sweeps(initialRepairState('ns'), 2, [old]);
    s = recordSweep(s, observe(120, [replacement]));
    expect(Object.keys(s.tracked)).toEqual(['uid-db-0-new']);
    expect(s.tracked['uid-db-0-new']?.failingSweeps).toBe(1);
  });

  it('updates the watchdogs seen and clears the last error', () => {
    const a = pod('a');
    let s = recordSweep(initialRepairState('ns'), observe(0, [a]));
    s = recordSweepError(s, 'apiserver down', at(30));
    expect(s.lastError).toBe(`${at(30)}: apiserver down`);
    const changed = pod('a', { errorWatchdogs: [{ name: 'disk', since: at(50), message: 'full' }] });
    s = recordSweep(s, observe(60, [changed]));
    expect(s.lastError).toBeNull();
    expect(s.tracked['uid-a']?.watchdogs).toEqual(changed.errorWatchdogs);
  });

  it('a sweep error keeps the counts where they were', () => {
    const s = sweeps(initialRepairState('ns'), 2, [pod('a')]);
    const after = recordSweepError(s, 'x', at(999));
    expect(after.tracked).toEqual(s.tracked);
    expect(after.sweep).toBe(2);
  });
});

describe('planRepair', () => {
  it('evicts nothing before the threshold, then the pod at the threshold', () => {
    const a = pod('a');
    const s2 = sweeps(initialRepairState('ns'), 2, [a]);
    expect(planRepair(s2, observe(60, [a]), policy)).toEqual({ evictions: [], heldBack: [] });
    const s3 = sweeps(initialRepairState('ns'), 3, [a]);
    const plan = planRepair(s3, observe(120, [a]), policy);
    expect(plan.evictions).toEqual([
      { uid: 'uid-a', name: 'a', workload: a.workload, watchdogs: a.errorWatchdogs, failingSweeps: 3, failingSince: at(0) },
    ]);
    expect(plan.heldBack).toEqual([]);
  });

  it('honours a threshold of 1', () => {
    const a = pod('a');
    const s = sweeps(initialRepairState('ns'), 1, [a]);
    expect(planRepair(s, observe(0, [a]), { ...policy, failingSweeps: 1 }).evictions).toHaveLength(1);
  });

  it.each([
    ['no-controller', pod('bare', { workload: null }), policy, 'nothing would replace it'],
    [
      'rollout',
      pod('a', { rolloutId: 'rollout/ns/Deployment/web/abc' }),
      policy,
      'rollout rollout/ns/Deployment/web/abc is changing Deployment/web',
    ],
    ['no-pdb', pod('a', { pdbs: [] }), { ...policy, unprotectedPods: 'skip' as const }, 'no PodDisruptionBudget covers the pod'],
  ])('holds back for %s', (reason, p, pol, detail) => {
    const s = sweeps(initialRepairState('ns'), 3, [p]);
    const plan = planRepair(s, observe(120, [p]), pol);
    expect(plan.evictions).toEqual([]);
    expect(plan.heldBack).toEqual([expect.objectContaining({ uid: p.uid, reason })]);
    expect(plan.heldBack[0]?.detail).toContain(detail);
  });

  it('evicts a pod no PDB covers when the policy says evict', () => {
    const p = pod('a', { pdbs: [] });
    const s = sweeps(initialRepairState('ns'), 3, [p]);
    expect(planRepair(s, observe(120, [p]), { ...policy, unprotectedPods: 'evict' }).evictions).toHaveLength(1);
  });

  it('holds everything back while paused, with the reason given', () => {
    const p = pod('a');
    const s = { ...sweeps(initialRepairState('ns'), 3, [p]), paused: true, pauseReason: 'incident 42' };
    const plan = planRepair(s, observe(120, [p]), policy);
    expect(plan.evictions).toEqual([]);
    expect(plan.heldBack).toEqual([expect.objectContaining({ reason: 'paused', detail: 'repair is paused: incident 42' })]);
  });

  it('limits evictions per workload within one sweep, longest failing first', () => {
    const older = pod('z-old');
    const newer = [pod('a'), pod('b')];
    let s = sweeps(initialRepairState('ns'), 2, [older]);
    s = sweeps(s, 3, [older, ...newer], 120);
    const plan = planRepair(s, observe(240, [older, ...newer]), { ...policy, workloadLimit: { count: 2 } });
    expect(plan.evictions.map((e) => e.name)).toEqual(['z-old', 'a']);
    expect(plan.heldBack).toEqual([expect.objectContaining({ name: 'b', reason: 'workload-limit', workload: 'Deployment/web' })]);
    expect(plan.heldBack[0]?.detail).toContain('limit 2 of 6 replicas');
  });

  it('a percentage workload limit is taken of the workload replicas', () => {
    const pods = ['a', 'b', 'c'].map((n) => pod(n, { workloadReplicas: 4 }));
    const s = sweeps(initialRepairState('ns'), 3, pods);
    const plan = planRepair(s, observe(120, pods), { ...policy, workloadLimit: { percent: 25 } });
    expect(plan.evictions.map((e) => e.name)).toEqual(['a']);
    expect(plan.heldBack.map((h) => h.reason)).toEqual(['workload-limit', 'workload-limit']);
  });

  it('counts each workload separately', () => {
    const pods = [pod('a'), pod('b', { workload: { kind: 'StatefulSet', name: 'db' } })];
    const s = sweeps(initialRepairState('ns'), 3, pods);
    const plan = planRepair(s, observe(120, pods), { ...policy, workloadLimit: { count: 1 } });
    expect(plan.evictions.map((e) => e.name)).toEqual(['a', 'b']);
  });

  it('limits evictions per namespace across workloads, even with no PDB at all', () => {
    const pods = [pod('a', { pdbs: [] }), pod('b', { pdbs: [], workload: { kind: 'StatefulSet', name: 'db' } })];
    const s = sweeps(initialRepairState('ns'), 3, pods);
    const plan = planRepair(s, observe(120, pods, 10), { ...policy, namespaceLimit: { percent: 10 } });
    expect(plan.evictions.map((e) => e.name)).toEqual(['a']);
    expect(plan.heldBack).toEqual([expect.objectContaining({ name: 'b', reason: 'namespace-limit' })]);
    expect(plan.heldBack[0]?.detail).toContain('limit 10% of 10 pods');
  });

  it('counts evictions of earlier sweeps within the window, and forgets them after it', () => {
    const a = pod('a');
    const b = pod('b');
    const limited = { ...policy, workloadLimit: { count: 1 }, limitWindowSeconds: 300 };
    let s = sweeps(initialRepairState('ns'), 3, [a, b]);
    const plan = planRepair(s, observe(120, [a, b]), limited);
    expect(plan.evictions.map((e) => e.name)).toEqual(['a']);
    s = recordOutcomes(s, plan, [outcome(a, 'evicted', 121)], limited, at(121));
    expect(s.evictions).toEqual([expect.objectContaining({ name: 'a', workload: 'Deployment/web', at: at(121), watchdogs: ['http'] })]);

    // Within the window (next sweep at 180 s, eviction at 121 s): held back.
    s = recordSweep(s, observe(180, [b]));
    expect(planRepair(s, observe(180, [b]), limited).heldBack).toEqual([expect.objectContaining({ name: 'b', reason: 'workload-limit' })]);
    // 300 s after the eviction: allowed again.
    s = recordSweep(s, observe(421, [b]));
    expect(planRepair(s, observe(421, [b]), limited).evictions.map((e) => e.name)).toEqual(['b']);
  });

  it('a limit of 0 never evicts', () => {
    const a = pod('a');
    const s = sweeps(initialRepairState('ns'), 3, [a]);
    expect(planRepair(s, observe(120, [a]), { ...policy, workloadLimit: { count: 0 } }).evictions).toEqual([]);
  });

  it('ignores tracked pods absent from the observation', () => {
    const a = pod('a');
    const s = sweeps(initialRepairState('ns'), 3, [a]);
    expect(planRepair(s, observe(120, []), policy)).toEqual({ evictions: [], heldBack: [] });
  });
});

describe('recordOutcomes', () => {
  const a = pod('a');
  const ready = () => sweeps(initialRepairState('ns'), 3, [a]);

  it('an evicted pod is recorded and no longer tracked', () => {
    const s = ready();
    const plan = planRepair(s, observe(120, [a]), policy);
    const after = recordOutcomes(s, plan, [outcome(a, 'evicted', 121)], policy, at(121));
    expect(after.tracked).toEqual({});
    expect(after.totals).toMatchObject({ evicted: 1, sweeps: 3 });
    expect(after.evictions[0]).toMatchObject({ uid: 'uid-a', failingSweeps: 3, failingSince: at(0) });
  });

  it('a gone pod (404) ends the work without an eviction record', () => {
    const s = ready();
    const plan = planRepair(s, observe(120, [a]), policy);
    const after = recordOutcomes(s, plan, [outcome(a, 'gone', 121)], policy, at(121));
    expect(after.tracked).toEqual({});
    expect(after.evictions).toEqual([]);
    expect(after.totals.gone).toBe(1);
  });

  it.each(['refused', 'failed'] as const)('a %s eviction keeps the pod queued with exponential backoff in sweeps', (result) => {
    let s = ready();
    let plan = planRepair(s, observe(120, [a]), policy);
    s = recordOutcomes(
      s,
      plan,
      [outcome(a, result, 121, { httpStatus: 429, message: "Cannot evict pod as it would violate the pod's disruption budget." })],
      policy,
      at(121),
    );
    expect(s.tracked['uid-a']).toMatchObject({ attempts: 1, retryAtSweep: 4 });
    expect(s.refusals).toEqual([
      expect.objectContaining({
        uid: 'uid-a',
        result,
        httpStatus: 429,
        attempt: 1,
        retryAtSweep: 4,
        message: expect.stringContaining('disruption budget'),
      }),
    ]);
    expect(s.totals[result]).toBe(1);

    // Sweep 4: tried again; refused again → wait 2 sweeps (until sweep 6).
    s = recordSweep(s, observe(180, [a]));
    plan = planRepair(s, observe(180, [a]), policy);
    expect(plan.evictions).toHaveLength(1);
    s = recordOutcomes(s, plan, [outcome(a, result, 181)], policy, at(181));
    expect(s.tracked['uid-a']).toMatchObject({ attempts: 2, retryAtSweep: 6 });

    // Sweep 5: backing off, held with the reason.
    s = recordSweep(s, observe(240, [a]));
    plan = planRepair(s, observe(240, [a]), policy);
    expect(plan.evictions).toEqual([]);
    expect(plan.heldBack).toEqual([expect.objectContaining({ reason: 'backoff', detail: expect.stringContaining('sweep 6') })]);

    // Sweep 6: tried again.
    s = recordSweep(s, observe(300, [a]));
    expect(planRepair(s, observe(300, [a]), policy).evictions).toHaveLength(1);
  });

  it('keeps the last RECENT_RECORDS refusals', () => {
    let s = ready();
    const plan = planRepair(s, observe(120, [a]), policy);
    for (let i = 0; i < RECENT_RECORDS + 5; i++) s = recordOutcomes(s, plan, [outcome(a, 'failed', 121 + i)], policy, at(121 + i));
    expect(s.refusals).toHaveLength(RECENT_RECORDS);
    expect(s.refusals.at(-1)?.at).toBe(at(121 + RECENT_RECORDS + 4));
  });

  it('keeps evictions inside the window, and only the most recent beyond it', () => {
    const many = Array.from({ length: RECENT_RECORDS + 10 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`));
    let s = sweeps(initialRepairState('ns'), 3, many);
    const plan = planRepair(s, observe(120, many), { ...policy, workloadLimit: { count: 1000 } });
    s = recordOutcomes(
      s,
      plan,
      many.map((p) => outcome(p, 'evicted', 121)),
      policy,
      at(121),
    );
    // All within the window: all kept, since the limit counts them.
    expect(s.evictions).toHaveLength(RECENT_RECORDS + 10);
    // Long after: only the most recent are kept for the record.
    s = recordOutcomes(s, { evictions: [], heldBack: [] }, [], policy, at(121 + 10_000));
    expect(s.evictions).toHaveLength(RECENT_RECORDS);
  });

  it('ignores outcomes for pods that were not in the plan', () => {
    const s = ready();
    const after = recordOutcomes(s, { evictions: [], heldBack: [] }, [outcome(a, 'evicted', 121)], policy, at(121));
    expect(after.tracked).toEqual(s.tracked);
    expect(after.totals.evicted).toBe(0);
  });

  it('stores the plan’s held-back pods as the last sweep’s', () => {
    const s = { ...ready(), paused: true };
    const plan = planRepair(s, observe(120, [a]), policy);
    expect(recordOutcomes(s, plan, [], policy, at(120)).heldBack).toEqual(plan.heldBack);
  });
});

describe('countHeldBack and repairView', () => {
  it('counts held-back pods by reason', () => {
    const held = [
      { uid: '1', name: 'a', workload: null, reason: 'no-pdb' as const, detail: '' },
      { uid: '2', name: 'b', workload: null, reason: 'no-pdb' as const, detail: '' },
      { uid: '3', name: 'c', workload: null, reason: 'backoff' as const, detail: '' },
    ];
    expect(countHeldBack(held)).toEqual({ 'no-pdb': 2, backoff: 1 });
  });

  it('shows the policy limits as text and failing pods longest first', () => {
    let s = sweeps(initialRepairState('ns'), 2, [pod('b')]);
    s = recordSweep(s, observe(120, [pod('b'), pod('a')]));
    const view = repairView(s, { ...policy, workloadLimit: { percent: 25 } });
    expect(view.policy.workloadLimit).toBe('25%');
    expect(view.policy.namespaceLimit).toBe('100');
    expect(view.failing.map((f) => [f.name, f.failingSweeps])).toEqual([
      ['b', 3],
      ['a', 1],
    ]);
  });
});

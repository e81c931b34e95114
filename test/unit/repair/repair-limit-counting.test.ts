import {
  initialRepairState,
  limitPlacesUnused,
  planRepair,
  recordOutcomes,
  recordSweep,
  type RepairPolicy,
} from '../../../domain/repair/repair';
import type { EvictionOutcome, EvictionResult, FailingPod, RepairObservation } from '../../../domain/repair/repair-types';
import { failingPod, FIXED_TIME, repairPolicy } from '../../fixtures/repair';

// The failing limit counts pods evicted: a refused eviction (a PDB's 429) or a pod already gone
// uses none of it, in the sweep it happened in or later; a failed one (its outcome unknown) keeps
// its place in its own sweep.

const at = (second: number) => new Date(Date.parse(FIXED_TIME) + second * 1000).toISOString();
const observe = (second: number, failing: FailingPod[]): RepairObservation => ({
  namespace: 'ns',
  podCount: 100,
  failing,
  observedAt: at(second),
});
const pods = ['a', 'b', 'c', 'd'].map((name) => failingPod(name));
const outcome = (p: FailingPod, result: EvictionResult): EvictionOutcome => ({
  uid: p.uid,
  name: p.name,
  result,
  ...(result === 'refused' && { httpStatus: 429 }),
  message: result === 'refused' ? "Cannot evict pod as it would violate the pod's disruption budget." : result,
  at: at(121),
});

/**
 * Three failing sweeps of pods a–d, then the sweep's plans: each plan's evictions get the
 * given results in turn (a → first planned pod, …), re-planning while limitPlacesUnused says so,
 * as the workflow does. Returns each plan's evicted names and the last plan's holds.
 */
function sweep(policy: Partial<RepairPolicy>, results: EvictionResult[][]) {
  const full = repairPolicy({ failingSweeps: 3, ...policy });
  let state = initialRepairState('ns');
  for (let i = 0; i < 3; i++) state = recordSweep(state, observe(i * 60, pods));
  const observation = observe(120, pods);
  const plans: string[][] = [];
  let plan = planRepair(state, observation, full);
  for (let round = 0; ; round++) {
    plans.push(plan.evictions.map((e) => e.name));
    const outcomes = plan.evictions.map((e, i) =>
      outcome(
        pods.find((p) => p.uid === e.uid)!,
        results[round]?.[i] ?? 'evicted',
      ),
    );
    state = recordOutcomes(state, plan, outcomes, full, at(121));
    if (!limitPlacesUnused(plan, outcomes)) break;
    plan = planRepair(state, observation, full);
  }
  return { plans, state, held: plan.heldBack.map((h) => `${h.name}:${h.reason}`) };
}

describe('the failing limit counts evicted pods, not refused ones', () => {
  test.each<[string, Partial<RepairPolicy>, EvictionResult[][], string[][], string[], number]>([
    [
      'all evicted: the limit of 2 holds the rest',
      { namespaceLimit: { count: 2 } },
      [['evicted', 'evicted']],
      [['a', 'b']],
      ['c:namespace-limit', 'd:namespace-limit'],
      2,
    ],
    [
      'one 429: its place goes to the next pod',
      { namespaceLimit: { count: 2 } },
      [['refused', 'evicted'], ['evicted']],
      [['a', 'b'], ['c']],
      ['a:backoff', 'd:namespace-limit'],
      2,
    ],
    [
      'two 429s: both places are given back',
      { namespaceLimit: { count: 2 } },
      [
        ['refused', 'refused'],
        ['evicted', 'evicted'],
      ],
      [
        ['a', 'b'],
        ['c', 'd'],
      ],
      ['a:backoff', 'b:backoff'],
      2,
    ],
    [
      'every pod refused: nothing evicted, nothing counted',
      { namespaceLimit: { count: 2 } },
      [
        ['refused', 'refused'],
        ['refused', 'refused'],
      ],
      [
        ['a', 'b'],
        ['c', 'd'],
      ],
      ['a:backoff', 'b:backoff'],
      0,
    ],
    [
      'the workload limit too',
      { workloadLimit: { count: 1 } },
      [['refused'], ['evicted']],
      [['a'], ['b']],
      ['a:backoff', 'c:workload-limit', 'd:workload-limit'],
      1,
    ],
    [
      'a failed eviction (timeout, 5xx: it may have happened) keeps its place: no second plan',
      { workloadLimit: { count: 1 } },
      [['failed']],
      [['a']],
      ['b:workload-limit', 'c:workload-limit', 'd:workload-limit'],
      0,
    ],
    [
      'a 429 then a failed eviction: the failed one keeps its place',
      { workloadLimit: { count: 1 } },
      [['refused'], ['failed']],
      [['a'], ['b']],
      ['a:backoff', 'c:workload-limit', 'd:workload-limit'],
      0,
    ],
    [
      'a pod already gone (404) used no place',
      { workloadLimit: { count: 1 } },
      [['gone'], ['evicted']],
      [['a'], ['b']],
      ['c:workload-limit', 'd:workload-limit'],
      1,
    ],
    [
      'no limit held anyone: no second plan',
      { namespaceLimit: { count: 10 } },
      [['refused', 'evicted', 'evicted', 'evicted']],
      [['a', 'b', 'c', 'd']],
      [],
      3,
    ],
  ])('%s', (_name, policy, results, plans, held, evicted) => {
    const outcome = sweep(policy, results);
    expect(outcome.plans).toEqual(plans);
    expect(outcome.held.sort()).toEqual(held);
    expect(outcome.state.evictions).toHaveLength(evicted);
    expect(outcome.state.totals.evicted).toBe(evicted);
  });

  test('refusals of earlier sweeps in the window count for nothing either', () => {
    const policy = repairPolicy({ failingSweeps: 1, namespaceLimit: { count: 1 } });
    const [a, b] = pods as [FailingPod, FailingPod];
    let state = recordSweep(initialRepairState('ns'), observe(0, [a, b]));
    let plan = planRepair(state, observe(0, [a, b]), policy);
    expect(plan.evictions.map((e) => e.name)).toEqual(['a']);
    state = recordOutcomes(state, plan, [outcome(a, 'refused')], policy, at(1));
    // The next sweep, in the same window: the place is still free (no eviction on record), and a (longest failing) is tried again.
    expect(state.evictions).toEqual([]);
    state = recordSweep(state, observe(60, [a, b]));
    plan = planRepair(state, observe(60, [a, b]), policy);
    expect(plan.evictions.map((e) => e.name)).toEqual(['a']);
    expect(plan.heldBack).toEqual([
      expect.objectContaining({ name: 'b', reason: 'namespace-limit', detail: expect.stringMatching(/^1 of/) }),
    ]);
  });
});

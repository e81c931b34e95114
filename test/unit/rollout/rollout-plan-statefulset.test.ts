import {
  planStatefulSetPromotion,
  planStatefulSetRollback,
  podsNotOnRevision,
  statefulSetRefusal,
  planStatefulSetStage,
  planStatefulSetStart,
  statefulSetMaxUnavailable,
  type StatefulSetRollbackState,
  type StatefulSetState,
} from '../../../domain/rollout/rollout-plan-statefulset';

describe('StatefulSet plans', () => {
  const sts = (over: Partial<StatefulSetState> = {}): StatefulSetState => ({
    strategy: 'RollingUpdate',
    total: 5,
    updated: [],
    unready: [],
    ...over,
  });

  it('starts by writing the template with a partition that updates nothing', () => {
    expect(planStatefulSetStart('RollingUpdate', 5)).toEqual([{ kind: 'setTemplate', template: 'new', partition: 5 }]);
    expect(planStatefulSetStart('OnDelete', 5)).toEqual([{ kind: 'setTemplate', template: 'new', partition: null }]);
  });

  it.each<[number, number, number[]]>([
    [5, 1, [4]],
    [5, 3, [4, 3, 2]],
    [5, 5, [4, 3, 2, 1, 0]],
    [1, 1, [0]],
    [5, 0, []],
  ])('RollingUpdate over %p: %p updated → partition and waited ordinals %j', (total, count, ordinals) => {
    expect(planStatefulSetStage(sts({ total }), count)).toEqual([
      { kind: 'setPartition', partition: total - count },
      { kind: 'waitReady', ordinals },
    ]);
  });

  it.each<[string, Partial<StatefulSetState>, number, number[][]]>([
    ['one at a time, highest first', { total: 5 }, 3, [[4], [3], [2]]],
    ['skips pods already updated', { total: 5, updated: [4] }, 3, [[3], [2]]],
    ['maxUnavailable 2', { total: 5, maxUnavailable: 2 }, 5, [[4, 3], [2, 1], [0]]],
    [
      'maxUnavailable 40% of 5 = 2',
      { total: 5, maxUnavailable: '40%' },
      4,
      [
        [4, 3],
        [2, 1],
      ],
    ],
    ['unready pods all go first, costing nothing', { total: 6, unready: [1, 4, 5] }, 6, [[5, 4, 1], [3], [2], [0]]],
    ['unready pods outside the stage stay', { total: 6, unready: [0] }, 2, [[5], [4]]],
    ['nothing to do', { total: 3, updated: [2, 1] }, 2, []],
    ['1 replica', { total: 1 }, 1, [[0]]],
  ])('OnDelete: %s', (_what, over, count, batches) => {
    const plan = planStatefulSetStage(sts({ strategy: 'OnDelete', ...over }), count);
    expect(plan).toEqual(
      batches.flatMap((ordinals) => [
        { kind: 'deletePods', ordinals },
        { kind: 'waitReady', ordinals },
      ]),
    );
  });

  it('refuses a count outside 0..total', () => {
    expect(() => planStatefulSetStage(sts(), 6)).toThrow(RangeError);
    expect(() => planStatefulSetStage(sts(), -1)).toThrow(RangeError);
  });

  it('promotes: partition 0, then the original partition back', () => {
    expect(planStatefulSetPromotion(sts({ total: 3 }), 0)).toEqual([
      { kind: 'setPartition', partition: 0 },
      { kind: 'waitReady', ordinals: [2, 1, 0] },
    ]);
    expect(planStatefulSetPromotion(sts({ total: 3 }), 2)).toEqual([
      { kind: 'setPartition', partition: 0 },
      { kind: 'waitReady', ordinals: [2, 1, 0] },
      { kind: 'setPartition', partition: 2 },
    ]);
    expect(planStatefulSetPromotion(sts({ strategy: 'OnDelete', total: 3, updated: [2] }), 0)).toEqual([
      { kind: 'deletePods', ordinals: [1] },
      { kind: 'waitReady', ordinals: [1] },
      { kind: 'deletePods', ordinals: [0] },
      { kind: 'waitReady', ordinals: [0] },
    ]);
  });

  const rollback = (over: Partial<StatefulSetRollbackState> = {}): StatefulSetRollbackState => ({ ...sts(), notRolledBack: [], ...over });

  it('rolls a RollingUpdate StatefulSet back, deleting stuck pods not yet rolled back', () => {
    expect(planStatefulSetRollback(rollback({ total: 4, notRolledBack: [3, 2], unready: [2, 0] }), 1)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: 0 },
      { kind: 'deletePods', ordinals: [2] },
      { kind: 'waitReady', ordinals: [3, 2, 1, 0] },
      { kind: 'setPartition', partition: 1 },
    ]);
    expect(planStatefulSetRollback(rollback({ total: 2, notRolledBack: [1] }), 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: 0 },
      { kind: 'waitReady', ordinals: [1, 0] },
    ]);
  });

  it('rolls an OnDelete StatefulSet back by deleting the pods not yet rolled back in batches', () => {
    expect(planStatefulSetRollback(rollback({ strategy: 'OnDelete', total: 5, notRolledBack: [2, 4, 3], unready: [3] }), 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: null },
      { kind: 'deletePods', ordinals: [3] },
      { kind: 'waitReady', ordinals: [3] },
      { kind: 'deletePods', ordinals: [4] },
      { kind: 'waitReady', ordinals: [4] },
      { kind: 'deletePods', ordinals: [2] },
      { kind: 'waitReady', ordinals: [2] },
      { kind: 'waitReady', ordinals: [4, 3, 2, 1, 0] },
    ]);
  });

  it('goes by the old revision, not by `updated`: a retry after the old template was written still replaces every pod left behind', () => {
    // The retry observes no pod as updated (the template is the old one again), yet 3 and 4
    // are not on the old revision.
    const retried = rollback({ strategy: 'OnDelete', total: 5, updated: [], notRolledBack: [4, 3] });
    expect(planStatefulSetRollback(retried, 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: null },
      { kind: 'deletePods', ordinals: [4] },
      { kind: 'waitReady', ordinals: [4] },
      { kind: 'deletePods', ordinals: [3] },
      { kind: 'waitReady', ordinals: [3] },
      { kind: 'waitReady', ordinals: [4, 3, 2, 1, 0] },
    ]);
    // RollingUpdate: the stuck pod is deleted on the retry too, so the wait can end.
    expect(planStatefulSetRollback(rollback({ total: 3, updated: [], notRolledBack: [2, 1], unready: [2] }), 2)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: 0 },
      { kind: 'deletePods', ordinals: [2] },
      { kind: 'waitReady', ordinals: [2, 1, 0] },
      { kind: 'setPartition', partition: 2 },
    ]);
    // A pod on an even older revision (an update that never finished) is brought to the old template as well.
    expect(planStatefulSetRollback(rollback({ strategy: 'OnDelete', total: 3, updated: [2], notRolledBack: [2, 0, 2] }), 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: null },
      { kind: 'deletePods', ordinals: [2] },
      { kind: 'waitReady', ordinals: [2] },
      { kind: 'deletePods', ordinals: [0] },
      { kind: 'waitReady', ordinals: [0] },
      { kind: 'waitReady', ordinals: [2, 1, 0] },
    ]);
  });

  it('without the old revision, only writes the old template (the caller then reads the revision and plans again)', () => {
    expect(planStatefulSetRollback(rollback({ strategy: 'OnDelete', updated: [4, 3], notRolledBack: null }), 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: null },
    ]);
    expect(planStatefulSetRollback(rollback({ updated: [4], unready: [4], notRolledBack: null }), 3)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: 0 },
    ]);
  });

  it('with every pod rolled back, a retry only restores the template, waits and puts the partition back', () => {
    expect(planStatefulSetRollback(rollback({ strategy: 'OnDelete', notRolledBack: [] }), 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: null },
      { kind: 'waitReady', ordinals: [4, 3, 2, 1, 0] },
    ]);
    expect(planStatefulSetRollback(rollback({ total: 2, notRolledBack: [] }), 1)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: 0 },
      { kind: 'waitReady', ordinals: [1, 0] },
      { kind: 'setPartition', partition: 1 },
    ]);
  });

  it('refuses ordinals outside 0..total−1', () => {
    expect(() => planStatefulSetRollback(rollback({ total: 3, notRolledBack: [3] }), 0)).toThrow(RangeError);
    expect(() => planStatefulSetRollback(rollback({ total: 3, notRolledBack: [-1] }), 0)).toThrow(RangeError);
  });

  it('OnDelete rollback batches never take more ready pods than maxUnavailable, and replace exactly the pods not rolled back', () => {
    for (let total = 1; total <= 12; total++) {
      for (const maxUnavailable of [undefined, 1, 2, '50%']) {
        const budget = statefulSetMaxUnavailable(maxUnavailable, total);
        for (let mask = 0; mask < 1 << Math.min(total, 6); mask++) {
          const notRolledBack = Array.from({ length: total }, (_, i) => i).filter((i) => (mask >> i) & 1);
          const unready = notRolledBack.filter((o) => o % 3 === 0);
          const plan = planStatefulSetRollback(rollback({ strategy: 'OnDelete', total, maxUnavailable, unready, notRolledBack }), 0);
          expect(plan[0]).toEqual({ kind: 'setTemplate', template: 'old', partition: null });
          const deleted: number[] = [];
          for (const action of plan) {
            if (action.kind !== 'deletePods') continue;
            expect(action.ordinals.filter((o) => !unready.includes(o)).length).toBeLessThanOrEqual(budget);
            deleted.push(...action.ordinals);
          }
          expect(deleted.sort((a, b) => a - b)).toEqual(notRolledBack);
          expect(plan.at(-1)).toEqual({ kind: 'waitReady', ordinals: Array.from({ length: total }, (_, i) => total - 1 - i) });
        }
      }
    }
  });

  it('podsNotOnRevision: the pods whose revision is not the old one, by ordinal', () => {
    const pods = [
      { ordinal: 0, revision: 'db-old' },
      { ordinal: 1, revision: 'db-new' },
      { ordinal: 2, revision: undefined },
      { ordinal: null, revision: 'db-new' },
      { ordinal: 3, revision: 'db-new' },
    ];
    expect(podsNotOnRevision(pods, 'db-old', 3)).toEqual([1, 2]);
    expect(podsNotOnRevision(pods, 'db-new', 4)).toEqual([0, 2]);
    expect(podsNotOnRevision([], 'db-old', 3)).toEqual([]);
  });

  it('statefulSetRefusal: ordinals must start at 0', () => {
    expect(statefulSetRefusal({})).toBeNull();
    expect(statefulSetRefusal({ ordinals: {} })).toBeNull();
    expect(statefulSetRefusal({ ordinals: { start: 0 } })).toBeNull();
    expect(statefulSetRefusal({ ordinals: null })).toBeNull();
    expect(statefulSetRefusal({ ordinals: { start: 1 } })).toMatch(/spec\.ordinals\.start is 1/);
  });

  it('OnDelete batches never take more ready pods than maxUnavailable', () => {
    for (let total = 1; total <= 20; total++) {
      for (const maxUnavailable of [undefined, 1, 2, '25%', '50%', '100%']) {
        const budget = statefulSetMaxUnavailable(maxUnavailable, total);
        for (let count = 0; count <= total; count++) {
          const unready = total > 2 ? [total - 1, 0] : [];
          const plan = planStatefulSetStage(sts({ strategy: 'OnDelete', total, maxUnavailable, unready }), count);
          const deleted: number[] = [];
          for (const action of plan) {
            if (action.kind !== 'deletePods') continue;
            expect(action.ordinals.filter((o) => !unready.includes(o)).length).toBeLessThanOrEqual(budget);
            deleted.push(...action.ordinals);
          }
          expect(deleted.sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => total - count + i));
        }
      }
    }
  });
});

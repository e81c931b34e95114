import {
  deploymentBudget,
  deploymentPlanEnvelope,
  planDeploymentPromotion,
  planDeploymentRollback,
  planDeploymentStage,
  planStatefulSetPromotion,
  planStatefulSetRollback,
  planStatefulSetStage,
  planStatefulSetStart,
  resolveFenceposts,
  resolveStageCounts,
  scaledValue,
  stageUpdatedCount,
  statefulSetMaxUnavailable,
  type DeploymentAction,
  type DeploymentCounts,
  type DeploymentStrategy,
  type IntOrPercent,
  type PlanEnvelope,
  type StatefulSetState,
} from '../../domain/rollout-plan';
import type { StageReplicas } from '../../domain/rollout-spec';

const scale = (workload: 'canary' | 'stable', replicas: number, wait = true): DeploymentAction => ({ kind: 'scale', workload, replicas, wait });
const rolling = (maxSurge: IntOrPercent, maxUnavailable: IntOrPercent): DeploymentStrategy => ({ type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } });

describe('int-or-percent, as Kubernetes resolves it', () => {
  it.each<[IntOrPercent, number, boolean, number]>([
    [3, 10, true, 3],
    [0, 10, false, 0],
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    ['33%', 10, true, 4],
    ['33%', 10, false, 3],
    ['0%', 10, true, 0],
    ['100%', 7, false, 7],
    ['150%', 4, true, 6],
    ['10%', 0, true, 0],
    ['1%', 1, true, 1],
    ['1%', 1, false, 0],
  ])('scaledValue(%p, %p, roundUp=%p) = %p', (value, total, roundUp, expected) => {
    expect(scaledValue(value, total, roundUp)).toBe(expected);
  });

  it.each<[IntOrPercent]>([['25'], ['25.5%'], ['%'], ['abc'], [-1], [1.5], [' 5%']])('scaledValue refuses %p', (value) => {
    expect(() => scaledValue(value, 10, true)).toThrow(RangeError);
  });

  it.each<[IntOrPercent | undefined, IntOrPercent | undefined, number, number, number]>([
    ['25%', '25%', 10, 3, 2],
    ['25%', '25%', 1, 1, 0],
    ['25%', '25%', 4, 1, 1],
    // Both round to 0: Kubernetes sets maxUnavailable to 1.
    [0, '10%', 5, 0, 1],
    ['0%', '0%', 10, 0, 1],
    ['25%', '25%', 0, 0, 1],
    [undefined, undefined, 3, 0, 1],
    [1, 0, 10, 1, 0],
    [0, 1, 10, 0, 1],
    ['10%', 0, 5, 1, 0],
    [2, '50%', 5, 2, 2],
  ])('resolveFenceposts(%p, %p, %p) = surge %p, unavailable %p', (surge, unavailable, replicas, maxSurge, maxUnavailable) => {
    expect(resolveFenceposts(surge, unavailable, replicas)).toEqual({ maxSurge, maxUnavailable });
  });

  it.each<[DeploymentStrategy | undefined, number, number, number]>([
    [undefined, 10, 3, 2],
    [{}, 10, 3, 2],
    [{ type: 'RollingUpdate' }, 8, 2, 2],
    [{ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0 } }, 8, 0, 2],
    [{ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } }, 8, 2, 0],
    [rolling(0, 1), 8, 0, 1],
    [{ type: 'Recreate' }, 8, 0, 8],
    [{ type: 'Recreate' }, 0, 0, 0],
  ])('deploymentBudget(%j, %p) = surge %p, unavailable %p', (strategy, replicas, maxSurge, maxUnavailable) => {
    expect(deploymentBudget(strategy, replicas)).toEqual({ maxSurge, maxUnavailable });
  });

  it.each<[IntOrPercent | undefined, number, number]>([
    [undefined, 5, 1],
    [2, 5, 2],
    ['10%', 5, 1],
    ['50%', 5, 2],
    ['100%', 4, 4],
    ['0%', 4, 1],
    [undefined, 0, 1],
  ])('statefulSetMaxUnavailable(%p, %p) = %p', (value, replicas, expected) => {
    expect(statefulSetMaxUnavailable(value, replicas)).toBe(expected);
  });
});

describe('stage counts', () => {
  it.each<[StageReplicas, number, number]>([
    ['1%', 1, 1],
    ['100%', 1, 1],
    [1, 1, 1],
    [5, 1, 1],
    ['10%', 10, 1],
    ['11%', 10, 2],
    ['50%', 3, 2],
    ['33%', 3, 1],
    ['34%', 3, 2],
    ['1%', 1000, 10],
    ['100%', 7, 7],
    [5, 3, 3],
    [3, 30, 3],
    ['1%', 0, 0],
    [4, 0, 0],
    ['29%', 100, 29],
  ])('stageUpdatedCount(%p, total %p) = %p', (share, total, expected) => {
    expect(stageUpdatedCount(share, total)).toBe(expected);
  });

  it.each<[StageReplicas[], number, number[]]>([
    [['10%', '50%', '100%'], 10, [1, 5, 10]],
    [['10%', '50%', '100%'], 1, [1, 1, 1]],
    [['10%', '50%'], 30, [3, 15]],
    [[5, '10%'], 10, [5, 5]],
    [[5, '10%', '80%'], 10, [5, 5, 8]],
    [[1, 2], 0, [0, 0]],
    [[50], 3, [3]],
  ])('resolveStageCounts(%j, %p) = %j', (shares, total, expected) => {
    expect(resolveStageCounts(shares.map((replicas) => ({ replicas })), total)).toEqual(expected);
  });
});

describe('planDeploymentStage', () => {
  it.each<[string, DeploymentCounts, number, number, DeploymentStrategy | undefined, DeploymentAction[]]>([
    [
      'default 25%/25% of 10: one chunk of 5, stable shrinks by 2 first',
      { canary: 0, stable: 10 },
      5,
      10,
      undefined,
      [scale('stable', 8, false), scale('canary', 5), scale('stable', 5, false)],
    ],
    ['default, a chunk within surge: canary first, then stable', { canary: 0, stable: 10 }, 3, 10, undefined, [scale('canary', 3), scale('stable', 7, false)]],
    ['1 replica, default (surge 1, unavailable 0)', { canary: 0, stable: 1 }, 1, 1, undefined, [scale('canary', 1), scale('stable', 0, false)]],
    [
      'maxSurge 0, maxUnavailable 1: one swap at a time',
      { canary: 0, stable: 4 },
      2,
      4,
      rolling(0, 1),
      [scale('stable', 3, false), scale('canary', 1), scale('stable', 2, false), scale('canary', 2)],
    ],
    [
      'maxUnavailable 0, maxSurge 1: one surge at a time',
      { canary: 1, stable: 3 },
      3,
      4,
      rolling(1, 0),
      [scale('canary', 2), scale('stable', 2, false), scale('canary', 3), scale('stable', 1, false)],
    ],
    ['maxSurge 0, maxUnavailable 10% of 5 resolves to 1', { canary: 0, stable: 5 }, 1, 5, rolling(0, '10%'), [scale('stable', 4, false), scale('canary', 1)]],
    ['Recreate: everything at once', { canary: 0, stable: 6 }, 6, 6, { type: 'Recreate' }, [scale('stable', 0, false), scale('canary', 6)]],
    ['no move', { canary: 2, stable: 2 }, 2, 4, undefined, []],
    ['0 replicas', { canary: 0, stable: 0 }, 0, 0, undefined, []],
    ['backwards (towards the stable)', { canary: 4, stable: 0 }, 1, 4, rolling(1, 0), [scale('stable', 1), scale('canary', 3, false), scale('stable', 2), scale('canary', 2, false), scale('stable', 3), scale('canary', 1, false)]],
  ])('%s', (_what, current, target, total, strategy, expected) => {
    expect(planDeploymentStage(current, target, total, strategy)).toEqual(expected);
  });

  it.each<[DeploymentCounts, number, number]>([
    [{ canary: 0, stable: 9 }, 1, 10],
    [{ canary: -1, stable: 11 }, 1, 10],
    [{ canary: 0.5, stable: 9.5 }, 1, 10],
    [{ canary: 0, stable: 10 }, 11, 10],
    [{ canary: 0, stable: 10 }, -1, 10],
    [{ canary: 0, stable: 10 }, 1.5, 10],
  ])('refuses inconsistent counts %j → %p of %p', (current, target, total) => {
    expect(() => planDeploymentStage(current, target, total, undefined)).toThrow(RangeError);
  });
});

describe('planDeploymentPromotion and planDeploymentRollback', () => {
  it('promotes: stable gets the new template, takes the canary replicas back, canary deleted', () => {
    expect(planDeploymentPromotion({ canary: 5, stable: 5 }, 10, undefined)).toEqual([
      { kind: 'setStableTemplate', template: 'new' },
      scale('canary', 3, false),
      scale('stable', 10),
      scale('canary', 0, false),
      { kind: 'deleteCanary' },
    ]);
  });

  it('promotes from 100% (stable at 0)', () => {
    expect(planDeploymentPromotion({ canary: 2, stable: 0 }, 2, rolling(1, 0))).toEqual([
      { kind: 'setStableTemplate', template: 'new' },
      scale('stable', 1),
      scale('canary', 1, false),
      scale('stable', 2),
      scale('canary', 0, false),
      { kind: 'deleteCanary' },
    ]);
  });

  it('rolls back a healthy-looking canary within the budget', () => {
    expect(planDeploymentRollback({ canary: 3, stable: 7, canaryReady: 3, stableOnNewTemplate: false }, 10, undefined)).toEqual([
      scale('stable', 10),
      scale('canary', 0, false),
      { kind: 'deleteCanary' },
    ]);
  });

  it('removes unready canary pods first and gives their replicas back to the stable', () => {
    expect(planDeploymentRollback({ canary: 4, stable: 6, canaryReady: 1, stableOnNewTemplate: false }, 10, rolling(1, 0))).toEqual([
      scale('canary', 1, false),
      scale('stable', 9),
      scale('stable', 10),
      scale('canary', 0, false),
      { kind: 'deleteCanary' },
    ]);
  });

  it('restores the stable template when a promotion had changed it', () => {
    expect(planDeploymentRollback({ canary: 2, stable: 8, canaryReady: 2, stableOnNewTemplate: true }, 10, undefined)).toEqual([
      { kind: 'setStableTemplate', template: 'old' },
      scale('stable', 10),
      scale('canary', 0, false),
      { kind: 'deleteCanary' },
    ]);
  });

  it('rolls back before any canary pod exists', () => {
    expect(planDeploymentRollback({ canary: 0, stable: 5, canaryReady: 0, stableOnNewTemplate: false }, 5, undefined)).toEqual([{ kind: 'deleteCanary' }]);
  });

  it('refuses canaryReady outside 0..canary', () => {
    expect(() => planDeploymentRollback({ canary: 2, stable: 3, canaryReady: 3, stableOnNewTemplate: false }, 5, undefined)).toThrow(RangeError);
  });
});

describe('Deployment plans keep the bound, exhaustively', () => {
  const strategies: (DeploymentStrategy | undefined)[] = [
    undefined,
    rolling(1, 0),
    rolling(0, 1),
    rolling(0, '10%'),
    rolling('10%', 0),
    rolling('50%', '0%'),
    rolling(3, '40%'),
    rolling('100%', '100%'),
    rolling(0, '100%'),
    rolling('30%', '20%'),
    { type: 'Recreate' },
  ];
  const stageLists: StageReplicas[][] = [['10%', '50%', '100%'], [1], ['1%', '2%', 3, '99%'], ['100%'], [2, '34%', '67%']];

  // Every (strategy, total, stages) case: play the stages, the promotion, and a rollback from
  // every point (with all, one fewer and no canary pods ready, before and after the promotion
  // changed the stable template).
  const cases = strategies.flatMap((strategy) => Array.from({ length: 26 }, (_, total) => ({ strategy, total, label: JSON.stringify(strategy ?? 'default') })));

  it.each(cases)('$label over $total replicas', ({ strategy, total }) => {
    const { maxSurge, maxUnavailable } = deploymentBudget(strategy, total);
    const floor = total - maxUnavailable;
    const ceiling = total + maxSurge;
    // Collected rather than asserted one by one: thousands of plans per case.
    const violations: string[] = [];
    // Only growth is waited for: a scale-down goes on at once, a scale-up waits for its pods.
    const checkWaits = (what: string, plan: readonly DeploymentAction[], start: DeploymentCounts) => {
      const played = { ...start };
      for (const action of plan) {
        if (action.kind !== 'scale') continue;
        if (action.wait !== action.replicas > played[action.workload]) violations.push(`${what}: ${JSON.stringify(action)} from ${played[action.workload]}`);
        played[action.workload] = action.replicas;
      }
    };
    const check = (what: string, envelope: PlanEnvelope, minReady: number, end: DeploymentCounts) => {
      if (envelope.minReady < minReady) violations.push(`${what}: ${envelope.minReady} ready < ${minReady}`);
      if (envelope.maxPods > ceiling) violations.push(`${what}: ${envelope.maxPods} pods > ${ceiling}`);
      if (envelope.end.canary !== end.canary || envelope.end.stable !== end.stable) violations.push(`${what}: ends at ${JSON.stringify(envelope.end)}`);
    };
    const checkRollback = (counts: DeploymentCounts, stableOnNewTemplate: boolean) => {
      for (const canaryReady of new Set([counts.canary, Math.max(0, counts.canary - 1), 0])) {
        const plan = planDeploymentRollback({ ...counts, canaryReady, stableOnNewTemplate }, total, strategy);
        checkWaits(`rollback from ${JSON.stringify(counts)}`, plan, counts);
        const envelope = deploymentPlanEnvelope(plan, counts, strategy, { canary: canaryReady, stable: counts.stable });
        // Unready canary pods already break the bound; the rollback never makes it worse, except
        // that restoring a promoted stable template is rolled by Kubernetes with the stable's own
        // budget, on top of the shortfall.
        const shortfall = canaryReady < counts.canary && stableOnNewTemplate ? deploymentBudget(strategy, counts.stable).maxUnavailable : 0;
        const what = `rollback from ${JSON.stringify({ ...counts, canaryReady, stableOnNewTemplate })}`;
        check(what, envelope, Math.min(floor, canaryReady + counts.stable) - shortfall, { canary: 0, stable: total });
        if (plan[plan.length - 1]?.kind !== 'deleteCanary') violations.push(`${what}: does not end by deleting the canary`);
      }
    };
    for (const stages of stageLists) {
      let counts: DeploymentCounts = { canary: 0, stable: total };
      for (const target of resolveStageCounts(stages.map((replicas) => ({ replicas })), total)) {
        const stage = planDeploymentStage(counts, target, total, strategy);
        checkWaits(`stage ${JSON.stringify(counts)} → ${target}`, stage, counts);
        const envelope = deploymentPlanEnvelope(stage, counts, strategy);
        check(`stage ${JSON.stringify(counts)} → ${target}`, envelope, floor, { canary: target, stable: total - target });
        counts = { canary: target, stable: total - target };
        checkRollback(counts, false);
        checkRollback(counts, true);
      }
      const promotion = planDeploymentPromotion(counts, total, strategy);
      check(`promotion from ${JSON.stringify(counts)}`, deploymentPlanEnvelope(promotion, counts, strategy), floor, { canary: 0, stable: total });
      // Rollback from every point of the promotion after the stable template changed.
      const played = { ...counts };
      for (const action of promotion.slice(1)) {
        if (action.kind === 'scale') played[action.workload] = action.replicas;
        if (played.canary + played.stable === total) checkRollback(played, true);
      }
    }
    expect(violations).toEqual([]);
  });

  it('the envelope catches a plan that breaks the bound', () => {
    const reckless = [scale('stable', 0, false), scale('canary', 10)];
    const envelope = deploymentPlanEnvelope(reckless, { canary: 0, stable: 10 }, undefined);
    expect(envelope.minReady).toBe(0);
    expect(envelope.maxPods).toBe(10);
    const greedy = deploymentPlanEnvelope([scale('canary', 10), scale('stable', 0)], { canary: 0, stable: 10 }, undefined);
    expect(greedy).toEqual({ minReady: 10, maxPods: 20, end: { canary: 10, stable: 0 } });
  });
});

describe('StatefulSet plans', () => {
  const sts = (over: Partial<StatefulSetState> = {}): StatefulSetState => ({ strategy: 'RollingUpdate', total: 5, updated: [], unready: [], ...over });

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
    ['maxUnavailable 40% of 5 = 2', { total: 5, maxUnavailable: '40%' }, 4, [[4, 3], [2, 1]]],
    ['unready pods all go first, costing nothing', { total: 6, unready: [1, 4, 5] }, 6, [[5, 4, 1], [3], [2], [0]]],
    ['unready pods outside the stage stay', { total: 6, unready: [0] }, 2, [[5], [4]]],
    ['nothing to do', { total: 3, updated: [2, 1] }, 2, []],
    ['1 replica', { total: 1 }, 1, [[0]]],
  ])('OnDelete: %s', (_what, over, count, batches) => {
    const plan = planStatefulSetStage(sts({ strategy: 'OnDelete', ...over }), count);
    expect(plan).toEqual(batches.flatMap((ordinals) => [
      { kind: 'deletePods', ordinals },
      { kind: 'waitReady', ordinals },
    ]));
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

  it('rolls a RollingUpdate StatefulSet back, deleting stuck updated pods', () => {
    expect(planStatefulSetRollback(sts({ total: 4, updated: [3, 2], unready: [2, 0] }), 1)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: 0 },
      { kind: 'deletePods', ordinals: [2] },
      { kind: 'waitReady', ordinals: [3, 2, 1, 0] },
      { kind: 'setPartition', partition: 1 },
    ]);
    expect(planStatefulSetRollback(sts({ total: 2, updated: [1] }), 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: 0 },
      { kind: 'waitReady', ordinals: [1, 0] },
    ]);
  });

  it('rolls an OnDelete StatefulSet back by deleting its updated pods in batches', () => {
    expect(planStatefulSetRollback(sts({ strategy: 'OnDelete', total: 5, updated: [2, 4, 3], unready: [3] }), 0)).toEqual([
      { kind: 'setTemplate', template: 'old', partition: null },
      { kind: 'deletePods', ordinals: [3] },
      { kind: 'waitReady', ordinals: [3] },
      { kind: 'deletePods', ordinals: [4] },
      { kind: 'waitReady', ordinals: [4] },
      { kind: 'deletePods', ordinals: [2] },
      { kind: 'waitReady', ordinals: [2] },
    ]);
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

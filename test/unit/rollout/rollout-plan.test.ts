import {
  deploymentBudget,
  planDeploymentPromotion,
  planDeploymentPromotionStart,
  canaryAtPreparation,
  planDeploymentRollback,
  planDeploymentStage,
  planDeploymentStageStart,
  resolveFenceposts,
  type DeploymentAction,
  type DeploymentCounts,
  type DeploymentRollbackState,
  type DeploymentState,
  type DeploymentStrategy,
  withOwedScaleDown,
} from '../../../domain/rollout/rollout-plan';
import { deploymentPlanEnvelope, type PlanEnvelope } from '../../../domain/rollout/rollout-plan-envelope';
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
import { resolveStageCounts, scaledValue, stageUpdatedCount, type IntOrPercent } from '../../../domain/rollout/rollout-shares';
import type { StageReplicas } from '../../../domain/rollout/rollout-spec';

const scale = (workload: 'canary' | 'stable', replicas: number, wait = true): DeploymentAction => ({
  kind: 'scale',
  workload,
  replicas,
  wait,
});
/** Replicas moving from canary back to stable one at a time (maxSurge 1, maxUnavailable 0), from `stable` of `total` on the stable Deployment. */
const oneAtATimeToStable = (stable: number, total: number): DeploymentAction[] =>
  Array.from({ length: total - stable }, (_, i) => [
    scale('stable', stable + i + 1),
    scale('canary', total - stable - i - 1, false),
  ]).flat();
const rolling = (maxSurge: IntOrPercent, maxUnavailable: IntOrPercent): DeploymentStrategy => ({
  type: 'RollingUpdate',
  rollingUpdate: { maxSurge, maxUnavailable },
});

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
    expect(
      resolveStageCounts(
        shares.map((replicas) => ({ replicas })),
        total,
      ),
    ).toEqual(expected);
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
    [
      'default, a chunk within surge: canary first, then stable',
      { canary: 0, stable: 10 },
      3,
      10,
      undefined,
      [scale('canary', 3), scale('stable', 7, false)],
    ],
    [
      '1 replica, default (surge 1, unavailable 0)',
      { canary: 0, stable: 1 },
      1,
      1,
      undefined,
      [scale('canary', 1), scale('stable', 0, false)],
    ],
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
    [
      'maxSurge 0, maxUnavailable 10% of 5 resolves to 1',
      { canary: 0, stable: 5 },
      1,
      5,
      rolling(0, '10%'),
      [scale('stable', 4, false), scale('canary', 1)],
    ],
    ['Recreate: everything at once', { canary: 0, stable: 6 }, 6, 6, { type: 'Recreate' }, [scale('stable', 0, false), scale('canary', 6)]],
    ['no move', { canary: 2, stable: 2 }, 2, 4, undefined, []],
    ['0 replicas', { canary: 0, stable: 0 }, 0, 0, undefined, []],
    [
      'backwards (towards the stable)',
      { canary: 4, stable: 0 },
      1,
      4,
      rolling(1, 0),
      [
        scale('stable', 1),
        scale('canary', 3, false),
        scale('stable', 2),
        scale('canary', 2, false),
        scale('stable', 3),
        scale('canary', 1, false),
      ],
    ],
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

describe('planDeploymentStageStart (the next stage begun as a gate without bake passes)', () => {
  it.each<[string, DeploymentCounts, number, number, DeploymentStrategy | undefined, DeploymentAction[]]>([
    [
      'default 25%/25% of 30, 3 → 15: the shrink by chunk − maxSurge, then the growth, not waited for',
      { canary: 3, stable: 27 },
      15,
      30,
      undefined,
      [scale('stable', 23, false), scale('canary', 15, false)],
    ],
    ['a growth within surge: only the growth', { canary: 0, stable: 10 }, 3, 10, undefined, [scale('canary', 3, false)]],
    [
      'several chunks: only the first chunk begins',
      { canary: 0, stable: 4 },
      2,
      4,
      rolling(0, 1),
      [scale('stable', 3, false), scale('canary', 1, false)],
    ],
    ['no move: nothing', { canary: 2, stable: 2 }, 2, 4, undefined, []],
    ['backwards: the stable growth begins', { canary: 4, stable: 0 }, 1, 4, rolling(1, 0), [scale('stable', 1, false)]],
  ])('%s', (_what, current, target, total, strategy, expected) => {
    expect(planDeploymentStageStart(current, target, total, strategy)).toEqual(expected);
  });

  it.each<[DeploymentCounts, number, number, DeploymentStrategy | undefined]>([
    [{ canary: 3, stable: 27 }, 15, 30, undefined],
    [{ canary: 15, stable: 15 }, 30, 30, undefined],
    [{ canary: 0, stable: 4 }, 2, 4, rolling(0, 1)],
    [{ canary: 1, stable: 3 }, 3, 4, rolling(1, 0)],
    [{ canary: 0, stable: 6 }, 6, 6, { type: 'Recreate' }],
  ])(
    '%j → %p of %p: the start, the wait for its growth and the stage plan from there make up the stage plan itself, so the bound is the same',
    (current, target, total, strategy) => {
      const start = planDeploymentStageStart(current, target, total, strategy);
      const growth = start.at(-1);
      if (growth?.kind !== 'scale') throw new Error(`the start ends with ${JSON.stringify(growth)}, not a scale`);
      expect(growth.wait).toBe(false);
      // What the next stage's activity does: wait for the grown workload, shrink the other by the excess, plan on.
      const after = { ...current };
      for (const a of start) if (a.kind === 'scale') after[a.workload] = a.replicas;
      const giver = growth.workload === 'canary' ? 'stable' : 'canary';
      const excess = after.canary + after.stable - total;
      const resumed: DeploymentAction[] = [{ ...growth, wait: true }, ...(excess > 0 ? [scale(giver, after[giver] - excess, false)] : [])];
      if (excess > 0) after[giver] -= excess;
      const rest = planDeploymentStage(after, target, total, strategy);
      const whole = planDeploymentStage(current, target, total, strategy);
      expect([...start.slice(0, -1), ...resumed, ...rest]).toEqual(whole);
      expect(deploymentPlanEnvelope([...start.slice(0, -1), ...resumed, ...rest], current, strategy)).toEqual(
        deploymentPlanEnvelope(whole, current, strategy),
      );
    },
  );
});

const pauseStable: DeploymentAction = { kind: 'pauseStable' };
const deleteStableReplicaSets: DeploymentAction = { kind: 'deleteStableReplicaSets' };
const handOver = (replicas: number): DeploymentAction => ({ kind: 'handOver', replicas });
const releaseCanary = (replicas: number): DeploymentAction => ({ kind: 'releaseCanary', replicas });
const resumeStable = (replicas: number): DeploymentAction => ({ kind: 'resumeStable', replicas });
const takeBack = (replicas: number): DeploymentAction => ({ kind: 'takeBack', replicas });
const restoreOld: DeploymentAction = { kind: 'setStableTemplate', template: 'old' };
const deleteCanary: DeploymentAction = { kind: 'deleteCanary' };

/** During the stages: stable unpaused on the old template, canary present. */
const staged = (canary: number, stable: number): DeploymentState => ({
  canary,
  stable,
  stablePaused: false,
  stableOnNewTemplate: false,
  canaryExists: true,
});

describe('canaryAtPreparation (stage 1 begun by the preparation)', () => {
  it.each<[string, number, number, DeploymentStrategy | undefined, number]>([
    ['default 25% of 30, stage 1 of 3: within maxSurge 8', 3, 30, undefined, 3],
    ['exactly maxSurge', 8, 30, undefined, 8],
    ['over maxSurge: the stable Deployment would shrink first, so nothing begins', 9, 30, undefined, 0],
    ['maxSurge 0: every chunk shrinks the stable Deployment first', 1, 4, rolling(0, 1), 0],
    ['0 replicas', 0, 0, undefined, 0],
  ])('%s', (_what, firstCount, total, strategy, expected) => {
    expect(canaryAtPreparation(firstCount, total, strategy)).toBe(expected);
  });
});

describe('planDeploymentPromotionStart (promotion begun as a last stage without bake passes)', () => {
  it('from 100%: the promotion up to the release of the canary, its adoption not waited for; the promotion then goes on from the hand-over', () => {
    expect(planDeploymentPromotionStart(staged(10, 0), 10, undefined)).toEqual([
      pauseStable,
      deleteStableReplicaSets,
      handOver(10),
      { ...releaseCanary(10), wait: false },
    ]);
    // What the promotion activity then finds: paused, on the new template, the canary being deleted.
    const after: DeploymentState = { canary: 0, stable: 10, stablePaused: true, stableOnNewTemplate: true, canaryExists: false };
    expect(planDeploymentPromotion(after, 10, undefined)).toEqual([handOver(10), releaseCanary(10), resumeStable(10)]);
  });

  it('nothing when replicas would still move (a last stage under 100%)', () => {
    expect(planDeploymentPromotionStart(staged(5, 5), 10, undefined)).toEqual([]);
  });
});

describe("withOwedScaleDown (a stage's last scale-down held for its gate, then folded into the next step)", () => {
  it('a next stage that shrinks the stable Deployment first takes it further: the owed write is not made', () => {
    // Stage 2 of 3 over 30 (25%/25%): the stage owes stable 15; stage 3 begins with stable 8.
    const start = planDeploymentStageStart({ canary: 15, stable: 15 }, 30, 30, undefined);
    expect(start).toEqual([scale('stable', 8, false), scale('canary', 30, false)]);
    expect(withOwedScaleDown(start, scale('stable', 15, false))).toEqual(start);
  });

  it('a promotion begins by pausing the stable Deployment: the owed scale-down goes in the same write', () => {
    const start = planDeploymentPromotionStart(staged(10, 0), 10, undefined);
    expect(withOwedScaleDown(start, scale('stable', 0, false))).toEqual([{ kind: 'pauseStable', replicas: 0 }, ...start.slice(1)]);
  });

  it('otherwise the owed write goes first', () => {
    const growFirst = [scale('canary', 6, false)];
    expect(withOwedScaleDown(growFirst, scale('stable', 4, false))).toEqual([scale('stable', 4, false), ...growFirst]);
    expect(withOwedScaleDown([], scale('stable', 4, false))).toEqual([scale('stable', 4, false)]);
    // A canary owed a scale-down (a stage that shrinks it) is never folded into the stable's write.
    expect(withOwedScaleDown([scale('stable', 2, false)], scale('canary', 3, false))).toEqual([
      scale('canary', 3, false),
      scale('stable', 2, false),
    ]);
    expect(withOwedScaleDown([pauseStable], scale('canary', 0, false))).toEqual([scale('canary', 0, false), pauseStable]);
  });

  it('nothing owed: the start as it is; only a scale-down not waited for can be owed', () => {
    const start = [scale('stable', 3, false)];
    expect(withOwedScaleDown(start, undefined)).toBe(start);
    expect(() => withOwedScaleDown(start, scale('stable', 4, true))).toThrow(RangeError);
    expect(() => withOwedScaleDown(start, pauseStable)).toThrow(RangeError);
  });

  it('passes through no count the owed write and then the start would not, for every stage list, strategy and size', () => {
    const strategies: (DeploymentStrategy | undefined)[] = [
      undefined,
      rolling(1, 0),
      rolling(0, 1),
      rolling('50%', '0%'),
      rolling(3, '40%'),
      rolling('30%', '20%'),
    ];
    const stageLists: StageReplicas[][] = [
      ['10%', '50%', '100%'],
      [1, '100%'],
      ['1%', '2%', 3, '99%', '100%'],
      [2, '34%', '67%', '100%'],
    ];
    const mismatches: string[] = [];
    let folded = 0;
    for (const strategy of strategies) {
      for (let total = 0; total <= 25; total++) {
        for (const stages of stageLists) {
          const counts = resolveStageCounts(
            stages.map((replicas) => ({ replicas })),
            total,
          );
          let at: DeploymentCounts = { canary: 0, stable: total };
          counts.forEach((count, i) => {
            const plan = planDeploymentStage(at, count, total, strategy);
            const last = plan.at(-1);
            const owed = last?.kind === 'scale' && !last.wait ? last : undefined;
            const before = owed
              ? plan.slice(0, -1).reduce((c, a) => (a.kind === 'scale' ? { ...c, [a.workload]: a.replicas } : c), at)
              : undefined;
            at = { canary: count, stable: total - count };
            if (!owed || !before) return;
            const next = counts[i + 1];
            const start =
              next !== undefined
                ? planDeploymentStageStart(at, next, total, strategy)
                : planDeploymentPromotionStart(staged(at.canary, at.stable), total, strategy);
            const merged = withOwedScaleDown(start, owed);
            if (merged.length < start.length + 1) folded++;
            const separate = deploymentPlanEnvelope([owed, ...start], before, strategy, before, true);
            const together = deploymentPlanEnvelope(merged, before, strategy, before, true);
            const where = `${JSON.stringify(strategy ?? 'default')} ${total} ${JSON.stringify(stages)} stage ${i + 1}`;
            if (
              together.minReady < separate.minReady ||
              together.maxPods > separate.maxPods ||
              JSON.stringify(together.end) !== JSON.stringify(separate.end)
            ) {
              mismatches.push(`${where}: ${JSON.stringify(together)} against ${JSON.stringify(separate)}`);
            }
          });
        }
      }
    }
    expect(mismatches).toEqual([]);
    // The fold happens (this is no test of an empty set).
    expect(folded).toBeGreaterThan(100);
  });
});

describe('planDeploymentPromotion', () => {
  it('from 100%: pause, drop the empty ReplicaSets, hand over, release the canary, resume; no pod started', () => {
    const plan = planDeploymentPromotion(staged(10, 0), 10, undefined);
    expect(plan).toEqual([pauseStable, deleteStableReplicaSets, handOver(10), releaseCanary(10), resumeStable(10)]);
    const envelope = deploymentPlanEnvelope(plan, { canary: 10, stable: 0 }, undefined);
    expect(envelope).toEqual({ minReady: 10, maxPods: 10, podsStarted: 0, end: { canary: 0, stable: 10 } });
  });

  it('from 50%: the stable replicas move to the canary first (surge first, shrinks not waited for), then the hand-over', () => {
    expect(planDeploymentPromotion(staged(5, 5), 10, undefined)).toEqual([
      scale('stable', 3, false),
      scale('canary', 10),
      scale('stable', 0, false),
      pauseStable,
      deleteStableReplicaSets,
      handOver(10),
      releaseCanary(10),
      resumeStable(10),
    ]);
    expect(
      deploymentPlanEnvelope(planDeploymentPromotion(staged(5, 5), 10, undefined), { canary: 5, stable: 5 }, undefined).podsStarted,
    ).toBe(5);
  });

  it('after a crash once paused: goes on from the ReplicaSets', () => {
    expect(planDeploymentPromotion({ ...staged(4, 0), stablePaused: true }, 4, undefined)).toEqual([
      deleteStableReplicaSets,
      handOver(4),
      releaseCanary(4),
      resumeStable(4),
    ]);
  });

  it('a paused stable Deployment that still has replicas is resumed before they move', () => {
    expect(planDeploymentPromotion({ ...staged(3, 1), stablePaused: true }, 4, rolling(1, 0))).toEqual([
      resumeStable(1),
      scale('canary', 4),
      scale('stable', 0, false),
      pauseStable,
      deleteStableReplicaSets,
      handOver(4),
      releaseCanary(4),
      resumeStable(4),
    ]);
  });

  it.each<[string, DeploymentState]>([
    ['handed over, canary still there', { canary: 6, stable: 6, stablePaused: true, stableOnNewTemplate: true, canaryExists: true }],
    ['released, canary gone', { canary: 0, stable: 6, stablePaused: true, stableOnNewTemplate: true, canaryExists: false }],
  ])('after a crash once %s: the idempotent steps again', (_what, state) => {
    expect(planDeploymentPromotion(state, 6, undefined)).toEqual([handOver(6), releaseCanary(6), resumeStable(6)]);
  });

  it('after a crash once resumed: only waits until the stable Deployment is settled', () => {
    expect(
      planDeploymentPromotion({ canary: 0, stable: 6, stablePaused: false, stableOnNewTemplate: true, canaryExists: false }, 6, undefined),
    ).toEqual([resumeStable(6)]);
  });

  it('a promotion begun by an earlier AutoCrane (stable rolled itself to the new template) moves the replicas back', () => {
    expect(
      planDeploymentPromotion(
        { canary: 3, stable: 1, stablePaused: false, stableOnNewTemplate: true, canaryExists: true },
        4,
        rolling(1, 0),
      ),
    ).toEqual([...oneAtATimeToStable(1, 4), deleteCanary]);
  });

  it('0 replicas', () => {
    expect(planDeploymentPromotion(staged(0, 0), 0, undefined)).toEqual([
      pauseStable,
      deleteStableReplicaSets,
      handOver(0),
      releaseCanary(0),
      resumeStable(0),
    ]);
  });

  it.each<[string, DeploymentState, number]>([
    ['canary replicas without a canary', { canary: 2, stable: 2, stablePaused: false, stableOnNewTemplate: false, canaryExists: false }, 4],
    ['counts that do not add up during the stages', staged(2, 1), 4],
    [
      'counts that do not add up, promoted the old way',
      { canary: 2, stable: 1, stablePaused: false, stableOnNewTemplate: true, canaryExists: true },
      4,
    ],
    ['more than the total', { canary: 5, stable: 4, stablePaused: true, stableOnNewTemplate: true, canaryExists: true }, 4],
    ['negative', staged(-1, 5), 4],
    ['fractions', staged(1.5, 2.5), 4],
  ])('refuses %s', (_what, state, total) => {
    expect(() => planDeploymentPromotion(state, total, undefined)).toThrow(RangeError);
  });
});

describe('planDeploymentRollback', () => {
  const rollbackState = (over: Partial<DeploymentRollbackState> & DeploymentCounts): DeploymentRollbackState => ({
    stablePaused: false,
    stableOnNewTemplate: false,
    canaryExists: true,
    canaryReady: over.canary,
    ...over,
  });

  it('rolls back a healthy-looking canary within the budget', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 3, stable: 7 }), 10, undefined)).toEqual([
      scale('stable', 10),
      scale('canary', 0, false),
      deleteCanary,
    ]);
  });

  it('removes unready canary pods first and gives their replicas back to the stable', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 4, stable: 6, canaryReady: 1 }), 10, rolling(1, 0))).toEqual([
      scale('canary', 1, false),
      scale('stable', 9),
      scale('stable', 10),
      scale('canary', 0, false),
      deleteCanary,
    ]);
  });

  it('gives the stable Deployment replicas a crash between a shrink and a grow left out', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 3, stable: 5 }), 10, undefined)).toEqual([
      scale('stable', 7),
      scale('stable', 10),
      scale('canary', 0, false),
      deleteCanary,
    ]);
  });

  it('gives up from the canary an excess a crash between a grow and its shrink left, unready pods first', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 3, stable: 3 }), 5, undefined)).toEqual([
      scale('canary', 2, false),
      scale('stable', 5),
      scale('canary', 0, false),
      deleteCanary,
    ]);
    expect(planDeploymentRollback(rollbackState({ canary: 3, stable: 3, canaryReady: 1 }), 5, undefined)).toEqual([
      scale('canary', 1, false),
      scale('stable', 4),
      scale('stable', 5),
      scale('canary', 0, false),
      deleteCanary,
    ]);
  });

  it('rolls back before any canary pod exists', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 0, stable: 5 }), 5, undefined)).toEqual([deleteCanary]);
  });

  it('rolls back without a canary Deployment at all', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 0, stable: 5, canaryExists: false }), 5, undefined)).toEqual([deleteCanary]);
  });

  it('resumes a stable Deployment paused by a promotion before it handed over', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 4, stable: 0, stablePaused: true }), 4, rolling(1, 0))).toEqual([
      resumeStable(0),
      ...oneAtATimeToStable(0, 4),
      deleteCanary,
    ]);
  });

  it('takes a hand-over back (the stable Deployment has no pod yet), then moves the replicas back', () => {
    expect(
      planDeploymentRollback(
        rollbackState({ canary: 4, stable: 4, stablePaused: true, stableOnNewTemplate: true, canaryReady: 3 }),
        4,
        rolling(1, 0),
      ),
    ).toEqual([takeBack(0), scale('canary', 3, false), scale('stable', 1), ...oneAtATimeToStable(1, 4), deleteCanary]);
  });

  it('after the canary was released: waits for the adoption, resumes, and has Kubernetes roll the stable Deployment back', () => {
    expect(
      planDeploymentRollback(
        rollbackState({ canary: 0, stable: 6, stablePaused: true, stableOnNewTemplate: true, canaryExists: false }),
        6,
        undefined,
      ),
    ).toEqual([releaseCanary(6), resumeStable(6), restoreOld, deleteCanary]);
  });

  it('after the promotion: has Kubernetes roll the stable Deployment back', () => {
    expect(
      planDeploymentRollback(rollbackState({ canary: 0, stable: 6, stableOnNewTemplate: true, canaryExists: false }), 6, undefined),
    ).toEqual([restoreOld, deleteCanary]);
  });

  it('restores the stable template a promotion by an earlier AutoCrane had changed', () => {
    expect(planDeploymentRollback(rollbackState({ canary: 2, stable: 8, stableOnNewTemplate: true }), 10, undefined)).toEqual([
      restoreOld,
      scale('stable', 10),
      scale('canary', 0, false),
      deleteCanary,
    ]);
  });

  it.each<[string, DeploymentRollbackState, number]>([
    ['canaryReady above canary', rollbackState({ canary: 2, stable: 3, canaryReady: 3 }), 5],
    ['canaryReady below 0', rollbackState({ canary: 2, stable: 3, canaryReady: -1 }), 5],
    ['more than the total on one side', rollbackState({ canary: 6, stable: 0 }), 5],
    ['canary replicas without a canary', rollbackState({ canary: 2, stable: 3, canaryExists: false }), 5],
  ])('refuses %s', (_what, state, total) => {
    expect(() => planDeploymentRollback(state, total, undefined)).toThrow(RangeError);
  });
});

describe('the envelope', () => {
  it('catches a plan that breaks the bound', () => {
    const reckless = [scale('stable', 0, false), scale('canary', 10)];
    const envelope = deploymentPlanEnvelope(reckless, { canary: 0, stable: 10 }, undefined);
    expect(envelope.minReady).toBe(0);
    expect(envelope.maxPods).toBe(10);
    const greedy = deploymentPlanEnvelope([scale('canary', 10), scale('stable', 0, false)], { canary: 0, stable: 10 }, undefined);
    expect(greedy).toEqual({ minReady: 10, maxPods: 20, podsStarted: 10, end: { canary: 10, stable: 0 } });
  });

  it('counts every pod of a template change as started, rolled within the stable budget', () => {
    expect(deploymentPlanEnvelope([restoreOld], { canary: 0, stable: 8 }, undefined)).toEqual({
      minReady: 6,
      maxPods: 10,
      podsStarted: 8,
      end: { canary: 0, stable: 8 },
    });
  });

  it('a release of fewer canary pods than the hand-over asked for has the stable Deployment start the rest', () => {
    expect(
      deploymentPlanEnvelope(
        [deleteStableReplicaSets, handOver(5), releaseCanary(5), resumeStable(5)],
        { canary: 3, stable: 0 },
        undefined,
      ),
    ).toEqual({
      minReady: 3,
      maxPods: 5,
      podsStarted: 2,
      end: { canary: 0, stable: 5 },
    });
  });

  it('a hand-over while the stable Deployment still owns a ReplicaSet starts every replica again (the trap step 3 avoids)', () => {
    expect(
      deploymentPlanEnvelope([pauseStable, handOver(4), releaseCanary(4), resumeStable(4)], { canary: 4, stable: 0 }, undefined),
    ).toMatchObject({ maxPods: 8, podsStarted: 4 });
    expect(deploymentPlanEnvelope([handOver(4), releaseCanary(4)], { canary: 4, stable: 0 }, undefined, undefined, false)).toMatchObject({
      maxPods: 4,
      podsStarted: 0,
    });
  });
});

/** What a Deployment rollout looks like after each action: its spec, its pods, and the promotion's flags. */
interface Played {
  state: DeploymentState;
  pods: DeploymentCounts;
}

function play(from: Played, action: DeploymentAction): Played {
  const state = { ...from.state };
  const pods = { ...from.pods };
  switch (action.kind) {
    case 'scale':
      state[action.workload] = action.replicas;
      pods[action.workload] = action.replicas;
      break;
    case 'pauseStable':
      state.stablePaused = true;
      if (action.replicas !== undefined) state.stable = pods.stable = action.replicas;
      break;
    case 'deleteStableReplicaSets':
      pods.stable = 0;
      break;
    case 'handOver':
      state.stable = action.replicas;
      state.stableOnNewTemplate = true;
      break;
    case 'releaseCanary':
      pods.stable = Math.max(pods.stable + pods.canary, action.replicas);
      pods.canary = 0;
      state.canary = 0;
      state.canaryExists = false;
      break;
    case 'resumeStable':
      state.stablePaused = false;
      pods.stable = action.replicas;
      break;
    case 'takeBack':
      Object.assign(state, { stable: action.replicas, stableOnNewTemplate: false, stablePaused: false });
      pods.stable = action.replicas;
      break;
    case 'setStableTemplate':
      state.stableOnNewTemplate = false;
      break;
    case 'deleteCanary':
      Object.assign(state, { canary: 0, canaryExists: false });
      pods.canary = 0;
      break;
  }
  return { state, pods };
}

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

  // Every (strategy, total, stages) case: play the stages and the promotion; from every point of
  // them, a rollback (with all, one fewer and no canary pods ready) and, from every point of the
  // promotion, the promotion planned again as a retried activity would.
  const cases = strategies.flatMap((strategy) =>
    Array.from({ length: 26 }, (_, total) => ({ strategy, total, label: JSON.stringify(strategy ?? 'default') })),
  );

  it.each(cases)('$label over $total replicas', ({ strategy, total }) => {
    const { maxSurge, maxUnavailable } = deploymentBudget(strategy, total);
    const floor = total - maxUnavailable;
    const ceiling = total + maxSurge;
    // Collected rather than asserted one by one: thousands of plans per case.
    const violations: string[] = [];
    // Only growth is waited for: a scale-down goes on at once, a scale-up waits for its pods.
    const checkWaits = (what: string, plan: readonly DeploymentAction[], start: Played) => {
      let played = start;
      for (const action of plan) {
        if (action.kind === 'scale' && action.wait !== action.replicas > played.state[action.workload]) {
          violations.push(`${what}: ${JSON.stringify(action)} from ${played.state[action.workload]}`);
        }
        played = play(played, action);
      }
    };
    const check = (what: string, envelope: PlanEnvelope, minReady: number, end: DeploymentCounts) => {
      if (envelope.minReady < minReady) violations.push(`${what}: ${envelope.minReady} ready < ${minReady}`);
      if (envelope.maxPods > ceiling) violations.push(`${what}: ${envelope.maxPods} pods > ${ceiling}`);
      if (envelope.end.canary !== end.canary || envelope.end.stable !== end.stable)
        violations.push(`${what}: ends at ${JSON.stringify(envelope.end)}`);
    };
    const checkRollback = (at: Played, again = true) => {
      for (const canaryReady of new Set([at.state.canary, Math.max(0, at.state.canary - 1), 0])) {
        const what = `rollback from ${JSON.stringify({ ...at, canaryReady })}${again ? '' : ' (again)'}`;
        const plan = planDeploymentRollback({ ...at.state, canaryReady }, total, strategy);
        // A rollback interrupted after any step and planned again (the activity first waits
        // for a stable Deployment that grew) keeps the bound too.
        if (again && canaryReady === at.state.canary) {
          let played = at;
          for (const action of plan) {
            played = play(played, action);
            checkRollback(played, false);
          }
        }
        checkWaits(what, plan, at);
        const envelope = deploymentPlanEnvelope(plan, at.pods, strategy, { canary: canaryReady, stable: at.pods.stable });
        // Unready canary pods already break the bound; the rollback never makes it worse, except
        // that restoring a promoted stable template is rolled by Kubernetes with the stable's own
        // budget, on top of the shortfall.
        const restores = plan.some((a) => a.kind === 'setStableTemplate');
        const shortfall = canaryReady < at.state.canary && restores ? deploymentBudget(strategy, at.pods.stable).maxUnavailable : 0;
        check(what, envelope, Math.min(floor, canaryReady + at.pods.stable) - shortfall, { canary: 0, stable: total });
        if (plan[plan.length - 1]?.kind !== 'deleteCanary') violations.push(`${what}: does not end by deleting the canary`);
      }
    };
    // A crash between a shrink and a grow leaves fewer than the total: every plan copes. Between
    // a grow and a shrink, more: before a stage or a promotion is planned again, the activity
    // waits for the grown canary and shrinks the stable Deployment by the excess
    // (ensureSumMatches); a rollback gives the excess up from the canary itself.
    const normalized = (at: Played): Played => {
      const excess = at.state.canary + at.state.stable - total;
      return excess > 0 && !at.state.stablePaused && !at.state.stableOnNewTemplate
        ? play(at, scale('stable', at.state.stable - excess, false))
        : at;
    };
    for (const stages of stageLists) {
      let at: Played = { state: staged(0, total), pods: { canary: 0, stable: total } };
      for (const target of resolveStageCounts(
        stages.map((replicas) => ({ replicas })),
        total,
      )) {
        const stage = planDeploymentStage(at.state, target, total, strategy);
        const what = `stage ${JSON.stringify(at.state)} → ${target}`;
        checkWaits(what, stage, at);
        check(what, deploymentPlanEnvelope(stage, at.pods, strategy), floor, { canary: target, stable: total - target });
        for (const action of stage) {
          at = play(at, action);
          checkRollback(at);
        }
      }
      const promotion = planDeploymentPromotion(at.state, total, strategy);
      const envelope = deploymentPlanEnvelope(promotion, at.pods, strategy);
      check(`promotion from ${JSON.stringify(at.state)}`, envelope, floor, { canary: 0, stable: total });
      // The promotion starts only the pods still on the stable Deployment: none after a 100% stage.
      if (envelope.podsStarted !== at.state.stable)
        violations.push(`promotion from ${JSON.stringify(at.state)} starts ${envelope.podsStarted} pods`);
      if (promotion.some((a) => a.kind === 'setStableTemplate' || a.kind === 'deleteCanary'))
        violations.push(`promotion from ${JSON.stringify(at.state)} rolls the stable template`);
      checkWaits(`promotion from ${JSON.stringify(at.state)}`, promotion, at);
      for (const action of promotion) {
        at = play(at, action);
        checkRollback(at);
        const retried = normalized(at);
        // A retried promotion, planned from here, finishes the job, starting only what is still missing.
        if (retried.state.canary + retried.state.stable === total || retried.state.stablePaused || retried.state.stableOnNewTemplate) {
          const what = `promotion again after ${JSON.stringify(action)} at ${JSON.stringify(retried)}`;
          const again = planDeploymentPromotion(retried.state, total, strategy);
          // Its ReplicaSets were deleted before the hand-over; after, it owns only the adopted one.
          const resumed = deploymentPlanEnvelope(
            again,
            retried.pods,
            strategy,
            retried.pods,
            !retried.state.stableOnNewTemplate || !retried.state.stablePaused,
          );
          check(what, resumed, floor, { canary: 0, stable: total });
          const missing = total - retried.pods.canary - retried.pods.stable;
          if (resumed.podsStarted > Math.max(0, missing) + (retried.state.stableOnNewTemplate ? 0 : retried.state.stable))
            violations.push(`${what}: starts ${resumed.podsStarted} pods`);
        }
      }
      if (at.state.stablePaused || !at.state.stableOnNewTemplate || at.state.canaryExists)
        violations.push(`promotion ends at ${JSON.stringify(at.state)}`);
    }
    expect(violations).toEqual([]);
  });
});

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

import {
  planDeploymentPromotion,
  planDeploymentPromotionStart,
  canaryAtPreparation,
  planDeploymentRollback,
  planDeploymentStage,
  planDeploymentStageStart,
  type DeploymentCounts,
  type DeploymentRollbackState,
  type DeploymentState,
  type DeploymentStrategy,
  withOwedScaleDown,
} from '../../../domain/rollout/rollout-plan';
import { deploymentPlanEnvelope } from '../../../domain/rollout/rollout-plan-envelope';
import { resolveStageCounts } from '../../../domain/rollout/rollout-shares';
import type { StageReplicas } from '../../../domain/rollout/rollout-spec';
import {
  scale,
  oneAtATimeToStable,
  rolling,
  pauseStable,
  deleteStableReplicaSets,
  handOver,
  releaseCanary,
  resumeStable,
  takeBack,
  restoreOld,
  deleteCanary,
  staged,
} from '../../support/deployment-plan-actions';

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

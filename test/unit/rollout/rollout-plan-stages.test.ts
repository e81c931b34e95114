import {
  deploymentBudget,
  planDeploymentStage,
  planDeploymentStageStart,
  resolveFenceposts,
  type DeploymentAction,
  type DeploymentCounts,
  type DeploymentStrategy,
} from '../../../domain/rollout/rollout-plan';
import { deploymentPlanEnvelope } from '../../../domain/rollout/rollout-plan-envelope';
import { statefulSetMaxUnavailable } from '../../../domain/rollout/rollout-plan-statefulset';
import { resolveStageCounts, scaledValue, stageUpdatedCount, type IntOrPercent } from '../../../domain/rollout/rollout-shares';
import type { StageReplicas } from '../../../domain/rollout/rollout-spec';
import { scale, rolling } from '../../support/deployment-plan-actions';

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

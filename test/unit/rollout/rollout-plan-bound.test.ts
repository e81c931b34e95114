import {
  deploymentBudget,
  planDeploymentPromotion,
  planDeploymentRollback,
  planDeploymentStage,
  type DeploymentAction,
  type DeploymentCounts,
  type DeploymentState,
  type DeploymentStrategy,
} from '../../../domain/rollout/rollout-plan';
import { deploymentPlanEnvelope, type PlanEnvelope } from '../../../domain/rollout/rollout-plan-envelope';
import { resolveStageCounts } from '../../../domain/rollout/rollout-shares';
import type { StageReplicas } from '../../../domain/rollout/rollout-spec';
import {
  scale,
  rolling,
  pauseStable,
  deleteStableReplicaSets,
  handOver,
  releaseCanary,
  resumeStable,
  restoreOld,
  staged,
} from '../../support/deployment-plan-actions';

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

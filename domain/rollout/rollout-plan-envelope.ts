/**
 * The worst case of a Deployment plan (domain/rollout/rollout-plan.ts): fewest ready and most pods at any
 * moment, played action by action, so that a caller and the tests check a plan against the bound.
 *
 * Pure: no I/O, safe to import from workflows.
 */
import {
  deploymentBudget,
  type DeploymentAction,
  type DeploymentCounts,
  type DeploymentStrategy,
  type DeploymentWorkload,
} from './rollout-plan';

export interface PlanEnvelope {
  /** Fewest ready pods at any moment, counting the worst case of every action. */
  minReady: number;
  /** Most pods (not terminating) at any moment. */
  maxPods: number;
  /** Pods created along the way (each one Kubernetes has to start). */
  podsStarted: number;
  /** The pods each workload has at the end (a hand-over gives the stable Deployment a spec but no pod until it is released). */
  end: DeploymentCounts;
}

/**
 * Plays `actions` from `start` pods (every one ready, unless `startReady` says otherwise) in
 * the worst case: a scale-down removes ready pods at once, a scale-up adds pods that are ready
 * only once waited for, and a template change is rolled by Kubernetes with the stable
 * Deployment's own budget at its size. A paused stable Deployment starts nothing once its
 * ReplicaSets are deleted: pausing, handing over and deleting its (empty) ReplicaSets change no
 * pod, and releasing the canary makes the canary's pods the stable's; a hand-over while it
 * still has a ReplicaSet starts every replica on it (Kubernetes scales the newest one). Lets a
 * caller (and the tests) check a plan against the bound before running it.
 */
export function deploymentPlanEnvelope(
  actions: readonly DeploymentAction[],
  start: DeploymentCounts,
  strategy: DeploymentStrategy | undefined,
  startReady: DeploymentCounts = start,
  /** Whether the stable Deployment may own a ReplicaSet at the start (not once a promotion deleted them and handed over). */
  stableOwnsReplicaSets = true,
): PlanEnvelope {
  const pods = { ...start };
  const ready = { ...startReady };
  let minReady = ready.canary + ready.stable;
  let maxPods = pods.canary + pods.stable;
  let podsStarted = 0;
  // Whether the stable Deployment may still own a ReplicaSet (until deleteStableReplicaSets).
  let stableReplicaSets = stableOwnsReplicaSets;
  const observe = (readyNow: number, podsNow: number) => {
    minReady = Math.min(minReady, readyNow);
    maxPods = Math.max(maxPods, podsNow);
  };
  const setPods = (workload: DeploymentWorkload, replicas: number, wait: boolean) => {
    podsStarted += Math.max(0, replicas - pods[workload]);
    pods[workload] = replicas;
    ready[workload] = Math.min(ready[workload], replicas);
    observe(ready.canary + ready.stable, pods.canary + pods.stable);
    if (wait) ready[workload] = replicas;
  };
  for (const action of actions) {
    switch (action.kind) {
      case 'scale':
        setPods(action.workload, action.replicas, action.wait);
        if (action.workload === 'stable') stableReplicaSets = true;
        break;
      case 'setStableTemplate': {
        const own = deploymentBudget(strategy, pods.stable);
        observe(ready.canary + Math.max(0, pods.stable - own.maxUnavailable), pods.canary + pods.stable + own.maxSurge);
        podsStarted += pods.stable;
        ready.stable = pods.stable;
        break;
      }
      case 'pauseStable':
        if (action.replicas !== undefined) setPods('stable', action.replicas, false);
        break;
      case 'handOver':
        // Paused, Kubernetes scales the newest ReplicaSet it still owns to the new replicas.
        if (stableReplicaSets) setPods('stable', action.replicas, false);
        break;
      case 'deleteStableReplicaSets':
        setPods('stable', 0, false);
        stableReplicaSets = false;
        break;
      case 'releaseCanary':
        pods.stable += pods.canary;
        ready.stable += ready.canary;
        pods.canary = 0;
        ready.canary = 0;
        // Fewer than `replicas` adopted: the paused stable Deployment scales its one ReplicaSet up.
        setPods('stable', Math.max(pods.stable, action.replicas), false);
        break;
      case 'resumeStable':
        setPods('stable', action.replicas, true);
        stableReplicaSets = true;
        break;
      case 'takeBack':
        setPods('stable', action.replicas, false);
        stableReplicaSets = true;
        break;
      case 'deleteCanary':
        setPods('canary', 0, false);
        break;
    }
  }
  return { minReady, maxPods, podsStarted, end: pods };
}

/** Deployment plan actions and states as the rollout-plan tests write them. */
import { type DeploymentAction, type DeploymentState, type DeploymentStrategy } from '../../domain/rollout/rollout-plan';
import { type IntOrPercent } from '../../domain/rollout/rollout-shares';

export const scale = (workload: 'canary' | 'stable', replicas: number, wait = true): DeploymentAction => ({
  kind: 'scale',
  workload,
  replicas,
  wait,
});
/** Replicas moving from canary back to stable one at a time (maxSurge 1, maxUnavailable 0), from `stable` of `total` on the stable Deployment. */
export const oneAtATimeToStable = (stable: number, total: number): DeploymentAction[] =>
  Array.from({ length: total - stable }, (_, i) => [
    scale('stable', stable + i + 1),
    scale('canary', total - stable - i - 1, false),
  ]).flat();
export const rolling = (maxSurge: IntOrPercent, maxUnavailable: IntOrPercent): DeploymentStrategy => ({
  type: 'RollingUpdate',
  rollingUpdate: { maxSurge, maxUnavailable },
});

export const pauseStable: DeploymentAction = { kind: 'pauseStable' };
export const deleteStableReplicaSets: DeploymentAction = { kind: 'deleteStableReplicaSets' };
export const handOver = (replicas: number): DeploymentAction => ({ kind: 'handOver', replicas });
export const releaseCanary = (replicas: number): DeploymentAction => ({ kind: 'releaseCanary', replicas });
export const resumeStable = (replicas: number): DeploymentAction => ({ kind: 'resumeStable', replicas });
export const takeBack = (replicas: number): DeploymentAction => ({ kind: 'takeBack', replicas });
export const restoreOld: DeploymentAction = { kind: 'setStableTemplate', template: 'old' };
export const deleteCanary: DeploymentAction = { kind: 'deleteCanary' };

/** During the stages: stable unpaused on the old template, canary present. */
export const staged = (canary: number, stable: number): DeploymentState => ({
  canary,
  stable,
  stablePaused: false,
  stableOnNewTemplate: false,
  canaryExists: true,
});

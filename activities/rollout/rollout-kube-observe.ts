/**
 * Where a rollout stands, read from the cluster: its updated pods (the canary ReplicaSet's, or
 * the StatefulSet's update revision), the Deployment pair's replicas, a StatefulSet's updated
 * and unready ordinals. What domain/rollout/rollout-plan.ts plans from and the gate judges.
 */
import { templatesEqual } from '../../domain/rollout/pod-template-change';
import type { DeploymentState } from '../../domain/rollout/rollout-plan';
import { podsNotOnRevision, type StatefulSetRollbackState, type StatefulSetState } from '../../domain/rollout/rollout-plan-statefulset';
import type { RolloutSnapshot } from '../../domain/rollout/rollout-types';
import type { RolloutTarget } from '../../domain/rollout/rollout-spec';
import { describeTarget } from '../../domain/rollout/rollout-summary';
import { nonRetryable, sleep, stopIfCancelled } from '../shared/activity-context';
import type { RolloutKube } from './rollout-kube';
import {
  canaryTarget,
  CONTROLLER_REVISION_HASH_LABEL,
  controllerObserved,
  controllerOf,
  isPodReady,
  ordinalOf,
  POD_TEMPLATE_HASH_LABEL,
  statefulSetPodName,
  type PodJson,
  type WorkloadJson,
} from './rollout-kube-json';

/** How often waits and bakes look at the pods: reaction to a watchdog error is at most this plus one list. */
export const POLL_MS = 250;

/**
 * The canary ReplicaSet of each rollout, once found: it is made when the canary Deployment is
 * created and stays the same until the rollout ends, so the gate lists its pods in one request.
 */
const canaryReplicaSets = new Map<string, { uid: string; hash: string }>();
const CANARY_CACHE_LIMIT = 256;

/** The canary ReplicaSet of a Deployment rollout, once the Deployment controller has made it (null before). */
export async function canaryReplicaSetOf(
  kube: RolloutKube,
  ctx: { rolloutId: string; snapshot: RolloutSnapshot },
): Promise<{ uid: string; hash: string } | null> {
  let canary = canaryReplicaSets.get(ctx.rolloutId);
  if (canary === undefined) {
    const rs = await kube.canaryReplicaSet(ctx.snapshot.target, ctx.snapshot.selector);
    const hash = rs?.metadata.labels?.[POD_TEMPLATE_HASH_LABEL];
    if (rs === null || hash === undefined) return null;
    canary = { uid: rs.metadata.uid, hash };
    if (canaryReplicaSets.size >= CANARY_CACHE_LIMIT) canaryReplicaSets.delete(canaryReplicaSets.keys().next().value!);
    canaryReplicaSets.set(ctx.rolloutId, canary);
  }
  return canary;
}

/** The canary's pods: its ReplicaSet's, told by pod-template-hash and controller (a label alone could match another ReplicaSet's). */
export const canaryPodsLabels = (snapshot: RolloutSnapshot, canary: { hash: string }) => ({
  ...snapshot.selector,
  [POD_TEMPLATE_HASH_LABEL]: canary.hash,
});
export const ownedBy = (canary: { uid: string }) => (p: PodJson) => controllerOf(p.metadata.ownerReferences)?.uid === canary.uid;

/** The pods on the new template: the canary ReplicaSet's (Deployment), or the update revision's (StatefulSet). */
export async function updatedPods(kube: RolloutKube, ctx: { rolloutId: string; snapshot: RolloutSnapshot }): Promise<PodJson[]> {
  const { snapshot } = ctx;
  if (snapshot.target.kind === 'Deployment') {
    const canary = await canaryReplicaSetOf(kube, ctx);
    if (canary === null) return [];
    return (await kube.listPods(snapshot.target.namespace, canaryPodsLabels(snapshot, canary))).filter(ownedBy(canary));
  }
  const sts = await readObservedStatefulSet(kube, snapshot.target);
  if (!templatesEqual(sts.spec.template, snapshot.newTemplate)) return [];
  const revision = sts.status?.updateRevision;
  const pods = await kube.listPods(snapshot.target.namespace, snapshot.selector);
  return pods.filter((p) => revision !== undefined && p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === revision);
}

export interface DeploymentObservation {
  state: DeploymentState;
  canaryReady: number;
  stable: WorkloadJson;
}

/** Where a Deployment rollout stands (domain/rollout/rollout-plan.ts plans from it). */
export async function observeDeployment(kube: RolloutKube, snapshot: RolloutSnapshot): Promise<DeploymentObservation> {
  const [stable, canary] = await Promise.all([readStable(kube, snapshot), kube.readWorkloadIfExists(canaryTarget(snapshot.target))]);
  // A canary being deleted (released, or rolled back) no longer holds replicas of its own.
  const canaryExists = canary !== null && canary.metadata.deletionTimestamp === undefined;
  const state: DeploymentState = {
    canary: canaryExists ? (canary!.spec.replicas ?? 1) : 0,
    stable: stable.spec.replicas ?? 1,
    stablePaused: stable.spec.paused === true,
    stableOnNewTemplate: !templatesEqual(stable.spec.template, snapshot.oldTemplate),
    canaryExists,
  };
  return { state, canaryReady: canaryExists ? Math.min(state.canary, canary!.status?.readyReplicas ?? 0) : 0, stable };
}

export async function readStable(kube: RolloutKube, snapshot: RolloutSnapshot): Promise<WorkloadJson> {
  const stable = await kube.readWorkload(snapshot.target);
  if (stable.metadata.uid !== snapshot.uid)
    throw nonRetryable('WorkloadReplaced', `${describeTarget(snapshot.target)} was deleted and recreated during the rollout`);
  return stable;
}

/**
 * The StatefulSet once its controller has seen its current spec. Until then its
 * status.updateRevision is the revision from before a template change, which the old pods still
 * carry: read just after the new template was written, every pod would look updated.
 */
export async function readObservedStatefulSet(kube: RolloutKube, target: RolloutTarget): Promise<WorkloadJson> {
  for (;;) {
    const sts = await kube.readWorkload(target);
    if (controllerObserved(sts)) return sts;
    stopIfCancelled();
    await sleep(POLL_MS / 5);
  }
}

export async function statefulSetState(
  kube: RolloutKube,
  snapshot: RolloutSnapshot,
): Promise<{ sts: WorkloadJson; state: StatefulSetState; pods: PodJson[] }> {
  const sts = await readObservedStatefulSet(kube, snapshot.target);
  if (sts.metadata.uid !== snapshot.uid)
    throw nonRetryable('WorkloadReplaced', `${describeTarget(snapshot.target)} was deleted and recreated during the rollout`);
  const pods = await kube.listPods(snapshot.target.namespace, snapshot.selector);
  const onNew = templatesEqual(sts.spec.template, snapshot.newTemplate);
  const revision = sts.status?.updateRevision;
  const updated: number[] = [];
  const unready: number[] = [];
  for (const pod of pods) {
    const ordinal = ordinalOf(snapshot.target.name, pod.metadata.name);
    if (ordinal === null) continue;
    if (onNew && revision !== undefined && pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === revision) updated.push(ordinal);
    if (!isPodReady(pod)) unready.push(ordinal);
  }
  const info = snapshot.statefulSet ?? { strategy: 'RollingUpdate' as const, partition: 0 };
  return {
    sts,
    pods,
    state: {
      strategy: info.strategy,
      total: snapshot.replicas,
      updated,
      unready,
      ...(info.maxUnavailable === undefined ? {} : { maxUnavailable: info.maxUnavailable }),
    },
  };
}

/**
 * statefulSetState plus the pods not yet on the old template's revision. That revision is the
 * StatefulSet's updateRevision once its template is the old one again (`oldWritten`: this
 * activity has just written it); before, the one prepareRollout recorded; null if neither.
 */
export async function statefulSetRollbackState(
  kube: RolloutKube,
  snapshot: RolloutSnapshot,
  oldWritten: boolean,
): Promise<StatefulSetRollbackState> {
  const { sts, state, pods } = await statefulSetState(kube, snapshot);
  const restored = oldWritten || templatesEqual(sts.spec.template, snapshot.oldTemplate);
  const oldRevision = restored ? sts.status?.updateRevision : snapshot.statefulSet?.oldRevision;
  const notRolledBack =
    oldRevision === undefined
      ? null
      : podsNotOnRevision(
          pods.map((p) => ({
            ordinal: ordinalOf(snapshot.target.name, p.metadata.name),
            revision: p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL],
          })),
          oldRevision,
          snapshot.replicas,
        );
  return { ...state, notRolledBack };
}

export async function statefulSetPodsSettled(kube: RolloutKube, snapshot: RolloutSnapshot, ordinals: readonly number[]): Promise<boolean> {
  const sts = await kube.readWorkload(snapshot.target);
  const s = sts.status ?? {};
  if (!controllerObserved(sts)) return false;
  const pods = await kube.listPods(snapshot.target.namespace, snapshot.selector);
  const byName = new Map(pods.map((p) => [p.metadata.name, p]));
  const wanted = ordinals.every((o) => {
    const pod = byName.get(statefulSetPodName(snapshot.target.name, o));
    return pod !== undefined && isPodReady(pod) && pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === s.updateRevision;
  });
  return wanted && pods.length === snapshot.replicas && pods.every(isPodReady);
}

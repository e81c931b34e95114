/**
 * The rollout's Kubernetes objects as plain JSON (workloads, ReplicaSets, pods), their names
 * and paths, and what the rollout reads off them: readiness, the gate's observation of a pod,
 * whether a workload's controller has caught up. No requests here (activities/rollout/rollout-kube.ts).
 */
import { CANARY_SUFFIX } from '../../domain/shared/keys';
import type { PodTemplate } from '../../domain/rollout/pod-template-change';
import type { PodObservation } from '../../domain/gate/stage-gate';
import type { PodMetadataJson } from '../../domain/rollout-group/rollout-group';
import type { DeploymentStrategy } from '../../domain/rollout/rollout-plan';
import type { IntOrPercent } from '../../domain/rollout/rollout-shares';
import type { RolloutTarget } from '../../domain/rollout/rollout-spec';
import { listProbes } from '../../domain/watchdog/watchdog-probe';
import { readWatchdogs } from '../../domain/watchdog/watchdog-annotations';

export interface OwnerReference {
  apiVersion?: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface WorkloadJson {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: {
    replicas?: number;
    paused?: boolean;
    selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
    template: PodTemplate;
    strategy?: DeploymentStrategy;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number; maxUnavailable?: IntOrPercent } };
    ordinals?: { start?: number };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

export interface PodJson {
  metadata: PodMetadataJson<OwnerReference>;
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
}

export interface ReplicaSetJson {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: { replicas?: number };
}

export const RESOURCES = { Deployment: 'deployments', StatefulSet: 'statefulsets' } as const;

/** The label the Deployment controller puts on each of its ReplicaSets and their pods. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
export { CONTROLLER_REVISION_HASH_LABEL } from '../../domain/shared/keys';
/** The Deployment controller's revision of a ReplicaSet. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

export const controllerOf = (owners: readonly OwnerReference[] | undefined): OwnerReference | undefined =>
  owners?.find((o) => o.controller === true);

export const labelSelector = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

export const workloadPath = (target: Pick<RolloutTarget, 'namespace' | 'kind' | 'name'>): string =>
  `/apis/apps/v1/namespaces/${encodeURIComponent(target.namespace)}/${RESOURCES[target.kind]}/${encodeURIComponent(target.name)}`;

/** `<name>-canary`, shortened so it stays a valid name (253) and its pods' names stay readable. */
export function canaryName(stableName: string): string {
  const room = 63 - CANARY_SUFFIX.length;
  return `${stableName.slice(0, room).replace(/[-.]+$/, '')}${CANARY_SUFFIX}`;
}

export const canaryTarget = (target: RolloutTarget): RolloutTarget => ({ ...target, kind: 'Deployment', name: canaryName(target.name) });

const readyCondition = (pod: PodJson) => pod.status?.conditions?.find((c) => c.type === 'Ready');
export const isPodReady = (pod: PodJson): boolean => pod.status?.phase === 'Running' && readyCondition(pod)?.status === 'True';

/** A pod as the gate sees it: readiness (and since when), watchdog statuses, declared probes. */
export function podObservation(pod: PodJson): PodObservation {
  const ready = isPodReady(pod);
  const report = readWatchdogs(pod.metadata.annotations);
  return {
    name: pod.metadata.name,
    ready,
    readySince: ready ? (readyCondition(pod)?.lastTransitionTime ?? null) : null,
    watchdogs: report.watchdogs.map((w) => ({
      name: w.name,
      level: w.level === 'unknown' ? w.declaredLevel : w.level,
      time: w.time === undefined ? null : w.time.toISOString(),
      message: w.message,
    })),
    probes: listProbes(pod.metadata.annotations).map((p) => p.name),
  };
}

/** The StatefulSet pod of an ordinal. */
export const statefulSetPodName = (name: string, ordinal: number): string => `${name}-${ordinal}`;
export const ordinalOf = (stsName: string, podName: string): number | null => {
  const match = new RegExp(`^${stsName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`).exec(podName);
  return match ? Number(match[1]) : null;
};

/** The workload's controller has seen its current spec: its status describes that spec. */
export const controllerObserved = (w: WorkloadJson): boolean => (w.status?.observedGeneration ?? 0) >= (w.metadata.generation ?? 0);

/**
 * Every pod of the Deployment on its current template and ready, `replicas` of them, as the
 * Deployment reports it for a spec at least as new as `sinceGeneration` (what the write that
 * is waited for returned: a watch may show an older version first).
 */
export const deploymentSettled = (w: WorkloadJson, replicas: number, sinceGeneration = 0): boolean => {
  const s = w.status ?? {};
  return (
    (w.metadata.generation ?? 0) >= sinceGeneration &&
    controllerObserved(w) &&
    (w.spec.replicas ?? 1) === replicas &&
    (s.replicas ?? 0) === replicas &&
    (s.updatedReplicas ?? 0) === replicas &&
    (s.readyReplicas ?? 0) === replicas
  );
};

/**
 * What the repair workflow and its activities exchange. Plain JSON-safe data:
 * it crosses the workflow/activity boundary and lives in workflow history and state.
 */

/** The controller that owns a pod and will replace it once evicted. */
export interface WorkloadRef {
  /** Deployment, StatefulSet, DaemonSet, ReplicaSet (without a Deployment), ReplicationController, Job, … */
  kind: string;
  name: string;
}

/** `Kind/name`: the key repair counts evictions under. */
export const workloadKey = (w: WorkloadRef): string => `${w.kind}/${w.name}`;

/** One error-level watchdog of a failing pod, as read from its status annotation. */
export interface ErrorWatchdog {
  name: string;
  /** RFC 3339 UTC time of the status; null when the stored value had no parseable time. */
  since: string | null;
  message: string;
}

/** A pod labelled `status.autocrane.io/health=error` and not already terminating. */
export interface FailingPod {
  uid: string;
  name: string;
  /**
   * The top controller that recreates it (a ReplicaSet is resolved to its Deployment).
   * null: a bare pod, or an owner that no longer exists; nothing would replace it, so it is
   * never evicted.
   */
  workload: WorkloadRef | null;
  /** The workload's desired replicas (spec.replicas; for a DaemonSet, desiredNumberScheduled). */
  workloadReplicas: number;
  /** Names of the PodDisruptionBudgets whose selector matches the pod. */
  pdbs: string[];
  /** ID of the AutoCrane rollout changing the workload right now (ROLLOUT_ANNOTATION), or null. */
  rolloutId: string | null;
  errorWatchdogs: ErrorWatchdog[];
}

/** What one repair sweep sees in a namespace. */
export interface RepairObservation {
  namespace: string;
  /** All pods in the namespace, for a namespace-wide failing limit given as a percentage. */
  podCount: number;
  failing: FailingPod[];
  /** RFC 3339 time of the list. */
  observedAt: string;
}

/** One eviction the workflow asks for. */
export interface EvictionRequest {
  uid: string;
  name: string;
  workload: WorkloadRef;
  watchdogs: ErrorWatchdog[];
  /** Consecutive sweeps the pod has been failing, and since when (first failing sweep). */
  failingSweeps: number;
  failingSince: string;
}

export type EvictionResult =
  /** The apiserver accepted the eviction (the pod is now terminating). */
  | 'evicted'
  /** 404, or a pod of that name with another UID: the pod is already gone, nothing to do. */
  | 'gone'
  /** 429: a PodDisruptionBudget forbids it now; retried at a later sweep with backoff. */
  | 'refused'
  /** Any other error; retried at a later sweep with backoff. */
  | 'failed';

export interface EvictionOutcome {
  uid: string;
  name: string;
  result: EvictionResult;
  /** The HTTP status of the eviction request, when there was one. */
  httpStatus?: number;
  /** The apiserver's message (for a 429, the PDB's reason) or a description of the error. */
  message: string;
  /** RFC 3339 time of the outcome. */
  at: string;
}

/** Why a failing pod that reached the threshold was not evicted in a sweep. */
export type HoldReason = 'workload-limit' | 'namespace-limit' | 'no-pdb' | 'no-controller' | 'rollout' | 'backoff' | 'paused';

export interface EvictPodsInput {
  namespace: string;
  gracePeriodSeconds: number;
  evictions: EvictionRequest[];
  /** Pods held back in this sweep, by reason; only counted in metrics. */
  heldBack: Partial<Record<HoldReason, number>>;
}

/** The activities the repair workflow calls (activities/repair/repair.ts implements them). */
export interface RepairActivities {
  listFailingPods(namespace: string): Promise<RepairObservation>;
  evictPods(input: EvictPodsInput): Promise<EvictionOutcome[]>;
}

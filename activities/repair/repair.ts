/**
 * The repair activities: what a sweep sees (failing pods, their controllers and
 * PodDisruptionBudgets), and the evictions the workflow decided (activities/repair/repair-eviction.ts).
 * The decisions are the workflow's (domain/repair/repair.ts); this module does the I/O.
 */
import { hostname } from 'node:os';
import {
  ApiException,
  type KubeConfig,
  type KubernetesObject,
  type V1OwnerReference,
  type V1Pod,
  type V1PodDisruptionBudget,
} from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { HEALTH_LABEL, ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import { labelSelectorMatches } from '../../domain/shared/label-selector';
import type {
  ErrorWatchdog,
  EvictionOutcome,
  EvictPodsInput,
  FailingPod,
  RepairObservation,
  WorkloadRef,
} from '../../domain/repair/repair-types';
import { readWatchdogs } from '../../domain/watchdog/watchdog-annotations';
import { formatStatusTime } from '../../domain/watchdog/watchdog-status';
import { describeError } from '../../platform/errors';
import { kubernetesErrorStatus } from '../../platform/kubernetes';
import { toActivityFailure } from '../shared/kubernetes-errors';
import { podWriteRefusals, type PodWriteRefusalMetrics } from '../shared/pod-write-refusals';
import { evictPods } from './repair-eviction';
import { repairKube, type RepairKube } from './repair-kube';
import type { RepairMetrics } from './repair-metrics';

const LIST_PAGE_SIZE = 500;

// ---------------------------------------------------------------------------
// listFailingPods
// ---------------------------------------------------------------------------

export interface ListFailingPodsOptions {
  now?: () => Date;
  /** Reports progress (the activity heartbeats with it). */
  onProgress?: (progress: { phase: 'listing' | 'resolving'; done: number }) => void;
}

/** The error-level watchdogs of a pod; a value whose level says error counts even if its time is garbled, as in the health label. */
export function errorWatchdogs(annotations: Readonly<Record<string, string>> | undefined): ErrorWatchdog[] {
  return readWatchdogs(annotations)
    .watchdogs.filter((w) => w.declaredLevel === 'error')
    .map((w) => ({ name: w.name, since: w.time ? formatStatusTime(w.time) : null, message: w.message }));
}

interface ResolvedWorkload {
  ref: WorkloadRef;
  replicas: number;
  rolloutId: string | null;
}

type OwnerObject = KubernetesObject & {
  spec?: { replicas?: unknown; parallelism?: unknown };
  status?: { desiredNumberScheduled?: unknown };
};

const controllerOf = (owners: readonly V1OwnerReference[] | undefined) => owners?.find((o) => o.controller === true);

/** The workload's desired pods: spec.replicas (1 when unset, as Kubernetes defaults it); a DaemonSet's desiredNumberScheduled; a Job's parallelism. */
function desiredReplicas(owner: OwnerObject): number {
  const count = (value: unknown, fallback: number) => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);
  switch (owner.kind) {
    case 'DaemonSet':
      return count(owner.status?.desiredNumberScheduled, 0);
    case 'Job':
      return count(owner.spec?.parallelism, 1);
    default:
      return count(owner.spec?.replicas, 1);
  }
}

/** Whether reading an owner failed because it, or its kind, is not there: nothing will replace the pod. */
function ownerMissing(error: unknown): boolean {
  if (kubernetesErrorStatus(error) === 404) return true;
  // KubernetesObjectApi's answer when discovery does not list the kind (e.g. a deleted CRD).
  return error instanceof Error && !(error instanceof ApiException) && error.message.startsWith('Unrecognized API version and kind');
}

/** Resolves controllers to the workloads repair counts under, reading each object at most once per sweep. */
function workloadResolver(kube: RepairKube, namespace: string) {
  const cache = new Map<string, Promise<ResolvedWorkload | null>>();

  async function read(ref: V1OwnerReference): Promise<OwnerObject | null> {
    try {
      return await kube.objects.read<OwnerObject>({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace } });
    } catch (error) {
      if (ownerMissing(error)) return null;
      throw toActivityFailure(error, `read ${ref.kind} ${namespace}/${ref.name} (${ref.apiVersion}), a pod's controller`);
    }
  }

  async function resolveUncached(ref: V1OwnerReference): Promise<ResolvedWorkload | null> {
    const owner = await read(ref);
    if (owner === null) return null;
    if (owner.metadata?.uid !== undefined && ref.uid !== undefined && owner.metadata.uid !== ref.uid) return null; // recreated under the same name
    // A ReplicaSet is only the Deployment's (or another controller's) current revision: the workload is what controls it.
    const parent = ref.kind === 'ReplicaSet' ? controllerOf(owner.metadata?.ownerReferences) : undefined;
    if (parent !== undefined) return resolve(parent);
    return {
      ref: { kind: ref.kind, name: ref.name },
      replicas: desiredReplicas(owner),
      rolloutId: owner.metadata?.annotations?.[ROLLOUT_ANNOTATION] ?? null,
    };
  }

  function resolve(ref: V1OwnerReference): Promise<ResolvedWorkload | null> {
    const key = `${ref.apiVersion}/${ref.kind}/${ref.name}/${ref.uid}`;
    let resolved = cache.get(key);
    if (resolved === undefined) {
      resolved = resolveUncached(ref);
      cache.set(key, resolved);
    }
    return resolved;
  }

  return resolve;
}

async function listPages<T>(
  fetchPage: (continueToken: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
  onPage?: (count: number) => void,
): Promise<T[]> {
  const items: T[] = [];
  let continueToken: string | undefined;
  do {
    const page = await fetchPage(continueToken);
    items.push(...page.items);
    onPage?.(items.length);
    continueToken = page.metadata?._continue || undefined;
  } while (continueToken);
  return items;
}

/** All pods of the namespace, from one request of one item when the apiserver says how many remain. */
export async function countPods(core: RepairKube['core'], namespace: string): Promise<number> {
  const first = await core.listNamespacedPod({ namespace, limit: 1 });
  const remaining = first.metadata?.remainingItemCount;
  if (!first.metadata?._continue) return first.items.length;
  if (typeof remaining === 'number') return first.items.length + remaining;
  // remainingItemCount is optional (older apiservers, or a list served inconsistently): count page by page.
  let count = first.items.length;
  let continueToken: string | undefined = first.metadata._continue;
  while (continueToken) {
    const page = await core.listNamespacedPod({ namespace, limit: LIST_PAGE_SIZE, _continue: continueToken });
    count += page.items.length;
    continueToken = page.metadata?._continue || undefined;
  }
  return count;
}

async function listPdbs(kube: RepairKube, namespace: string): Promise<V1PodDisruptionBudget[]> {
  return listPages((continueToken) =>
    kube.policy.listNamespacedPodDisruptionBudget({ namespace, limit: LIST_PAGE_SIZE, _continue: continueToken }),
  );
}

/** Names of the PDBs covering a pod. A PDB with an invalid selector covers nothing (as for the disruption controller). */
function coveringPdbs(pdbs: readonly V1PodDisruptionBudget[], pod: V1Pod, onInvalid: (message: string) => void): string[] {
  const names: string[] = [];
  for (const pdb of pdbs) {
    const name = pdb.metadata?.name ?? '';
    try {
      if (labelSelectorMatches(pdb.spec?.selector, pod.metadata?.labels, `PodDisruptionBudget ${name}`)) names.push(name);
    } catch (error) {
      onInvalid(describeError(error));
    }
  }
  return names.sort();
}

/**
 * The pods labelled `status.autocrane.io/health=error` and not terminating, each with its
 * error watchdogs, its workload (a ReplicaSet resolved to its Deployment), the PDBs that
 * cover it and the rollout changing its workload, if any.
 */
export async function listFailingPods(
  namespace: string,
  kube: RepairKube,
  options: ListFailingPodsOptions = {},
): Promise<RepairObservation> {
  const now = options.now ?? (() => new Date());
  const observedAt = now().toISOString();
  const labelSelector = `${HEALTH_LABEL}=error`;
  const pods = (
    await listPages(
      (continueToken) => kube.core.listNamespacedPod({ namespace, labelSelector, limit: LIST_PAGE_SIZE, _continue: continueToken }),
      (done) => options.onProgress?.({ phase: 'listing', done }),
    )
  ).filter((pod) => !pod.metadata?.deletionTimestamp);
  const podCount = await countPods(kube.core, namespace);
  if (pods.length === 0) return { namespace, podCount, failing: [], observedAt };

  const pdbs = await listPdbs(kube, namespace);
  const invalidSelectors = new Set<string>();
  const resolve = workloadResolver(kube, namespace);
  const failing: FailingPod[] = [];
  for (const pod of pods) {
    const controller = controllerOf(pod.metadata?.ownerReferences);
    const workload = controller === undefined ? null : await resolve(controller);
    failing.push({
      uid: pod.metadata?.uid ?? '',
      name: pod.metadata?.name ?? '',
      workload: workload?.ref ?? null,
      workloadReplicas: workload?.replicas ?? 0,
      pdbs: coveringPdbs(pdbs, pod, (message) => invalidSelectors.add(message)),
      rolloutId: workload?.rolloutId ?? null,
      errorWatchdogs: errorWatchdogs(pod.metadata?.annotations),
    });
    options.onProgress?.({ phase: 'resolving', done: failing.length });
  }
  if (invalidSelectors.size > 0) {
    // The apiserver validates selectors, so this is near impossible; say so rather than guess.
    activityLog()?.warn('PodDisruptionBudgets with invalid selectors cover no pod', { namespace, problems: [...invalidSelectors] });
  }
  return { namespace, podCount, failing, observedAt };
}

// ---------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------

/** The current activity's logger, or undefined when called outside an activity (tests). */
function activityLog() {
  try {
    return Context.current().log;
  } catch {
    return undefined;
  }
}

export interface RepairActivityOptions {
  metrics?: RepairMetrics;
  refusalMetrics?: PodWriteRefusalMetrics;
}

export function createRepairActivities(kc: KubeConfig, options: RepairActivityOptions = {}) {
  // One set of clients per worker process: KubernetesObjectApi keeps its discovery cache across sweeps.
  const kube = repairKube(kc);
  // Repair backs off refused pods in its workflow state; this records each refusal where it is seen.
  const refusals = podWriteRefusals('repair', {
    events: kube.events,
    ...(options.refusalMetrics && { metrics: options.refusalMetrics }),
    reportingInstance: hostname(),
  });
  return {
    async listFailingPods(namespace: string): Promise<RepairObservation> {
      const context = Context.current();
      try {
        const observation = await listFailingPods(namespace, kube, { onProgress: (progress) => context.heartbeat(progress) });
        context.log.info('repair sweep listed failing pods', {
          namespace,
          podCount: observation.podCount,
          failing: observation.failing.length,
        });
        return observation;
      } catch (err) {
        throw toActivityFailure(err, `list failing pods in namespace ${namespace}`);
      }
    },

    async evictPods(input: EvictPodsInput): Promise<EvictionOutcome[]> {
      const context = Context.current();
      try {
        const outcomes = await evictPods(input, kube, {
          onProgress: (progress) => context.heartbeat(progress),
          refusals,
          log: (fields, message) => context.log.warn(message, fields),
        });
        options.metrics?.record(input.namespace, outcomes, input.heldBack);
        for (const outcome of outcomes) {
          const log = outcome.result === 'evicted' || outcome.result === 'gone' ? context.log.info : context.log.warn;
          log.call(context.log, `pod ${outcome.result}`, { namespace: input.namespace, ...outcome });
        }
        return outcomes;
      } catch (err) {
        throw toActivityFailure(err, `evict pods in namespace ${input.namespace}`);
      }
    },
  };
}

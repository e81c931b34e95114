/**
 * The repair activities: what a sweep sees (failing pods, their controllers and
 * PodDisruptionBudgets), and the evictions the workflow decided. The decisions are the
 * workflow's (domain/repair.ts); this module does the I/O.
 *
 * Evictions go through the policy/v1 Eviction API, never a delete, so the apiserver enforces
 * PodDisruptionBudgets; each names the pod's UID as a precondition, so a replacement that
 * took the same name (a StatefulSet pod) is never evicted in its place.
 */
import { hostname } from 'node:os';
import {
  ApiException,
  CoreV1Api,
  EventsV1Api,
  KubernetesObjectApi,
  PolicyV1Api,
  V1MicroTime,
  type EventsV1Event,
  type KubeConfig,
  type KubernetesObject,
  type V1OwnerReference,
  type V1Pod,
  type V1PodDisruptionBudget,
} from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { EVENT_REPORTING_CONTROLLER, EVICTION_EVENT_REASON, FIELD_MANAGER, HEALTH_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ROLLOUT_ANNOTATION } from '../domain/keys';
import { labelSelectorMatches } from '../domain/label-selector';
import type {
  ErrorWatchdog,
  EvictionOutcome,
  EvictionRequest,
  EvictionResult,
  EvictPodsInput,
  FailingPod,
  RepairObservation,
  WorkloadRef,
} from '../domain/repair-types';
import { readWatchdogs } from '../domain/watchdog-annotations';
import { formatStatusTime } from '../domain/watchdog-status';
import { describeError } from '../platform/errors';
import { kubernetesErrorStatus } from '../platform/kubernetes';
import { toActivityFailure } from './kubernetes-errors';
import { apiserverStatus, EVENT_NOTE_MAX_BYTES, podWriteRefusals, truncateUtf8, type PodWriteRefusalMetrics, type PodWriteRefusals, type RefusalLog } from './pod-write-refusals';
import type { RepairMetrics } from './repair-metrics';

/** The Kubernetes calls repair makes; narrow, so unit tests can stand in for the apiserver. */
export interface RepairKube {
  core: Pick<CoreV1Api, 'listNamespacedPod' | 'createNamespacedPodEvictionWithHttpInfo'>;
  policy: Pick<PolicyV1Api, 'listNamespacedPodDisruptionBudget'>;
  events: Pick<EventsV1Api, 'createNamespacedEvent'>;
  /** Reads a pod's owner of any kind, CRDs included (the kind's resource is found by discovery). */
  objects: Pick<KubernetesObjectApi, 'read'>;
}

export function repairKube(kc: KubeConfig): RepairKube {
  return {
    core: kc.makeApiClient(CoreV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    events: kc.makeApiClient(EventsV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

const LIST_PAGE_SIZE = 500;
/** Evictions in flight at once: enough to finish a sweep's few evictions quickly, gentle on the apiserver. */
export const EVICTION_CONCURRENCY = 4;

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
export async function listFailingPods(namespace: string, kube: RepairKube, options: ListFailingPodsOptions = {}): Promise<RepairObservation> {
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
// evictPods
// ---------------------------------------------------------------------------

/**
 * What a failed eviction request means for repair. 404: the pod is gone. 409 from the UID
 * precondition: the name now belongs to a replacement, so the pod we meant is gone too.
 * 429: a PodDisruptionBudget refuses now; its reason is in the message and causes.
 * Anything else, network errors included: failed.
 */
export function classifyEvictionError(error: unknown): { result: Exclude<EvictionResult, 'evicted'>; httpStatus?: number; message: string } {
  const httpStatus = kubernetesErrorStatus(error);
  if (httpStatus === undefined) return { result: 'failed', message: `eviction request failed: ${describeError(error)}` };
  const status = apiserverStatus((error as { body?: unknown }).body);
  const explanation = [status.message, ...status.causes.filter((c) => c !== status.message)].filter(Boolean).join('; ') || `HTTP ${httpStatus}`;
  if (httpStatus === 404) return { result: 'gone', httpStatus, message: `pod not found: ${explanation}` };
  if (httpStatus === 409 && /precondition/i.test(explanation) && /uid/i.test(explanation)) {
    return { result: 'gone', httpStatus, message: `the pod of that name is another pod (UID precondition failed): ${explanation}` };
  }
  if (httpStatus === 429) return { result: 'refused', httpStatus, message: explanation };
  return { result: 'failed', httpStatus, message: `apiserver answered HTTP ${httpStatus}: ${explanation}` };
}

const EVENT_NAME_MAX = 253;

/**
 * A name of its own per evicted pod: a retried activity (after a worker crash) gets 409 for
 * the Event it already recorded rather than recording a second one.
 */
export function evictionEventName(podName: string, uid: string): string {
  const suffix = `.evicted.${uid.toLowerCase()}`;
  // Cut the pod name so the whole stays a DNS subdomain: no label may end in '-' or '.'.
  const head = podName.slice(0, EVENT_NAME_MAX - suffix.length).replace(/[-.]+$/, '');
  return `${head}${suffix}`;
}

/** The Event's note: which watchdogs, since when, after how many sweeps. */
export function evictionEventNote(request: EvictionRequest): string {
  const watchdogs = request.watchdogs.map(
    (w) => `${w.name} in error since ${w.since ?? 'an unknown time'}${w.message ? ` (${w.message})` : ''}`,
  );
  const which = watchdogs.length === 0 ? 'no error watchdog recorded' : `watchdog${watchdogs.length > 1 ? 's' : ''} ${watchdogs.join('; ')}`;
  return truncateUtf8(
    `Evicted by AutoCrane repair after ${request.failingSweeps} consecutive failing sweeps (failing since ${request.failingSince}): ${which}`,
    EVENT_NOTE_MAX_BYTES,
  );
}

export function evictionEvent(namespace: string, request: EvictionRequest, at: Date, reportingInstance: string): EventsV1Event {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: evictionEventName(request.name, request.uid), namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
    // MicroTime: the apiserver wants exactly six fraction digits, which V1MicroTime serialises.
    eventTime: new V1MicroTime(at.getTime()),
    reportingController: EVENT_REPORTING_CONTROLLER,
    reportingInstance: reportingInstance.slice(0, 128),
    action: 'Evict',
    reason: EVICTION_EVENT_REASON,
    type: 'Warning',
    regarding: { apiVersion: 'v1', kind: 'Pod', namespace, name: request.name, uid: request.uid },
    note: evictionEventNote(request),
  };
}

export interface EvictPodsOptions {
  now?: () => Date;
  /** Names this worker in the Events it records (default: the host name, i.e. the worker pod). */
  reportingInstance?: string;
  onProgress?: (progress: { done: number; total: number }) => void;
  /** Records each refused or failed eviction for its pod (log, metric, Event). */
  refusals?: PodWriteRefusals;
  log?: RefusalLog;
}

/** Runs fn over items with at most `limit` in flight; results in the items' order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Every request failed in a way no single pod explains (credentials, permission, an unreachable apiserver). */
function systemicFailure(outcomes: readonly EvictionOutcome[], errors: ReadonlyMap<string, unknown>): unknown {
  if (outcomes.length === 0 || !outcomes.every((o) => o.result === 'failed')) return undefined;
  const systemic = outcomes.every((o) => o.httpStatus === undefined || o.httpStatus === 401 || o.httpStatus === 403);
  return systemic ? errors.get(outcomes[0]!.uid) : undefined;
}

/**
 * Evicts each requested pod and, for each one evicted, records a Warning Event on it.
 * Per-pod failures become outcomes and never throw; only a failure of every request for a
 * reason no pod explains (401, 403, apiserver unreachable) throws, through toActivityFailure.
 * A failed Event does not undo the eviction: it is noted in the outcome's message.
 */
export async function evictPods(input: EvictPodsInput, kube: RepairKube, options: EvictPodsOptions = {}): Promise<EvictionOutcome[]> {
  const now = options.now ?? (() => new Date());
  const reportingInstance = options.reportingInstance ?? hostname();
  const { namespace } = input;
  const errors = new Map<string, unknown>();
  let done = 0;

  const evictOne = async (request: EvictionRequest): Promise<EvictionOutcome> => {
    let outcome: EvictionOutcome;
    try {
      const response = await kube.core.createNamespacedPodEvictionWithHttpInfo({
        name: request.name,
        namespace,
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: request.name, namespace },
          deleteOptions: { gracePeriodSeconds: input.gracePeriodSeconds, preconditions: { uid: request.uid } },
        },
        fieldManager: FIELD_MANAGER,
      });
      const at = now();
      outcome = { uid: request.uid, name: request.name, result: 'evicted', httpStatus: response.httpStatusCode, message: 'evicted', at: at.toISOString() };
      const eventProblem = await recordEvictionEvent(kube, namespace, request, at, reportingInstance);
      if (eventProblem !== null) outcome.message = `evicted; the Event was not recorded: ${eventProblem}`;
    } catch (error) {
      errors.set(request.uid, error);
      outcome = { uid: request.uid, name: request.name, ...classifyEvictionError(error), at: now().toISOString() };
      if (outcome.result !== 'gone') await options.refusals?.record({ namespace, name: request.name, uid: request.uid }, 'evict the pod', error, options.log ?? (() => undefined));
    }
    options.onProgress?.({ done: ++done, total: input.evictions.length });
    return outcome;
  };

  const outcomes = await mapBounded(input.evictions, EVICTION_CONCURRENCY, evictOne);
  const systemic = systemicFailure(outcomes, errors);
  if (systemic !== undefined) throw toActivityFailure(systemic, `evict ${outcomes.length} pod(s) in namespace ${namespace}`);
  return outcomes;
}

/** Records the eviction Event; null when recorded (409: already recorded by an earlier attempt), else why not. */
async function recordEvictionEvent(kube: RepairKube, namespace: string, request: EvictionRequest, at: Date, reportingInstance: string): Promise<string | null> {
  try {
    await kube.events.createNamespacedEvent({ namespace, body: evictionEvent(namespace, request, at, reportingInstance), fieldManager: FIELD_MANAGER });
    return null;
  } catch (error) {
    if (kubernetesErrorStatus(error) === 409) return null;
    const status = kubernetesErrorStatus(error);
    return status === undefined ? describeError(error) : `HTTP ${status}: ${apiserverStatus((error as { body?: unknown }).body).message ?? ''}`;
  }
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
  const refusals = podWriteRefusals('repair', { events: kube.events, ...(options.refusalMetrics && { metrics: options.refusalMetrics }), reportingInstance: hostname() });
  return {
    async listFailingPods(namespace: string): Promise<RepairObservation> {
      const context = Context.current();
      try {
        const observation = await listFailingPods(namespace, kube, { onProgress: (progress) => context.heartbeat(progress) });
        context.log.info('repair sweep listed failing pods', { namespace, podCount: observation.podCount, failing: observation.failing.length });
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

/**
 * Repair's evictions: the ones the workflow decided, a few at a time, each recorded as an Event.
 *
 * Evictions go through the policy/v1 Eviction API, never a delete, so the apiserver enforces
 * PodDisruptionBudgets; each names the pod's UID as a precondition, so a replacement that
 * took the same name (a StatefulSet pod) is never evicted in its place.
 */
import { V1MicroTime, type EventsV1Event } from '@kubernetes/client-node';
import {
  EVENT_REPORTING_CONTROLLER,
  EVICTION_EVENT_REASON,
  FIELD_MANAGER,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from '../../domain/shared/keys';
import type { EvictionOutcome, EvictionRequest, EvictionResult, EvictPodsInput } from '../../domain/repair/repair-types';
import { describeError } from '../../platform/errors';
import { hostname } from 'node:os';
import { kubernetesErrorStatus } from '../../platform/kubernetes';
import { toActivityFailure } from '../shared/kubernetes-errors';
import { apiserverStatus, EVENT_NOTE_MAX_BYTES, truncateUtf8, type PodWriteRefusals, type RefusalLog } from '../shared/pod-write-refusals';
import type { RepairKube } from './repair-kube';

/** Evictions in flight at once: enough to finish a sweep's few evictions quickly, gentle on the apiserver. */
export const EVICTION_CONCURRENCY = 4;

/**
 * What a failed eviction request means for repair. 404: the pod is gone. 409 from the UID
 * precondition: the name now belongs to a replacement, so the pod we meant is gone too.
 * 429: a PodDisruptionBudget refuses now; its reason is in the message and causes.
 * Anything else, network errors included: failed.
 */
export function classifyEvictionError(error: unknown): {
  result: Exclude<EvictionResult, 'evicted'>;
  httpStatus?: number;
  message: string;
} {
  const httpStatus = kubernetesErrorStatus(error);
  if (httpStatus === undefined) return { result: 'failed', message: `eviction request failed: ${describeError(error)}` };
  const status = apiserverStatus((error as { body?: unknown }).body);
  const explanation =
    [status.message, ...status.causes.filter((c) => c !== status.message)].filter(Boolean).join('; ') || `HTTP ${httpStatus}`;
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
  const which =
    watchdogs.length === 0 ? 'no error watchdog recorded' : `watchdog${watchdogs.length > 1 ? 's' : ''} ${watchdogs.join('; ')}`;
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
      outcome = {
        uid: request.uid,
        name: request.name,
        result: 'evicted',
        httpStatus: response.httpStatusCode,
        message: 'evicted',
        at: at.toISOString(),
      };
      const eventProblem = await recordEvictionEvent(kube, namespace, request, at, reportingInstance);
      if (eventProblem !== null) outcome.message = `evicted; the Event was not recorded: ${eventProblem}`;
    } catch (error) {
      errors.set(request.uid, error);
      outcome = { uid: request.uid, name: request.name, ...classifyEvictionError(error), at: now().toISOString() };
      if (outcome.result !== 'gone')
        await options.refusals?.record(
          { namespace, name: request.name, uid: request.uid },
          'evict the pod',
          error,
          options.log ?? (() => undefined),
        );
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
async function recordEvictionEvent(
  kube: RepairKube,
  namespace: string,
  request: EvictionRequest,
  at: Date,
  reportingInstance: string,
): Promise<string | null> {
  try {
    await kube.events.createNamespacedEvent({
      namespace,
      body: evictionEvent(namespace, request, at, reportingInstance),
      fieldManager: FIELD_MANAGER,
    });
    return null;
  } catch (error) {
    if (kubernetesErrorStatus(error) === 409) return null;
    const status = kubernetesErrorStatus(error);
    return status === undefined
      ? describeError(error)
      : `HTTP ${status}: ${apiserverStatus((error as { body?: unknown }).body).message ?? ''}`;
  }
}

/**
 * Recording a write the apiserver refused for one pod, the same way in every loop over many
 * pods (watchdog sweep, repair, data rollouts): a pino log line naming the pod and reason, the
 * metric `autocrane_pod_write_refusals_total{loop,namespace,reason}`, and a Warning Event on
 * the pod (reason `AutoCraneWriteRefused`) where `kubectl describe pod` shows it. The pod then
 * backs off (domain/shared/pod-write-refusal.ts), so the Event and the refused write are not repeated
 * every sweep.
 */
import { V1MicroTime, type EventsV1Api, type EventsV1Event } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import {
  EVENT_REPORTING_CONTROLLER,
  FIELD_MANAGER,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  WRITE_REFUSED_EVENT_REASON,
} from '../../domain/shared/keys';
import {
  backsOff,
  classifyPodWriteRefusal,
  PodBackoff,
  type ApiserverAnswer,
  type PodBackoffEntry,
  type PodWriteRefusalClass,
  type PodWriteRefusalReason,
} from '../../domain/shared/pod-write-refusal';
import { describeError } from '../../platform/errors';
import { kubernetesErrorStatus } from '../../platform/kubernetes';
import { METRICS_PREFIX } from '../../platform/metrics';

/** The loops that write to many pods, as the metric's `loop` label. */
export type PodWriteLoop = 'watchdog-sweep' | 'repair' | 'data-rollout';

export interface ApiserverStatus {
  message?: string;
  reason?: string;
  causes: string[];
}

/** The Status object the apiserver answers errors with, when the body is one. */
export function apiserverStatus(body: unknown): ApiserverStatus {
  try {
    const status: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    if (!status || typeof status !== 'object') return { causes: [] };
    const { message, reason, details } = status as { message?: unknown; reason?: unknown; details?: { causes?: unknown } };
    const causes = Array.isArray(details?.causes)
      ? details.causes.flatMap((c: unknown) =>
          c && typeof c === 'object' && typeof (c as { message?: unknown }).message === 'string'
            ? [(c as { message: string }).message]
            : [],
        )
      : [];
    return {
      message: typeof message === 'string' ? message : undefined,
      reason: typeof reason === 'string' ? reason : undefined,
      causes,
    };
  } catch {
    return { causes: [] }; // not a Status (e.g. a proxy's HTML page): the HTTP code has to do
  }
}

/** What the apiserver answered a failed request with: its HTTP status and its message. */
export function apiserverAnswer(error: unknown): ApiserverAnswer {
  const httpStatus = kubernetesErrorStatus(error);
  if (httpStatus === undefined) return { message: describeError(error) };
  const status = apiserverStatus((error as { body?: unknown }).body);
  const message = [status.message, ...status.causes.filter((c) => c !== status.message)].filter(Boolean).join('; ') || `HTTP ${httpStatus}`;
  return { httpStatus, message };
}

/** Cuts text to at most maxBytes of UTF-8, marking the cut with an ellipsis. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let cut = '';
  for (const ch of text) {
    if (Buffer.byteLength(cut + ch) > maxBytes - Buffer.byteLength('…')) break;
    cut += ch;
  }
  return `${cut}…`;
}

/** Byte limit of an events.k8s.io/v1 Event's note. */
export const EVENT_NOTE_MAX_BYTES = 1024;

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** One refusal as recorded. */
export interface PodWriteRefusal extends PodWriteRefusalClass, ApiserverAnswer {
  pod: string;
  /** The pod's backoff after this refusal, for refusals that are the pod's own. */
  backoff?: PodBackoffEntry;
}

export interface PodWriteRefusalMetrics {
  record(loop: PodWriteLoop, namespace: string, reason: PodWriteRefusalReason): void;
}

const metricsByRegistry = new WeakMap<Registry, PodWriteRefusalMetrics>();

export function createPodWriteRefusalMetrics(registry: Registry): PodWriteRefusalMetrics {
  const existing = metricsByRegistry.get(registry);
  if (existing) return existing;
  const counter = new Counter({
    name: `${METRICS_PREFIX}pod_write_refusals_total`,
    help:
      'Writes to one pod that the apiserver refused, by loop (watchdog-sweep, repair, data-rollout) and reason ' +
      '(too-large, disruption-budget, denied, webhook-failed, forbidden, invalid, conflict, rejected, unavailable); the loop went on with the other pods.',
    labelNames: ['loop', 'namespace', 'reason'] as const,
    registers: [registry],
  });
  const metrics: PodWriteRefusalMetrics = { record: (loop, namespace, reason) => counter.inc({ loop, namespace, reason }) };
  metricsByRegistry.set(registry, metrics);
  return metrics;
}

/** Where refusals are logged: pino's (fields, message) order; the activity's logger is adapted to it. */
export type RefusalLog = (fields: Record<string, unknown>, message: string) => void;

export interface PodWriteRefusalsDeps {
  events?: Pick<EventsV1Api, 'createNamespacedEvent'>;
  metrics?: PodWriteRefusalMetrics;
  backoff?: PodBackoff;
  now?: () => Date;
  /** Names this worker in the Events it records. */
  reportingInstance?: string;
}

export function writeRefusedEventName(pod: PodRef, at: Date): string {
  const suffix = `.refused.${pod.uid.toLowerCase()}.${at.getTime()}`;
  // Cut the pod name so the whole stays a DNS subdomain: no label may end in '-' or '.'.
  return `${pod.name.slice(0, 253 - suffix.length).replace(/[-.]+$/, '')}${suffix}`;
}

export function writeRefusedEvent(
  pod: PodRef,
  loop: PodWriteLoop,
  action: string,
  refusal: PodWriteRefusal,
  at: Date,
  reportingInstance: string,
): EventsV1Event {
  const retry = refusal.backoff
    ? `; not tried again before ${new Date(refusal.backoff.retryAt).toISOString()} (refusal ${refusal.backoff.attempts} in a row)`
    : '';
  const http = refusal.httpStatus === undefined ? 'no answer' : `HTTP ${refusal.httpStatus}`;
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    // One Event per refusal (the backoff keeps them few), named by pod UID and time: Events
    // validate a generateName prefix as a whole name, so a `<pod>.` prefix is refused.
    metadata: { name: writeRefusedEventName(pod, at), namespace: pod.namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
    eventTime: new V1MicroTime(at.getTime()),
    reportingController: EVENT_REPORTING_CONTROLLER,
    reportingInstance: reportingInstance.slice(0, 128),
    action: 'Write',
    reason: WRITE_REFUSED_EVENT_REASON,
    type: 'Warning',
    regarding: { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
    note: truncateUtf8(
      `AutoCrane ${loop} could not ${action} (${refusal.reason}, ${http}): ${refusal.message}${retry}`,
      EVENT_NOTE_MAX_BYTES,
    ),
  };
}

/** A refusal in one line: its reason, the apiserver's status and message. */
export const describeRefusal = (refusal: Pick<PodWriteRefusal, 'reason' | 'httpStatus' | 'message'>): string =>
  `${refusal.reason}, ${refusal.httpStatus === undefined ? 'no answer' : `HTTP ${refusal.httpStatus}`}: ${refusal.message}`;

/**
 * The refusal recorder of one loop's activities. `record` never throws: a refusal that could
 * not even be told by Event is still logged and counted.
 */
export function podWriteRefusals(loop: PodWriteLoop, deps: PodWriteRefusalsDeps = {}) {
  const backoff = deps.backoff ?? new PodBackoff();
  const now = deps.now ?? (() => new Date());
  return {
    backoff,
    /** The pod's backoff when a write to it must wait, else undefined. */
    blocked: (pod: PodRef): PodBackoffEntry | undefined => (pod.uid ? backoff.blocked(pod.uid, now().getTime()) : undefined),
    succeeded: (pod: PodRef): void => {
      if (pod.uid) backoff.succeeded(pod.uid);
    },
    /** Classifies, logs, counts and (for a refusal that is the pod's own) backs off and tells the pod by Event. */
    async record(pod: PodRef, action: string, error: unknown, log: RefusalLog): Promise<PodWriteRefusal> {
      const answer = apiserverAnswer(error);
      const refusal: PodWriteRefusal = { pod: pod.name, ...classifyPodWriteRefusal(answer), ...answer };
      const at = now();
      if (backsOff(refusal) && pod.uid) refusal.backoff = backoff.refused(pod.uid, at.getTime(), describeRefusal(refusal));
      deps.metrics?.record(loop, pod.namespace, refusal.reason);
      let eventProblem: string | undefined;
      if (backsOff(refusal) && deps.events && pod.uid) {
        try {
          const body = writeRefusedEvent(pod, loop, action, refusal, at, deps.reportingInstance ?? 'autocrane');
          await deps.events.createNamespacedEvent({ namespace: pod.namespace, body, fieldManager: FIELD_MANAGER });
        } catch (eventError) {
          eventProblem = apiserverAnswer(eventError).message;
        }
      }
      log(
        {
          loop,
          namespace: pod.namespace,
          pod: pod.name,
          uid: pod.uid,
          reason: refusal.reason,
          httpStatus: refusal.httpStatus,
          apiserverMessage: refusal.message,
          ...(refusal.backoff && { attempts: refusal.backoff.attempts, retryAt: new Date(refusal.backoff.retryAt).toISOString() }),
          ...(eventProblem !== undefined && { eventNotRecorded: eventProblem }),
        },
        `${loop}: apiserver refused to ${action} (${refusal.reason}); the loop goes on`,
      );
      return refusal;
    },
  };
}

export type PodWriteRefusals = ReturnType<typeof podWriteRefusals>;

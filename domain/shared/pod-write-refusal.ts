/**
 * What a refused write to one object means for a loop over many (the watchdog sweep, repair,
 * data rollouts): a refusal that is that object's own (its annotations are full, a webhook
 * denied it, it conflicts however often we re-read it) is recorded for that object and the
 * loop goes on; only an apiserver that cannot be reached, or that refuses every write, fails
 * the loop's activity. And a pod refused for its own reasons is not retried every sweep: it
 * backs off, exponentially, per pod UID.
 *
 * Pure: no I/O, the clock is passed in.
 */

/** The apiserver's limit on the total size of an object's annotations (keys and values), in bytes. */
export const ANNOTATIONS_TOTAL_LIMIT_BYTES = 256 * 1024;

/**
 * Why a write was refused, as the metric's `reason` label says it:
 * - too-large: the object would exceed a size limit (annotations over 256 KiB, request too large);
 * - disruption-budget: an eviction a PodDisruptionBudget does not allow now (429);
 * - denied: an admission webhook or policy denied it;
 * - webhook-failed: an admission webhook that selects this object could not be called and fails
 *   closed (the apiserver answers 500 "failed calling webhook"); other objects go through;
 * - forbidden: 403 from authorization;
 * - invalid: 400 or 422 for another reason;
 * - conflict: 409 still after the writer's re-reads;
 * - rejected: another 4xx;
 * - unavailable: no answer, 429 or 5xx (not the object's fault; never backed off).
 */
export const POD_WRITE_REFUSAL_REASONS = [
  'too-large',
  'disruption-budget',
  'denied',
  'webhook-failed',
  'forbidden',
  'invalid',
  'conflict',
  'rejected',
  'unavailable',
] as const;
export type PodWriteRefusalReason = (typeof POD_WRITE_REFUSAL_REASONS)[number];

export interface ApiserverAnswer {
  /** The HTTP status, absent when no answer came (network error, timeout). */
  httpStatus?: number;
  /** The apiserver's message (its Status object's), or a description of the error. */
  message: string;
}

export interface PodWriteRefusalClass {
  reason: PodWriteRefusalReason;
  /**
   * Whether the refusal may be the apiserver's own rather than this object's: no answer, bad
   * credentials, 403 from authorization, 429, 5xx. A loop fails only when every write failed
   * so (see failsTheLoop).
   */
  systemic: boolean;
}

const WEBHOOK_DENIAL = /admission webhook .* denied|denied the request|AdmissionPolicy .* denied/i;
/** The apiserver's words when a webhook with failurePolicy Fail could not be reached or answered nonsense. */
const WEBHOOK_FAILED = /failed calling (admission )?webhook|failed to call webhook|webhook .* (timed out|timeout)/i;
const TOO_LARGE = /too long|too large|exceeds? the maximum|request entity too large/i;

export function classifyPodWriteRefusal(answer: ApiserverAnswer): PodWriteRefusalClass {
  const { httpStatus, message } = answer;
  if (httpStatus === 429 && /disruption budget/i.test(message)) return { reason: 'disruption-budget', systemic: false };
  if (httpStatus === undefined || httpStatus === 429 || httpStatus >= 500) {
    // etcd's "request is too large" comes as a 500 but is the object's own.
    if (httpStatus !== undefined && TOO_LARGE.test(message)) return { reason: 'too-large', systemic: false };
    // A webhook that selects some objects only: the apiserver answered, for this object.
    if (httpStatus !== undefined && WEBHOOK_FAILED.test(message)) return { reason: 'webhook-failed', systemic: false };
    return { reason: 'unavailable', systemic: true };
  }
  if (WEBHOOK_DENIAL.test(message)) return { reason: 'denied', systemic: false };
  if (httpStatus === 413 || ((httpStatus === 422 || httpStatus === 400) && TOO_LARGE.test(message)))
    return { reason: 'too-large', systemic: false };
  if (httpStatus === 401) return { reason: 'forbidden', systemic: true };
  if (httpStatus === 403) return { reason: 'forbidden', systemic: true };
  if (httpStatus === 400 || httpStatus === 422) return { reason: 'invalid', systemic: false };
  if (httpStatus === 409) return { reason: 'conflict', systemic: false };
  return { reason: 'rejected', systemic: false };
}

/**
 * Systemic refusals a loop needs before it fails: one or two writes that got a 5xx, a 429 or no
 * answer say little about the apiserver (a pod's own webhook, one slow request), and failing
 * for them would stop the loop for every other object, again at every run.
 */
export const SYSTEMIC_REFUSALS_TO_FAIL = 3;

export interface LoopWrites {
  /** Writes that went through. */
  succeeded: number;
  /** Writes refused, for any reason. */
  refused: number;
  /** Of those, refusals that may be the apiserver's own (see PodWriteRefusalClass.systemic). */
  systemic: number;
}

/**
 * Whether a loop's writes, taken together (a whole sweep, not one page of it), say the
 * apiserver itself is down or refuses everything: no write succeeded, every refusal systemic,
 * and at least SYSTEMIC_REFUSALS_TO_FAIL of them. One pod's refusal beside others' success, a
 * pod-specific refusal, or a lone 5xx never fails the loop.
 */
export function failsTheLoop(writes: LoopWrites): boolean {
  return writes.succeeded === 0 && writes.systemic >= SYSTEMIC_REFUSALS_TO_FAIL && writes.systemic === writes.refused;
}

/** Counts of a loop's writes from the refusals it recorded. */
export const loopWrites = (succeeded: number, failures: readonly PodWriteRefusalClass[]): LoopWrites => ({
  succeeded,
  refused: failures.length,
  systemic: failures.filter((f) => f.systemic).length,
});

/** Whether a refusal is the pod's own and worth backing off for (not retried every sweep). */
export const backsOff = (refusal: PodWriteRefusalClass): boolean => !refusal.systemic;

export interface PodBackoffOptions {
  /** Wait after the first refusal. */
  baseMs: number;
  /** The longest wait (the doubling stops there). */
  maxMs: number;
  /** Pods remembered at most; the oldest entries go first (a worker must not grow without bound). */
  maxEntries: number;
}

/** Defaults: 1 min, doubling up to 1 h; room for 10,000 pods. */
export const DEFAULT_POD_BACKOFF: PodBackoffOptions = { baseMs: 60_000, maxMs: 3_600_000, maxEntries: 10_000 };

export interface PodBackoffEntry {
  /** Refusals in a row. */
  attempts: number;
  /** Epoch ms before which no write to the pod is tried. */
  retryAt: number;
  /** The refusal that started this wait, for people (a loop that skips the pod can still say why). */
  why?: string;
}

/**
 * Per-pod exponential backoff after refused writes, keyed by pod UID (a recreated pod starts
 * afresh), in the memory of one worker: a worker restart forgets it, which costs one refused
 * write per pod, no more.
 */
export class PodBackoff {
  private readonly entries = new Map<string, PodBackoffEntry>();

  constructor(private readonly options: PodBackoffOptions = DEFAULT_POD_BACKOFF) {}

  /** The pod's backoff if a write must not be tried at `now`, else undefined. */
  blocked(uid: string, now: number): PodBackoffEntry | undefined {
    const entry = this.entries.get(uid);
    return entry !== undefined && now < entry.retryAt ? entry : undefined;
  }

  /** Records a refusal at `now` and returns the pod's new backoff. */
  refused(uid: string, now: number, why?: string): PodBackoffEntry {
    const attempts = (this.entries.get(uid)?.attempts ?? 0) + 1;
    const waitMs = Math.min(this.options.baseMs * 2 ** (attempts - 1), this.options.maxMs);
    const entry: PodBackoffEntry = { attempts, retryAt: now + waitMs, ...(why === undefined ? {} : { why }) };
    this.entries.delete(uid); // re-inserted last: Map order is then the age order
    this.entries.set(uid, entry);
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return entry;
  }

  /** A write went through: the pod starts afresh. */
  succeeded(uid: string): void {
    this.entries.delete(uid);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * A stage's gate: from what the updated pods look like now, pass, wait or fail. Named for the
 * stage, not the feature: app rollouts and data rollouts both gate their stages with it.
 *
 * Order of the checks (the first that decides wins):
 *  1. fail: more than maxErrorPods updated pods have an error-level watchdog (only the named
 *     watchdogs count when gate.watchdogs is set). Checked first and always, even while pods
 *     are still starting, so a bad version is caught as soon as a watchdog says so.
 *  2. fail: gate.noData 'fail' and an updated pod that no (named) watchdog watches.
 *  3. wait while the stage is not settled: fewer updated pods than expected; pods not ready;
 *     pods ready for less than minReadySeconds; under noData 'wait', pods without watchdog
 *     data. It fails instead once it has been unsettled for progressDeadlineSeconds, counted
 *     from the latest of (see progressAnchor):
 *       - the stage's start (while it scales: pods that never come up);
 *       - the bake's start (`bakeStartedAt`: the scaling finished with every pod ready, or an
 *         operator's re-gate, or the start of a hold);
 *       - the last time an earlier evaluation saw the stage settled (`memory.lastSettledAt`).
 *     So a readiness blip or a replaced pod during a long bake holds the gate; it fails only
 *     if the stage stays unsettled for the whole deadline.
 *  4. wait: the scaling has not finished, or the bake has not (unless promote skipped it).
 *     The bake counts from the latest of its start, the moment the stage last became settled
 *     again (`memory.settledSince`) and the latest ready time of an updated pod (a pod replaced
 *     or back from a blip between two looks): after an unsettled spell the bake starts over, so every
 *     updated pod, a replacement included, is ready and watched for a whole bake before the
 *     stage passes (Flagger halts its analysis while the canary is not ready; we ask for the
 *     clean time to be continuous, since a replaced pod's watchdogs have seen nothing yet).
 *  5. with `evidence` (what the caller watched and probed itself; see
 *     domain/gate/stage-gate-evidence.ts): wait until the bake's watched time, not its wall time,
 *     reaches bakeSeconds, and until every declared probe of every updated pod has a fresh
 *     result of the gate's own (probed since the clean start). A failing result counts as an
 *     error watchdog in check 1. Looks without every result fresh count as unsettled for the
 *     progress deadline (from the last complete look), so a prober that never gets through
 *     fails the stage rather than holding it for ever.
 *  6. pass.
 *
 * The memory is the caller's to keep: each result carries the next one (`memory`), to be
 * passed to the next evaluation of the same stage. Without it (a first look), the stage counts
 * as never seen settled, and a stage settled at its first look counts as settled since its bake
 * began (every pod was ready when the scaling finished).
 *
 * "Watchdog data" for a pod (noData): a status annotation of a (named) watchdog with a
 * recognised level, or a probe declared for it on the pod; a pod with neither has nothing
 * watching it. With named watchdogs, every named one must have data on the pod. A declared
 * probe is only a promise of data: with `evidence`, the bake passes only once the gate's own
 * probe of it is fresh (step 5), since the sweep writes a status only on a transition and a
 * stalled sweep writes nothing.
 *
 * Pure: no I/O, no clock (`now` is an input), safe to import from workflows.
 */
import {
  accountWatch,
  describeMissing,
  describeUnwatched,
  isWatchMemory,
  latestResults,
  missingEvidence,
  resultKey,
  seconds,
  type GateEvidence,
  type WatchMemory,
} from './stage-gate-evidence';
import type { GatePolicy } from '../rollout/rollout-spec';
import { parseStatusTime } from '../watchdog/watchdog-status';

export interface WatchdogObservation {
  name: string;
  /** As read from the pod: info, warning, error, or anything else (unknown). */
  level: string;
  /** RFC 3339 time of the status, null when it could not be read. */
  time: string | null;
  message?: string;
}

export interface PodObservation {
  name: string;
  ready: boolean;
  /** RFC 3339 time the pod's Ready condition last became true; null when not ready or unknown. */
  readySince: string | null;
  /** The pod's watchdog statuses. */
  watchdogs: WatchdogObservation[];
  /** Names of the probes declared on the pod (`probe.autocrane.io/<name>`). */
  probes?: string[];
}

export type GatePolicyInput = Pick<GatePolicy, 'maxErrorPods' | 'minReadySeconds' | 'watchdogs' | 'noData' | 'progressDeadlineSeconds'>;

export interface GateInput {
  /** The stage's updated pods (running the new template), terminating ones left out. */
  pods: readonly PodObservation[];
  /** How many updated pods the stage should have. */
  expectedPods: number;
  policy: GatePolicyInput;
  /** RFC 3339 time the stage began (its scaling started): the progress deadline counts from it. */
  stageStartedAt: string;
  /** RFC 3339 time the stage's scaling finished, when the bake begins; null while scaling. */
  bakeStartedAt: string | null;
  bakeSeconds: number;
  /** promote: the rest of the bake is skipped (errors, readiness and data still count). */
  bakeSkipped?: boolean;
  /** What earlier evaluations of this stage saw (the previous result's `memory`); absent on a first look. */
  memory?: SettleMemory | null;
  /**
   * What the caller watched and probed itself. Every production caller gives it; without it
   * (older tests of the settling rules) the bake is wall time and a declared probe needs no result.
   */
  evidence?: GateEvidence;
  now: Date;
}

/** What the evaluations of a stage's gate saw of its settling, threaded from one to the next. */
export interface SettleMemory {
  /** RFC 3339: when the stage's current settled spell began; null when it was unsettled at the last look. */
  settledSince: string | null;
  /** RFC 3339: the last time the stage was seen settled; null when it never was. */
  lastSettledAt: string | null;
  /** With evidence: the watched time of the current clean spell (absent from memories made before it). */
  watch?: WatchMemory;
}

export type GateVerdict = 'pass' | 'wait' | 'fail';

export interface ErroringPod {
  pod: string;
  watchdogs: { name: string; time: string | null; message?: string }[];
}

export interface GateResult {
  verdict: GateVerdict;
  /** For people: names the pods and watchdogs concerned. */
  reason: string;
  counts: { expected: number; updated: number; ready: number; erroring: number };
  erroring: ErroringPod[];
  /**
   * RFC 3339 time at which the verdict may change by the passing of time alone (bake or
   * minReadySeconds over, progress deadline reached); null when time alone changes nothing.
   * A workflow can sleep until then, or until the pods change.
   */
  recheckAt: string | null;
  /** The memory to pass to the next evaluation of the same stage (unchanged by a failure). */
  memory: SettleMemory;
}

/** A memory as read back from an activity's heartbeat details (untrusted JSON). */
export function isSettleMemory(value: unknown): value is SettleMemory {
  if (value === null || typeof value !== 'object') return false;
  const { settledSince, lastSettledAt, watch } = value as Record<string, unknown>;
  return (
    (settledSince === null || typeof settledSince === 'string') &&
    (lastSettledAt === null || typeof lastSettledAt === 'string') &&
    (watch === undefined || isWatchMemory(watch))
  );
}

/** How many pods a reason lists by name before "and N more". */
export const REASON_POD_LIMIT = 5;

function listPods(names: readonly string[]): string {
  const shown = names.slice(0, REASON_POD_LIMIT).join(', ');
  return names.length > REASON_POD_LIMIT ? `${shown} and ${names.length - REASON_POD_LIMIT} more` : shown;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

const iso = (ms: number): string => new Date(ms).toISOString();

function timeOf(text: string | null): number | undefined {
  if (text === null) return undefined;
  return parseStatusTime(text)?.getTime();
}

const KNOWN_LEVELS = new Set(['info', 'warning', 'error']);

/**
 * Where the progress deadline counts from: the latest of the stage's start, the bake's start
 * and the last time the stage was seen settled (ties go to the earlier kind, for the reason).
 */
export function progressAnchor(
  stageStart: number,
  bakeStart: number | null,
  lastSettled: number | undefined,
): { at: number; from: 'stage' | 'bake' | 'settled' } {
  let anchor: { at: number; from: 'stage' | 'bake' | 'settled' } = { at: stageStart, from: 'stage' };
  if (bakeStart !== null && bakeStart > anchor.at) anchor = { at: bakeStart, from: 'bake' };
  if (lastSettled !== undefined && lastSettled > anchor.at) anchor = { at: lastSettled, from: 'settled' };
  return anchor;
}

/** Evaluates a stage's gate; see the module comment for the order of the checks. */
export function evaluateGate(input: GateInput): GateResult {
  const { pods, policy, now } = input;
  const nowMs = now.getTime();
  const named = policy.watchdogs === undefined ? undefined : new Set(policy.watchdogs);
  const counts = (watchdog: string) => named === undefined || named.has(watchdog);

  const latest = latestResults(input.evidence?.probes ?? []);
  const erroring: ErroringPod[] = [];
  for (const pod of pods) {
    const errors: ErroringPod['watchdogs'] = pod.watchdogs
      .filter((w) => counts(w.name) && w.level.toLowerCase() === 'error')
      .map((w) => (w.message === undefined ? { name: w.name, time: w.time } : { name: w.name, time: w.time, message: w.message }));
    // The gate's own probe failing counts as that watchdog in error (once, beside its status).
    for (const probe of pod.probes ?? []) {
      const r = latest.get(resultKey(pod.name, probe));
      if (r === undefined || r.ok || !counts(probe) || errors.some((e) => e.name === probe)) continue;
      errors.push({ name: probe, time: r.at, message: `probed by the gate: ${r.reason ?? 'failed'}` });
    }
    if (errors.length > 0) erroring.push({ pod: pod.name, watchdogs: errors });
  }
  const ready = pods.filter((p) => p.ready);
  const previous: SettleMemory = input.memory ?? { settledSince: null, lastSettledAt: null };
  let memory = previous;
  const result = (verdict: GateVerdict, reason: string, recheckAt: number | null = null): GateResult => ({
    verdict,
    reason,
    counts: { expected: input.expectedPods, updated: pods.length, ready: ready.length, erroring: erroring.length },
    erroring,
    recheckAt: recheckAt === null ? null : iso(recheckAt),
    memory,
  });

  // 1. Errors.
  if (erroring.length > policy.maxErrorPods) {
    const detail = erroring.slice(0, REASON_POD_LIMIT).map((e) => `${e.pod} (${e.watchdogs.map((w) => w.name).join(', ')})`);
    const more = erroring.length > REASON_POD_LIMIT ? ` and ${erroring.length - REASON_POD_LIMIT} more` : '';
    return result(
      'fail',
      `${plural(erroring.length, 'updated pod has', 'updated pods have')} an error watchdog, more than the ${policy.maxErrorPods} allowed: ${detail.join(', ')}${more}`,
    );
  }

  // 2. No data, under 'fail'.
  const hasData = (pod: PodObservation, watchdog?: string) =>
    pod.watchdogs.some((w) => (watchdog === undefined ? counts(w.name) : w.name === watchdog) && KNOWN_LEVELS.has(w.level.toLowerCase())) ||
    (pod.probes ?? []).some((p) => (watchdog === undefined ? counts(p) : p === watchdog));
  const missingData = pods.filter((pod) => (named === undefined ? !hasData(pod) : [...named].some((w) => !hasData(pod, w))));
  const watchedBy = named === undefined ? 'no watchdog' : `not every one of the watchdogs ${[...named].join(', ')}`;
  if (policy.noData === 'fail' && missingData.length > 0) {
    return result('fail', `${watchedBy} watches ${listPods(missingData.map((p) => p.name))} (gate.noData is fail)`);
  }

  // 3. Pods settling, bounded by the progress deadline.
  const stageStart = timeOf(input.stageStartedAt);
  if (stageStart === undefined) throw new RangeError(`stageStartedAt '${input.stageStartedAt}' is not an RFC 3339 time`);
  const bakeStart = input.bakeStartedAt === null ? null : timeOf(input.bakeStartedAt);
  if (bakeStart === undefined) throw new RangeError(`bakeStartedAt '${input.bakeStartedAt}' is not an RFC 3339 time`);
  const anchor = progressAnchor(stageStart, bakeStart, timeOf(previous.lastSettledAt));
  const deadline = anchor.at + policy.progressDeadlineSeconds * 1000;
  const unsettled = (reason: string, recheckAt: number | null): GateResult => {
    memory = { settledSince: null, lastSettledAt: previous.lastSettledAt, ...(previous.watch ? { watch: previous.watch } : {}) };
    if (nowMs >= deadline) {
      const since =
        anchor.from === 'stage'
          ? `stage not settled ${policy.progressDeadlineSeconds}s after it began`
          : anchor.from === 'bake'
            ? `stage not settled ${policy.progressDeadlineSeconds}s after its bake began at ${iso(anchor.at)}`
            : `stage unsettled for ${policy.progressDeadlineSeconds}s since it was last settled at ${iso(anchor.at)}`;
      return result('fail', `${since}: ${reason}`);
    }
    return result('wait', reason, recheckAt === null ? deadline : Math.min(recheckAt, deadline));
  };
  if (pods.length < input.expectedPods) {
    return unsettled(`${pods.length} of ${plural(input.expectedPods, 'updated pod', 'updated pods')} exist`, null);
  }
  const notReady = pods.filter((p) => !p.ready);
  if (notReady.length > 0) return unsettled(`not ready: ${listPods(notReady.map((p) => p.name))}`, null);
  if (policy.minReadySeconds > 0) {
    const minReadyMs = policy.minReadySeconds * 1000;
    const young: { name: string; until: number | undefined }[] = [];
    for (const pod of pods) {
      const since = timeOf(pod.readySince);
      if (since === undefined) young.push({ name: pod.name, until: undefined });
      else if (since + minReadyMs > nowMs) young.push({ name: pod.name, until: since + minReadyMs });
    }
    if (young.length > 0) {
      const known = young.flatMap((y) => (y.until === undefined ? [] : [y.until]));
      return unsettled(
        `ready for less than ${policy.minReadySeconds}s: ${listPods(young.map((y) => (y.until === undefined ? `${y.name} (ready time unknown)` : y.name)))}`,
        known.length > 0 ? Math.max(...known) : null,
      );
    }
  }
  if (policy.noData === 'wait' && missingData.length > 0) {
    return unsettled(`waiting for watchdog data: ${watchedBy} watches ${listPods(missingData.map((p) => p.name))}`, null);
  }

  // Settled. A first settling counts from the bake's start (every pod was ready as the scaling
  // finished); settling again after an unsettled spell counts from now.
  const settledSince =
    timeOf(previous.settledSince) ?? (previous.lastSettledAt === null && bakeStart !== null ? Math.min(bakeStart, nowMs) : nowMs);
  memory = { settledSince: iso(settledSince), lastSettledAt: iso(nowMs), ...(previous.watch ? { watch: previous.watch } : {}) };

  // 4. Scaling and bake.
  if (bakeStart === null) return result('wait', `scaling to ${plural(input.expectedPods, 'updated pod', 'updated pods')}`);
  // A pod that turned ready during the bake (a replacement, or back from a blip) may have done
  // so between two looks: its own ready time restarts the bake too.
  let latestReady: { at: number; pod: string } | undefined;
  for (const pod of pods) {
    const since = timeOf(pod.readySince);
    if (since !== undefined && since <= nowMs && (latestReady === undefined || since > latestReady.at))
      latestReady = { at: since, pod: pod.name };
  }
  const cleanSince = Math.max(bakeStart, settledSince, latestReady?.at ?? bakeStart);
  const bakeMs = input.bakeSeconds * 1000;
  const why =
    latestReady !== undefined && latestReady.at === cleanSince && latestReady.at > settledSince
      ? `when ${latestReady.pod} became ready`
      : 'when the stage settled again';
  const over = cleanSince > bakeStart ? ` (started over at ${iso(cleanSince)}, ${why})` : '';
  const allowed =
    erroring.length > 0
      ? `; ${erroring.length} in error, within the ${policy.maxErrorPods} allowed: ${listPods(erroring.map((e) => e.pod))}`
      : '';
  const passReason = (bake: string) => `${plural(pods.length, 'updated pod', 'updated pods')} ready, ${bake}${allowed}`;

  if (input.evidence === undefined) {
    const bakeEnd = cleanSince + bakeMs;
    if (input.bakeSkipped !== true && nowMs < bakeEnd) {
      const left = Math.ceil((bakeEnd - nowMs) / 1000);
      return result('wait', `baking: ${left}s of ${input.bakeSeconds}s left${over}`, bakeEnd);
    }
    // 6. Pass.
    return result(
      'pass',
      passReason(input.bakeSkipped === true && nowMs < bakeEnd ? 'bake skipped by promote' : `baked ${input.bakeSeconds}s`),
    );
  }

  // 5. The gate's own evidence: fresh probe results, and watched time.
  const { maxLookGapMs, maxProbeAgeMs } = input.evidence;
  const missing = missingEvidence(pods, counts, latest, cleanSince, nowMs, maxProbeAgeMs);
  const watch = accountWatch(
    isWatchMemory(previous.watch) ? previous.watch : undefined,
    cleanSince,
    nowMs,
    missing.length === 0,
    maxLookGapMs,
  );
  memory = { ...memory, watch };
  const unwatched = describeUnwatched(watch);
  if (missing.length > 0) {
    const lookedAt = timeOf(watch.lastLookAt) ?? cleanSince;
    const evidenceDeadline = lookedAt + policy.progressDeadlineSeconds * 1000;
    const what = `no fresh result of the gate's own probes since ${iso(Math.max(cleanSince, nowMs - maxProbeAgeMs))} for ${describeMissing(missing, REASON_POD_LIMIT)}`;
    if (nowMs >= evidenceDeadline)
      return result('fail', `stage not watched for ${policy.progressDeadlineSeconds}s since ${iso(lookedAt)}: ${what}`);
    return result('wait', `waiting for evidence: ${what}${unwatched === '' ? '' : `; ${unwatched}`}`, evidenceDeadline);
  }
  if (input.bakeSkipped !== true && watch.watchedMs < bakeMs) {
    const left = Math.ceil((bakeMs - watch.watchedMs) / 1000);
    return result(
      'wait',
      `baking: ${left}s of ${input.bakeSeconds}s left${over}${unwatched === '' ? '' : `; ${unwatched}`}`,
      nowMs + (bakeMs - watch.watchedMs),
    );
  }

  // 6. Pass.
  const probed = pods.some((p) => (p.probes ?? []).some(counts))
    ? `, every declared probe probed by the gate since ${iso(cleanSince)}`
    : '';
  const bake =
    input.bakeSkipped === true && watch.watchedMs < bakeMs
      ? 'bake skipped by promote'
      : `baked ${input.bakeSeconds}s watched (${seconds(watch.watchedMs)})`;
  return result('pass', passReason(`${bake}${probed}${unwatched === '' ? '' : `; ${unwatched}`}`));
}

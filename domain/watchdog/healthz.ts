/**
 * The watchdog healthz decision: whether a pod's `GET /healthz` sidecar answers 200 or 503.
 *
 * AutoCrane's contract: 200 iff the pod has had no error-level watchdog for LONGER than
 * MinReadySeconds (strict), 503 otherwise. Its AlwaysHealthyAfterSeconds option had no
 * effect; here it works.
 *
 * The rule, applied in this order (first match decides):
 *
 *  1. Always healthy: `alwaysHealthyAfterSeconds` is set and the sidecar has been running at
 *     least that long (now - startedAt >= alwaysHealthyAfterSeconds) → healthy, whatever the
 *     pod says and even when it could not be read.
 *  2. The pod could not be read (apiserver down, 403, pod gone...) → unhealthy.
 *  3. Some watchdog is error-level now → unhealthy. "Error-level" reads the declared level
 *     (the text before the first '/', case-insensitive), exactly as the health label and the
 *     prober do, so `Error/...` and an error whose time is garbled count too.
 *  4. Otherwise the pod is settled iff its NEWEST watchdog status time is older than
 *     MinReadySeconds: healthy iff now - newest > minReadySeconds (strict, in milliseconds;
 *     an age of exactly MinReadySeconds is unhealthy). With no status carrying a time (no
 *     watchdog at all, or only values whose time does not parse) → healthy: the pod shows no
 *     error at all.
 *
 * Why the newest status time of ANY watchdog (rule 4): annotations keep no history, so when a
 * watchdog is no longer in error the only record of when it stopped being one is the time of
 * the status that replaced it (the prober writes `info/<now>/error cleared` on recovery, and
 * writes only on transitions, so a status time is the time of that watchdog's last change).
 * The newest status time is therefore a lower bound on how long the pod has been free of
 * errors. It is conservative: a change that did not clear an error (info → warning, a fresh
 * `post-watchdog info`) also restarts the MinReadySeconds clock, because from the
 * annotations alone it cannot be told apart from a recovery. Consequences worth knowing:
 *  - a status time in the future (clock skew) keeps the pod unhealthy until that time plus
 *    MinReadySeconds has passed;
 *  - with MinReadySeconds 0 (the default) rule 4 is healthy unless the newest status is
 *    timestamped exactly now or later;
 *  - an error status that is DELETED (rather than replaced) leaves no trace, so rule 4 then
 *    only sees the remaining statuses' times.
 *
 * Pure: no I/O, no clock (times are passed in), safe to import from workflows.
 */
import type { ParsedStatus } from './watchdog-status';

/** What the decision reads from a watchdog: WatchdogRecord (readWatchdogs) satisfies it. */
export interface HealthzWatchdog extends Pick<ParsedStatus, 'declaredLevel' | 'time'> {
  name: string;
}

export interface HealthzInput {
  /** The pod's watchdogs, or why the pod could not be read. */
  watchdogs: readonly HealthzWatchdog[] | { readError: string };
  now: Date;
  /** Non-negative. */
  minReadySeconds: number;
  /** When set (non-negative), the sidecar answers healthy once it has run this long. */
  alwaysHealthyAfterSeconds?: number;
  /** When the sidecar process started. */
  startedAt: Date;
}

export interface HealthzDecision {
  healthy: boolean;
  /** One line saying which rule decided, for people reading the probe's body or the log. */
  reason: string;
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))}s`;

/** The decision described in the module comment. Never throws. */
export function decideHealthz(input: HealthzInput): HealthzDecision {
  const now = input.now.getTime();
  const { minReadySeconds, alwaysHealthyAfterSeconds } = input;

  if (alwaysHealthyAfterSeconds !== undefined) {
    const running = now - input.startedAt.getTime();
    if (running >= alwaysHealthyAfterSeconds * 1000) {
      return {
        healthy: true,
        reason: `always healthy: the sidecar has run ${seconds(running)}, at least --always-healthy-after-seconds ${alwaysHealthyAfterSeconds}`,
      };
    }
  }

  const { watchdogs } = input;
  if ('readError' in watchdogs) return { healthy: false, reason: `cannot read the pod: ${watchdogs.readError}` };
  const list = watchdogs;

  const errors = list.filter((w) => w.declaredLevel === 'error').map((w) => w.name);
  if (errors.length > 0) {
    const names = [...errors].sort().join(', ');
    return { healthy: false, reason: `watchdog${errors.length === 1 ? '' : 's'} in error: ${names}` };
  }

  let newest: HealthzWatchdog | undefined;
  for (const w of list) {
    if (w.time !== undefined && (newest?.time === undefined || w.time.getTime() > newest.time.getTime())) newest = w;
  }
  if (newest?.time === undefined) {
    return {
      healthy: true,
      reason: list.length === 0 ? 'no watchdog status on the pod' : 'no error watchdog (and no watchdog status with a readable time)',
    };
  }

  const age = now - newest.time.getTime();
  const since = `the newest watchdog status (${newest.name}, ${newest.time.toISOString()}) is ${seconds(age)} old`;
  if (age > minReadySeconds * 1000) {
    return { healthy: true, reason: `no error watchdog, and ${since}, more than min-ready ${minReadySeconds}s` };
  }
  return { healthy: false, reason: `no error watchdog, but ${since}, not more than min-ready ${minReadySeconds}s` };
}

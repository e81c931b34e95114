/**
 * Repair's decisions, as pure functions over plain data so the repair workflow
 * can call them deterministically and every rule is unit-tested here:
 *
 * - a pod is tracked by UID from its first failing sweep; a sweep in which it is not
 *   failing forgets it, so a pod that recovers, or a replacement under the same name,
 *   starts again from 0;
 * - once failing for `failingSweeps` consecutive sweeps it is a candidate for eviction;
 * - a candidate is held back, with a recorded reason, when: repair is paused; nothing would
 *   replace it (no controller); a rollout is changing its workload; no PDB covers it and the
 *   policy says to skip such pods; it is backing off after a refused or failed eviction; or
 *   evicting it would exceed the failing limit of its workload or of the namespace (counted
 *   over the evictions of the last `limitWindowSeconds`, including those planned in the
 *   same sweep; a refused or failed eviction evicted nothing and counts for nothing, so a
 *   sweep whose planned evictions were refused is planned again, see limitPlacesUnused);
 * - a 429 or another error keeps the pod queued and backs off exponentially in sweeps; a
 *   404 ends the work.
 */
import type { EvictionOutcome, EvictionRequest, FailingPod, HoldReason, RepairObservation, WorkloadRef } from './repair-types';
import { workloadKey } from './repair-types';

// ---------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------

/** A failing limit: a number of pods, or a percentage of the pods of the workload or namespace. */
export type FailingLimit = { count: number } | { percent: number };

export type UnprotectedPodsPolicy = 'skip' | 'evict';
export const UNPROTECTED_POD_POLICIES: readonly UnprotectedPodsPolicy[] = ['skip', 'evict'];

export interface RepairPolicy {
  /** Consecutive failing sweeps before a pod is evicted (≥ 1). */
  failingSweeps: number;
  intervalSeconds: number;
  gracePeriodSeconds: number;
  workloadLimit: FailingLimit;
  namespaceLimit: FailingLimit;
  limitWindowSeconds: number;
  unprotectedPods: UnprotectedPodsPolicy;
}

/** Parses `3` or `25%`; returns a message saying what is wrong otherwise. */
export function parseFailingLimit(text: string): FailingLimit | string {
  const trimmed = text.trim();
  const percent = /^(\d{1,3})%$/.exec(trimmed);
  if (percent) {
    const value = Number(percent[1]);
    return value <= 100 ? { percent: value } : `'${text}': a percentage must be from 0% to 100%`;
  }
  if (/^\d{1,6}$/.test(trimmed)) return { count: Number(trimmed) };
  return `'${text}': expected a count (e.g. 2) or a percentage (e.g. 25%)`;
}

export const formatFailingLimit = (limit: FailingLimit): string => ('percent' in limit ? `${limit.percent}%` : String(limit.count));

/**
 * The number of evictions a limit allows among `total` pods. A percentage rounds up, as
 * Kubernetes rounds maxUnavailable for PDBs' counterpart, and allows at least 1 when there
 * are pods and the percentage is not 0, so a small workload can still be repaired.
 */
export function resolveFailingLimit(limit: FailingLimit, total: number): number {
  if ('count' in limit) return limit.count;
  if (limit.percent === 0 || total <= 0) return 0;
  return Math.max(1, Math.ceil((total * limit.percent) / 100));
}

/** Sweeps to wait after the n-th refused or failed eviction of a pod: 1, 2, 4, 8, 8, … */
export const MAX_BACKOFF_SWEEPS = 8;
export const backoffSweeps = (attempts: number): number => Math.min(2 ** Math.max(0, attempts - 1), MAX_BACKOFF_SWEEPS);

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

export interface TrackedPod {
  uid: string;
  name: string;
  workload: WorkloadRef | null;
  failingSweeps: number;
  /** observedAt of the first sweep of the current failing streak. */
  failingSince: string;
  watchdogs: FailingPod['errorWatchdogs'];
  /** Refused or failed eviction attempts so far. */
  attempts: number;
  /** The sweep number from which an eviction may be tried again (backoff). */
  retryAtSweep: number;
}

export interface EvictionRecord {
  uid: string;
  name: string;
  workload: string;
  at: string;
  watchdogs: string[];
  failingSweeps: number;
  failingSince: string;
}

export interface RefusalRecord {
  uid: string;
  name: string;
  at: string;
  result: 'refused' | 'failed';
  httpStatus?: number;
  message: string;
  /** The attempt's number for this pod, and the sweep from which it will be tried again. */
  attempt: number;
  retryAtSweep: number;
}

export interface HeldPod {
  uid: string;
  name: string;
  workload: string | null;
  reason: HoldReason;
  detail: string;
}

export interface RepairTotals {
  sweeps: number;
  evicted: number;
  gone: number;
  refused: number;
  failed: number;
}

export interface RepairState {
  namespace: string;
  /** Sweeps done so far, across continue-as-new. */
  sweep: number;
  paused: boolean;
  /** Who paused and why, as given to the pause update. */
  pauseReason: string | null;
  /** Failing pods by UID. */
  tracked: Record<string, TrackedPod>;
  /** Evictions within the limit window, and at least the last RECENT_RECORDS. Oldest first. */
  evictions: EvictionRecord[];
  /** The last RECENT_RECORDS refused or failed evictions. Oldest first. */
  refusals: RefusalRecord[];
  /** Candidates the last sweep held back, with why. */
  heldBack: HeldPod[];
  lastSweepAt: string | null;
  /** The last sweep's error (e.g. the apiserver did not answer), cleared by a good sweep. */
  lastError: string | null;
  totals: RepairTotals;
}

export const RECENT_RECORDS = 50;

export function initialRepairState(namespace: string): RepairState {
  return {
    namespace,
    sweep: 0,
    paused: false,
    pauseReason: null,
    tracked: {},
    evictions: [],
    refusals: [],
    heldBack: [],
    lastSweepAt: null,
    lastError: null,
    totals: { sweeps: 0, evicted: 0, gone: 0, refused: 0, failed: 0 },
  };
}

const keepRecent = <T>(records: T[]): T[] => (records.length > RECENT_RECORDS ? records.slice(-RECENT_RECORDS) : records);

const secondsBetween = (earlier: string, later: string): number => (Date.parse(later) - Date.parse(earlier)) / 1000;

/**
 * Counts one more sweep: pods failing now continue (or start) their streak; pods not
 * failing any more are forgotten.
 */
export function recordSweep(state: RepairState, observation: RepairObservation): RepairState {
  const sweep = state.sweep + 1;
  const tracked: Record<string, TrackedPod> = {};
  for (const pod of observation.failing) {
    const previous = state.tracked[pod.uid];
    tracked[pod.uid] = previous
      ? { ...previous, name: pod.name, workload: pod.workload, failingSweeps: previous.failingSweeps + 1, watchdogs: pod.errorWatchdogs }
      : {
          uid: pod.uid,
          name: pod.name,
          workload: pod.workload,
          failingSweeps: 1,
          failingSince: observation.observedAt,
          watchdogs: pod.errorWatchdogs,
          attempts: 0,
          retryAtSweep: sweep,
        };
  }
  return {
    ...state,
    sweep,
    tracked,
    lastSweepAt: observation.observedAt,
    lastError: null,
    totals: { ...state.totals, sweeps: state.totals.sweeps + 1 },
  };
}

/** Records a sweep that could not see the pods; the counts are kept, not advanced. */
export function recordSweepError(state: RepairState, message: string, at: string): RepairState {
  return { ...state, lastError: `${at}: ${message}` };
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

export interface RepairPlan {
  evictions: EvictionRequest[];
  heldBack: HeldPod[];
}

/**
 * Which failing pods to evict in this sweep. `state` must already include this sweep
 * (recordSweep). Candidates are considered longest-failing first, then by name, so the
 * order is stable and the oldest trouble is repaired first.
 */
export function planRepair(state: RepairState, observation: RepairObservation, policy: RepairPolicy): RepairPlan {
  const now = observation.observedAt;
  const podsByUid = new Map(observation.failing.map((p) => [p.uid, p]));
  const inWindow = state.evictions.filter((e) => secondsBetween(e.at, now) < policy.limitWindowSeconds);
  const evictedByWorkload = new Map<string, number>();
  for (const e of inWindow) evictedByWorkload.set(e.workload, (evictedByWorkload.get(e.workload) ?? 0) + 1);
  let evictedInNamespace = inWindow.length;
  const namespaceAllowance = resolveFailingLimit(policy.namespaceLimit, observation.podCount);

  const candidates = Object.values(state.tracked)
    .filter((t) => t.failingSweeps >= policy.failingSweeps && podsByUid.has(t.uid))
    .sort((a, b) => b.failingSweeps - a.failingSweeps || a.name.localeCompare(b.name) || a.uid.localeCompare(b.uid));

  const plan: RepairPlan = { evictions: [], heldBack: [] };
  for (const tracked of candidates) {
    const pod = podsByUid.get(tracked.uid) as FailingPod;
    const workload = pod.workload;
    const key = workload ? workloadKey(workload) : null;
    const hold = (reason: HoldReason, detail: string) =>
      plan.heldBack.push({ uid: pod.uid, name: pod.name, workload: key, reason, detail });

    if (state.paused) {
      hold('paused', `repair is paused${state.pauseReason ? `: ${state.pauseReason}` : ''}`);
      continue;
    }
    if (workload === null || key === null) {
      hold('no-controller', 'no controller owns the pod, so nothing would replace it');
      continue;
    }
    if (pod.rolloutId !== null) {
      hold('rollout', `rollout ${pod.rolloutId} is changing ${key}`);
      continue;
    }
    if (pod.pdbs.length === 0 && policy.unprotectedPods === 'skip') {
      hold('no-pdb', 'no PodDisruptionBudget covers the pod (policy: skip unprotected pods)');
      continue;
    }
    if (state.sweep < tracked.retryAtSweep) {
      hold('backoff', `eviction attempt ${tracked.attempts} was not accepted; next try at sweep ${tracked.retryAtSweep}`);
      continue;
    }
    const workloadAllowance = resolveFailingLimit(policy.workloadLimit, pod.workloadReplicas);
    const workloadEvicted = evictedByWorkload.get(key) ?? 0;
    if (workloadEvicted >= workloadAllowance) {
      hold(
        'workload-limit',
        `${workloadEvicted} of ${key}'s ${workloadAllowance} allowed evictions (limit ${formatFailingLimit(policy.workloadLimit)} of ${pod.workloadReplicas} replicas) used in the last ${policy.limitWindowSeconds} s`,
      );
      continue;
    }
    if (evictedInNamespace >= namespaceAllowance) {
      hold(
        'namespace-limit',
        `${evictedInNamespace} of the namespace's ${namespaceAllowance} allowed evictions (limit ${formatFailingLimit(policy.namespaceLimit)} of ${observation.podCount} pods) used in the last ${policy.limitWindowSeconds} s`,
      );
      continue;
    }
    evictedByWorkload.set(key, workloadEvicted + 1);
    evictedInNamespace += 1;
    plan.evictions.push({
      uid: pod.uid,
      name: pod.name,
      workload,
      watchdogs: pod.errorWatchdogs,
      failingSweeps: tracked.failingSweeps,
      failingSince: tracked.failingSince,
    });
  }
  return plan;
}

/**
 * Whether this sweep should be planned again because evictions that surely did not happen (refused,
 * e.g. a PDB's 429, or the pod was already gone) hold places in the failing limit that pods
 * were held back for. A failed eviction (a timeout, a 5xx) keeps its place: the apiserver may
 * have evicted the pod before the answer was lost, and the limit must not be exceeded on a guess. The limit counts pods evicted: planRepair counts each planned
 * eviction as it plans, so a refusal is given back by planning again once recordOutcomes has
 * put the refused pod in backoff (it is not planned again) and left it out of the evictions.
 */
export function limitPlacesUnused(plan: RepairPlan, outcomes: readonly EvictionOutcome[]): boolean {
  const unused = outcomes.some((o) => o.result === 'refused' || o.result === 'gone');
  return unused && plan.heldBack.some((h) => h.reason === 'workload-limit' || h.reason === 'namespace-limit');
}

/** Plans of one sweep at most: the first and the re-plans after refusals (each re-plan backs off at least one pod). */
export const MAX_PLANS_PER_SWEEP = 4;

/** Pods held back in a plan, counted by reason (for metrics). */
export function countHeldBack(heldBack: readonly HeldPod[]): Partial<Record<HoldReason, number>> {
  const counts: Partial<Record<HoldReason, number>> = {};
  for (const held of heldBack) counts[held.reason] = (counts[held.reason] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------

/**
 * Applies a sweep's plan and eviction outcomes: an evicted or gone pod stops being tracked
 * (a 404 means the work is done); a refused or failed one stays queued and backs off.
 * Evictions older than the window are dropped unless among the most recent.
 */
export function recordOutcomes(
  state: RepairState,
  plan: RepairPlan,
  outcomes: readonly EvictionOutcome[],
  policy: RepairPolicy,
  now: string,
): RepairState {
  const tracked = { ...state.tracked };
  const evictions = [...state.evictions];
  const refusals = [...state.refusals];
  const totals = { ...state.totals };
  const requests = new Map(plan.evictions.map((r) => [r.uid, r]));

  for (const outcome of outcomes) {
    const request = requests.get(outcome.uid);
    const current = tracked[outcome.uid];
    if (!request) continue;
    switch (outcome.result) {
      case 'evicted':
        totals.evicted += 1;
        evictions.push({
          uid: request.uid,
          name: request.name,
          workload: workloadKey(request.workload),
          at: outcome.at,
          watchdogs: request.watchdogs.map((w) => w.name),
          failingSweeps: request.failingSweeps,
          failingSince: request.failingSince,
        });
        delete tracked[outcome.uid];
        break;
      case 'gone':
        totals.gone += 1;
        delete tracked[outcome.uid];
        break;
      case 'refused':
      case 'failed': {
        totals[outcome.result] += 1;
        const attempts = (current?.attempts ?? 0) + 1;
        const retryAtSweep = state.sweep + backoffSweeps(attempts);
        if (current) tracked[outcome.uid] = { ...current, attempts, retryAtSweep };
        refusals.push({
          uid: outcome.uid,
          name: outcome.name,
          at: outcome.at,
          result: outcome.result,
          ...(outcome.httpStatus === undefined ? {} : { httpStatus: outcome.httpStatus }),
          message: outcome.message,
          attempt: attempts,
          retryAtSweep,
        });
        break;
      }
    }
  }

  const windowStart = evictions.length - RECENT_RECORDS;
  const keptEvictions = evictions.filter((e, i) => i >= windowStart || secondsBetween(e.at, now) < policy.limitWindowSeconds);
  return { ...state, tracked, evictions: keptEvictions, refusals: keepRecent(refusals), heldBack: plan.heldBack, totals };
}

// ---------------------------------------------------------------------------
// The view the query and the API return
// ---------------------------------------------------------------------------

export interface RepairView {
  namespace: string;
  paused: boolean;
  pauseReason: string | null;
  policy: Omit<RepairPolicy, 'workloadLimit' | 'namespaceLimit'> & { workloadLimit: string; namespaceLimit: string };
  sweep: number;
  lastSweepAt: string | null;
  lastError: string | null;
  /** Failing pods, longest-failing first. */
  failing: TrackedPod[];
  recentEvictions: EvictionRecord[];
  refusals: RefusalRecord[];
  heldBack: HeldPod[];
  totals: RepairTotals;
}

export function repairView(state: RepairState, policy: RepairPolicy): RepairView {
  return {
    namespace: state.namespace,
    paused: state.paused,
    pauseReason: state.pauseReason,
    policy: {
      ...policy,
      workloadLimit: formatFailingLimit(policy.workloadLimit),
      namespaceLimit: formatFailingLimit(policy.namespaceLimit),
    },
    sweep: state.sweep,
    lastSweepAt: state.lastSweepAt,
    lastError: state.lastError,
    failing: Object.values(state.tracked).sort((a, b) => b.failingSweeps - a.failingSweeps || a.name.localeCompare(b.name)),
    recentEvictions: state.evictions.slice(-RECENT_RECORDS),
    refusals: state.refusals,
    heldBack: state.heldBack,
    totals: state.totals,
  };
}

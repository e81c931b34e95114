/**
 * Data rollouts: which consumer pods get which version of a source, the stages
 * and their probation, the gate policy, and the vocabulary of the data-rollout workflow's
 * status. The workflow orchestrates, the activities read and write pods; the decisions are here.
 *
 * Who gets what (planDataRequests):
 *  - During a rollout, the pods already asking for the rollout's version stay on it (a stage
 *    never moves a pod back), then more consumers are added in a stable order (by pod name)
 *    until the stage's share of the consumers counted now is reached. Counting the consumers
 *    at each stage means pods that appeared since the last stage are part of the share.
 *  - Every other consumer is asked for the known-good version (LKG): new pods without a
 *    request, pods left on a superseded or reverted version, pods with an unreadable request.
 *  - Without a rollout, every consumer is asked for the LKG.
 *  - A write happens only where the pod's request differs (version or hash).
 *
 * Pure: no I/O, no clock, safe to import from workflows.
 */
import { acknowledges, parseDataRequest, type DataStatus, type DataVersion } from './data-contract';
import type { GatePolicyInput, PodObservation } from '../gate/stage-gate';
import type { DecisionLog } from '../gate/stage-controls';
import { listNames } from '../rollout-group/rollout-group-pods';
import { stageUpdatedCount } from '../rollout/rollout-shares';
import { isTerminal } from '../gate/stage-controls';

/** A version with where pods download it (the repository's announcement). */
export interface DataRelease {
  version: DataVersion;
  archiveUrl: string;
}

/** What a pod is asked for and acknowledges: a version and its hash. */
export interface DataRef {
  version: string;
  sha256: string;
}

/** The ConfigMap that shows kubectl users the LKG and latest versions of a source. */
export const dataMirrorName = (source: string): string => `autocrane-data-${source}`;

export const releaseRef = (release: DataRelease): DataRef => ({ version: release.version.id, sha256: release.version.sha256 });
export const requestOf = (release: DataRelease) => ({
  version: release.version.id,
  sha256: release.version.sha256,
  url: release.archiveUrl,
});

/** A consumer pod as the planner sees it. */
export interface ConsumerView {
  name: string;
  /** The parsed request annotation; null when absent or unreadable. */
  request: DataRef | null;
  /** The parsed status annotation; null when absent or unreadable. */
  status: DataStatus | null;
}

/** Reads a request annotation's text into a DataRef; null when absent or unreadable (it then gets rewritten). */
export function readRequest(text: string | undefined): DataRef | null {
  if (text === undefined) return null;
  const parsed = parseDataRequest(text);
  return parsed.ok ? { version: parsed.value.version, sha256: parsed.value.sha256 } : null;
}

const sameRef = (a: DataRef | null, b: DataRef): boolean => a !== null && a.version === b.version && a.sha256 === b.sha256;

export interface DataPlanInput {
  consumers: readonly ConsumerView[];
  lkg: DataRef;
  /** The rollout in progress: its version and the stage's share of the consumers. */
  rollout: { target: DataRef; share: number | string } | null;
}

export interface DataPlan {
  /** Consumers that must be on the rollout's version (sorted by name); empty without a rollout. */
  upgraded: string[];
  /** Requests to write: pod name and what it must ask for. */
  writes: { pod: string; ref: DataRef }[];
  /** How many consumers the stage's share came to. */
  count: number;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** See the module comment. */
export function planDataRequests(input: DataPlanInput): DataPlan {
  const consumers = [...input.consumers].sort(byName);
  const upgraded = new Set<string>();
  let count = 0;
  if (input.rollout) {
    const { target, share } = input.rollout;
    for (const c of consumers) if (sameRef(c.request, target)) upgraded.add(c.name);
    count = Math.max(upgraded.size, stageUpdatedCount(share, consumers.length));
    for (const c of consumers) {
      if (upgraded.size >= count) break;
      upgraded.add(c.name);
    }
  }
  const writes: DataPlan['writes'] = [];
  for (const c of consumers) {
    const ref = upgraded.has(c.name) && input.rollout ? input.rollout.target : input.lkg;
    if (!sameRef(c.request, ref)) writes.push({ pod: c.name, ref });
  }
  return { upgraded: consumers.filter((c) => upgraded.has(c.name)).map((c) => c.name), writes, count };
}

export type AcknowledgementState =
  { state: 'acknowledged'; activatedAt: string | null } | { state: 'failed'; message: string } | { state: 'waiting'; detail: string };

/**
 * Where a pod stands with a request for `ref`: acknowledged (that exact version and hash is
 * active, with its activation time), failed (its deployer reports an error for that version),
 * or still waiting. With `since`, an error reported before then is stale (left from an earlier
 * request of the same version, not yet cleared) and does not count.
 */
export function acknowledgement(status: DataStatus | null, ref: DataRef, since?: string): AcknowledgementState {
  if (status !== null && acknowledges(status, ref)) return { state: 'acknowledged', activatedAt: status.activatedAt ?? null };
  const error = status?.error;
  const stale = since !== undefined && error !== undefined && Date.parse(error.at) < Date.parse(since);
  if (error && error.version === ref.version && !stale) return { state: 'failed', message: error.message };
  if (status === null) return { state: 'waiting', detail: 'no status yet' };
  return { state: 'waiting', detail: status.version === undefined ? 'nothing active yet' : `${status.version} still active` };
}

// ---------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------

export interface DataStage {
  /** A count of pods (3) or a share of the consumers ("25%", rounded up, at least 1). */
  pods: number | string;
  /** How long the stage's pods must stay clean after their new data became active. */
  probationSeconds: number;
}

export const DATA_ROLLOUT_LIMITS = {
  maxStages: 20,
  maxProbationSeconds: 86_400,
  maxAckTimeoutSeconds: 86_400,
  maxErrorPods: 1000,
} as const;

/** How long a stage waits for its pods to acknowledge before it fails, unless a start asks otherwise. */
export const DEFAULT_ACK_TIMEOUT_SECONDS = 600;

const SHARE = /^([1-9][0-9]?|100)%$/;

/** A problem with one stage share ("0%", "abc"), or null. */
export function shareError(pods: unknown): string | null {
  if (typeof pods === 'number') return Number.isInteger(pods) && pods >= 1 ? null : `${pods} is not a pod count (a whole number ≥ 1)`;
  if (typeof pods === 'string')
    return SHARE.test(pods) ? null : `'${pods}' is not a share (expected a count like 1 or a percentage like 25%)`;
  return 'expected a pod count or a percentage string';
}

/** Problems with a list of stages, each naming where (stages[1].pods), or an empty list. */
export function dataStagesProblems(stages: unknown): { field: string; message: string }[] {
  if (!Array.isArray(stages)) return [{ field: 'stages', message: 'expected a list of {pods, probationSeconds}' }];
  if (stages.length === 0 || stages.length > DATA_ROLLOUT_LIMITS.maxStages) {
    return [{ field: 'stages', message: `expected 1 to ${DATA_ROLLOUT_LIMITS.maxStages} stages` }];
  }
  const problems: { field: string; message: string }[] = [];
  stages.forEach((stage: unknown, i) => {
    if (typeof stage !== 'object' || stage === null) {
      problems.push({ field: `stages[${i}]`, message: 'expected {pods, probationSeconds}' });
      return;
    }
    const { pods, probationSeconds } = stage as Record<string, unknown>;
    const share = shareError(pods);
    if (share) problems.push({ field: `stages[${i}].pods`, message: share });
    if (
      typeof probationSeconds !== 'number' ||
      !Number.isInteger(probationSeconds) ||
      probationSeconds < 0 ||
      probationSeconds > DATA_ROLLOUT_LIMITS.maxProbationSeconds
    ) {
      problems.push({
        field: `stages[${i}].probationSeconds`,
        message: `expected a whole number of seconds from 0 to ${DATA_ROLLOUT_LIMITS.maxProbationSeconds}`,
      });
    }
  });
  return problems;
}

/**
 * Parses the configured stage shares, a comma list such as "1,25%,100%". The last stage need
 * not be 100%: completion asks every consumer for the promoted version anyway.
 */
export function parseDataStageShares(text: string): { ok: true; shares: (number | string)[] } | { ok: false; problem: string } {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) return { ok: false, problem: 'expected a comma list of pod counts or percentages, e.g. 1,25%,100%' };
  if (items.length > DATA_ROLLOUT_LIMITS.maxStages) return { ok: false, problem: `at most ${DATA_ROLLOUT_LIMITS.maxStages} stages` };
  const shares = items.map((item) => (/^\d+$/.test(item) ? Number(item) : item));
  for (const share of shares) {
    const problem = shareError(share);
    if (problem) return { ok: false, problem };
  }
  return { ok: true, shares };
}

/** A stage's share for people: "1 pod", "3 pods" or "25%" (data stages count pods, not replicas). */
export const formatDataShare = (pods: number | string): string =>
  typeof pods === 'number' ? `${pods} ${pods === 1 ? 'pod' : 'pods'}` : pods;

export const describeStage = (stage: DataStage): string =>
  `${formatDataShare(stage.pods)} of the consumers, probation ${stage.probationSeconds}s`;

/**
 * The gate of a data stage, as an app-rollout gate policy: any error watchdog (beyond
 * maxErrorPods) among the upgraded consumers and the pods that vouch for the source fails it;
 * pods must be ready; pods without watchdogs do not hold it up. The deadline leaves the pods
 * `settleSeconds` beyond the probation to become ready.
 */
export function dataGatePolicy(probationSeconds: number, maxErrorPods: number, settleSeconds = 300): GatePolicyInput {
  return { maxErrorPods, minReadySeconds: 0, noData: 'pass', progressDeadlineSeconds: probationSeconds + settleSeconds };
}

// ---------------------------------------------------------------------------
// The workflow's status vocabulary
// ---------------------------------------------------------------------------

/**
 * A data rollout's states, the app rollout's words where they mean the same: Progressing
 * (requests written, waiting for acknowledgements), Baking (probation), Paused, RollingBack
 * (every upgraded pod asked for the LKG again), then Succeeded (promoted to LKG), RolledBack
 * (after a gate failure, a failed acknowledgement or an abort), Superseded (a newer version
 * took over; its pods went back to the LKG first) or Failed (could not even revert).
 */
export const DATA_ROLLOUT_STATES = [
  'Progressing',
  'Baking',
  'Paused',
  'RollingBack',
  'Succeeded',
  'RolledBack',
  'Superseded',
  'Failed',
] as const;
export type DataRolloutState = (typeof DATA_ROLLOUT_STATES)[number];
/** A data rollout ends in the same states as an app rollout (one list, in the stage controls). */
export const isDataRolloutFinished = (state: DataRolloutState): boolean => isTerminal(state);

export type DataStageResult = 'pending' | 'progressing' | 'baking' | 'passed' | 'failed' | 'aborted';

export interface DataStageStatus {
  index: number;
  pods: string;
  probationSeconds: number;
  /** Consumers on the version once the stage's requests were written. */
  count: number | null;
  result: DataStageResult;
  startedAt: string | null;
  /** The latest activation among the pods the stage moved: the probation counts from it. */
  probationStartedAt: string | null;
  endedAt: string | null;
  reason: string | null;
}

export interface DataRolloutRun {
  /** 1, 2, 3… per workflow (kept across continue-as-new). */
  number: number;
  version: string;
  sha256: string;
  state: DataRolloutState;
  stage: number;
  stages: DataStageStatus[];
  maxErrorPods: number;
  ackTimeoutSeconds: number;
  /** Consumers on the version (first UPGRADED_NAMES_LIMIT names) and how many. */
  upgraded: string[];
  upgradedCount: number;
  startedAt: string;
  endedAt: string | null;
  /** Who started it: the caller's name, or 'auto' for a start by a new version's arrival. */
  startedBy: string;
  /** Why it ended when it did not succeed. */
  reason: string | null;
}

export const UPGRADED_NAMES_LIMIT = 50;

export const DATA_DECISION_KINDS = [
  'versionAvailable',
  'bootstrap',
  'started',
  'stageStarted',
  'acknowledged',
  'gatePassed',
  'gateFailed',
  'paused',
  'resumed',
  'aborted',
  'superseded',
  'rollbackStarted',
  'rolledBack',
  'succeeded',
  'failed',
  'waitingForStart',
] as const;
export type DataDecisionKind = (typeof DATA_DECISION_KINDS)[number];

export interface DataDecision {
  at: string;
  kind: DataDecisionKind;
  /** The version the decision is about, when there is one. */
  version: string | null;
  /** 0-based stage of the current rollout; null when not about a stage. */
  stage: number | null;
  reason: string;
  by?: string;
}

export type DataDecisionLog = DecisionLog<DataDecision>;

// ---------------------------------------------------------------------------
// Errors of a stage: watchdog errors and refused requests, within maxErrorPods
// ---------------------------------------------------------------------------

export interface StageErrorsInput {
  /** Upgraded consumers that have not acknowledged the target yet. */
  waiting: readonly string[];
  /** Pods with a watchdog error (upgraded consumers and vouchers). */
  watchdogErroring: readonly string[];
  /** Consumers whose request the apiserver refused (or that back off after a refusal), with why. */
  refused: ReadonlyMap<string, string>;
  maxErrorPods: number;
}

export interface StageErrors {
  /** Over maxErrorPods: the stage fails, for `reason`. */
  failed: boolean;
  reason: string;
  /** Waiting consumers whose request was refused: erroring pods of the stage, not waited for. */
  refused: Array<{ pod: string; reason: string }>;
  /** The consumers still waited for. */
  waiting: string[];
}

/**
 * A consumer whose request the apiserver refused cannot acknowledge (it backs off for at least
 * a minute): it is an erroring pod of its stage, counted with the watchdog errors within
 * maxErrorPods, instead of holding the stage until the ack timeout fails it for every pod.
 */
export function judgeStageErrors(input: StageErrorsInput): StageErrors {
  const refused = input.waiting.filter((pod) => input.refused.has(pod)).map((pod) => ({ pod, reason: input.refused.get(pod)! }));
  const refusedNames = new Set(refused.map((r) => r.pod));
  const waiting = input.waiting.filter((pod) => !refusedNames.has(pod));
  const erroring = new Set([...input.watchdogErroring, ...refusedNames]);
  const failed = erroring.size > input.maxErrorPods;
  const parts = [
    ...(input.watchdogErroring.length > 0 ? [`watchdog errors on ${listNames(input.watchdogErroring)}`] : []),
    ...(refused.length > 0 ? [`the apiserver refused the request to ${listNames(refused.map((r) => `${r.pod} (${r.reason})`))}`] : []),
  ];
  const reason =
    erroring.size === 0
      ? 'no erroring pods'
      : `${erroring.size} erroring pod(s), ${failed ? 'more than' : 'within'} maxErrorPods ${input.maxErrorPods}: ${parts.join('; ')}`;
  return { failed, reason, refused, waiting };
}

/** The name under which a refused request shows among a pod's errors in the probation gate's reasons. */
export const REFUSED_REQUEST_ERROR = 'data-request-refused';

/**
 * The stage's consumers whose request the apiserver refused, as the probation gate sees them:
 * erroring pods, counted with the watchdog errors within maxErrorPods. Such a pod stays on the
 * LKG and says nothing about the new version, so it must not pass the gate by its silence. One
 * that the rollout's version reached after all is watched as itself instead.
 */
export function refusedPodObservations(
  refused: readonly { pod: string; reason: string }[],
  watched: ReadonlySet<string>,
  at: string,
): PodObservation[] {
  return refused
    .filter((r) => !watched.has(r.pod))
    .map((r) => ({
      name: r.pod,
      ready: true,
      readySince: null,
      watchdogs: [
        { name: REFUSED_REQUEST_ERROR, level: 'error', time: at, message: `the apiserver refused its data request: ${r.reason}` },
      ],
    }));
}

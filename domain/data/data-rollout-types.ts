/**
 * What the data-rollout workflow shares with its clients and activities: its type and ID, its
 * input, status and settings, the announcement of a version, and the shapes its activities
 * take and return (its type name is in contracts/workflow-types.ts). Plain JSON-safe data (it lives in workflow history) and constants, no
 * Temporal definitions, so activities and clients depend on it and not on workflows/.
 */
import type { DataVersion } from './data-contract';
import type { DataDecision, DataRelease, DataRolloutRun, DataStage } from './data-rollout';

export const dataRolloutWorkflowId = (namespace: string, source: string): string => `data-rollout/${namespace}/${source}`;

export interface DataRolloutWorkflowInput {
  namespace: string;
  source: string;
  /** Set by the workflow itself when it continues as new; absent on the first start. */
  carried?: DataRolloutCarriedState;
}

/** What one run hands to the next when it continues as new. */
export interface DataRolloutCarriedState {
  lkg: DataRelease | null;
  latest: DataRelease | null;
  /** Recently announced versions (newest last), so a start can name one that is not the latest. */
  known: DataRelease[];
  /** Announcements not handled yet. */
  pending: VersionAnnouncement[];
  /** A start asked for and not begun yet. */
  start: DataStartRequest | null;
  recent: DataRolloutRun[];
  nextNumber: number;
  decisions: DataDecision[];
  decisionsDropped: number;
}

export interface VersionAnnouncement {
  version: DataVersion;
  /** Where pods download it: the repository's GET /v1/sources/{name}/versions/{id}/archive. */
  archiveUrl: string;
}

/** Defaults the worker's configuration gives every data rollout (AUTOCRANE_DATA_*). */
export interface DataRolloutSettings {
  autoStart: boolean;
  stages: DataStage[];
}

export interface DataRolloutStatus {
  workflowId: string;
  namespace: string;
  source: string;
  lkg: DataRelease | null;
  latest: DataRelease | null;
  settings: DataRolloutSettings | null;
  /** The rollout in progress, or null. */
  rollout: DataRolloutRun | null;
  /** The last few finished rollouts, newest first. */
  recent: DataRolloutRun[];
  decisions: DataDecision[];
  decisionsDropped: number;
}

export interface DataStartRequest {
  /** A version ID the workflow knows (announced recently); default: the latest. */
  version?: string;
  /** Default: the configured stages (AUTOCRANE_DATA_STAGES with AUTOCRANE_DATA_PROBATION_SECONDS each). */
  stages?: DataStage[];
  /** Error pods the gate tolerates; default 0. */
  maxErrorPods?: number;
  /** How long a stage waits for acknowledgements before it fails; default 600. */
  ackTimeoutSeconds?: number;
  reason?: string;
  by?: string;
}

/** The names the workflow's signal and query are defined under (contracts/data-rollout-messages.ts). */
export const VERSION_AVAILABLE_SIGNAL = 'versionAvailable';
export const DATA_ROLLOUT_STATUS_QUERY = 'dataRolloutStatus';

// The data-rollout activities' inputs and results.

export interface DataScope {
  namespace: string;
  source: string;
}

export interface AdvanceDataStageInput extends DataScope {
  lkg: DataRelease;
  target: DataRelease;
  share: number | string;
  ackTimeoutSeconds: number;
  maxErrorPods: number;
  /** Consumers the earlier stages had moved: the probation counts from the activations of the others. */
  movedBefore: string[];
  /** RFC 3339: when the stage began; a deployer error reported before then is stale. */
  stageStartedAt: string;
}

export type DataStageOutcome =
  | {
      outcome: 'acknowledged';
      upgraded: string[];
      count: number;
      consumers: number;
      probationStartedAt: string;
      written: number;
      /** Consumers whose request the apiserver refused: erroring pods of the stage, within maxErrorPods, left on the LKG. */
      refused?: Array<{ pod: string; reason: string }>;
    }
  | { outcome: 'failed'; upgraded: string[]; reason: string };

export interface WatchDataGateInput extends DataScope {
  lkg: DataRelease;
  target: DataRelease;
  probationStartedAt: string;
  probationSeconds: number;
  maxErrorPods: number;
  /** Keep watching after the probation passes, until cancelled (while paused). */
  holdAfterPass?: boolean;
  /** The stage's consumers whose request the apiserver refused (advanceDataStage's `refused`): erroring pods of the gate. */
  refused?: Array<{ pod: string; reason: string }>;
}

export interface DataGateResult {
  verdict: 'pass' | 'fail';
  reason: string;
  /** Pods the gate covered: upgraded consumers and vouchers. */
  watched: number;
  erroring: string[];
}

export interface RevertDataInput extends DataScope {
  lkg: DataRelease;
  ackTimeoutSeconds: number;
}

export interface RevertDataResult {
  consumers: number;
  written: number;
  /** Pods that had not acknowledged the LKG by the timeout, and those whose deployer reported an error for it. */
  unacknowledged: string[];
  failed: { pod: string; message: string }[];
}

export interface DataMirror {
  lkg: DataRelease | null;
  latest: DataRelease | null;
  /** One line about the rollout in progress, or null. */
  rollout: string | null;
}

/**
 * The data-rollout workflow's contract (issue 6): one long-lived workflow per namespace and
 * source holds the known-good (LKG) and latest versions and runs staged data rollouts. The
 * data repository announces each new version with signal-with-start; the API and CLI read
 * and steer it. Definitions only: importing them pulls no workflow code into a client.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DataVersion } from '../domain/data-contract';
import type { DataDecision, DataRelease, DataRolloutRun, DataStage } from '../domain/data-rollout';

export const DATA_ROLLOUT_WORKFLOW_TYPE = 'dataRolloutWorkflow';
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

/** A new version exists in the repository (sent with signal-with-start by the repository's poller). */
export const versionAvailableSignal = defineSignal<[VersionAnnouncement]>('versionAvailable');

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

export const dataRolloutStatusQuery = defineQuery<DataRolloutStatus>('dataRolloutStatus');

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

export interface DataControlRequest {
  reason?: string;
  by?: string;
}
export const MAX_DATA_CONTROL_REASON_LENGTH = 256;

/**
 * Starts a rollout (superseding a running one of another version), or is refused with the
 * reason (unknown version, already the LKG, already rolling out). Answers with the status.
 */
export const startDataRolloutUpdate = defineUpdate<DataRolloutStatus, [DataStartRequest]>('startDataRollout');
export const pauseDataRolloutUpdate = defineUpdate<DataRolloutStatus, [DataControlRequest]>('pauseDataRollout');
export const resumeDataRolloutUpdate = defineUpdate<DataRolloutStatus, [DataControlRequest]>('resumeDataRollout');
/** Sends every upgraded pod back to the LKG. */
export const abortDataRolloutUpdate = defineUpdate<DataRolloutStatus, [DataControlRequest]>('abortDataRollout');

export const DATA_ROLLOUT_CONTROLS = ['pause', 'resume', 'abort'] as const;
export type DataRolloutControl = (typeof DATA_ROLLOUT_CONTROLS)[number];
export const dataRolloutControlUpdates = { pause: pauseDataRolloutUpdate, resume: resumeDataRolloutUpdate, abort: abortDataRolloutUpdate } as const;

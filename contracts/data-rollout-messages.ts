/**
 * The data-rollout workflow's contract: one long-lived workflow per namespace and
 * source holds the known-good (LKG) and latest versions and runs staged data rollouts. The
 * data repository announces each new version with signal-with-start; the API and CLI read
 * and steer it. Definitions only: importing them pulls no workflow code into a client.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DataRolloutControl } from '../domain/gate/stage-controls';
import {
  DATA_ROLLOUT_STATUS_QUERY,
  VERSION_AVAILABLE_SIGNAL,
  type DataRolloutStatus,
  type DataStartRequest,
  type VersionAnnouncement,
} from '../domain/data/data-rollout-types';

export {
  dataRolloutWorkflowId,
  type DataRolloutCarriedState,
  type DataRolloutSettings,
  type DataRolloutStatus,
  type DataRolloutWorkflowInput,
  type DataStartRequest,
  type VersionAnnouncement,
} from '../domain/data/data-rollout-types';

/** A new version exists in the repository (sent with signal-with-start by the repository's poller). */
export const versionAvailableSignal = defineSignal<[VersionAnnouncement]>(VERSION_AVAILABLE_SIGNAL);

export const dataRolloutStatusQuery = defineQuery<DataRolloutStatus>(DATA_ROLLOUT_STATUS_QUERY);

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

export const dataRolloutControlUpdates = {
  pause: pauseDataRolloutUpdate,
  resume: resumeDataRolloutUpdate,
  abort: abortDataRolloutUpdate,
} as const satisfies Record<DataRolloutControl, unknown>;

/**
 * The data-rollout workflow's contract (issue 6): one long-lived workflow per namespace and
 * source holds the known-good (LKG) and latest versions and runs staged data rollouts. The
 * data repository announces each new version with signal-with-start; the API and CLI read
 * and steer it. Definitions only: importing them pulls no workflow code into a client.
 */
import { defineSignal } from '@temporalio/workflow';
import type { DataVersion } from '../domain/data-contract';

export const DATA_ROLLOUT_WORKFLOW_TYPE = 'dataRolloutWorkflow';
export const dataRolloutWorkflowId = (namespace: string, source: string): string => `data-rollout/${namespace}/${source}`;

export interface DataRolloutWorkflowInput {
  namespace: string;
  source: string;
}

export interface VersionAnnouncement {
  version: DataVersion;
  /** Where pods download it: the repository's GET /v1/sources/{name}/versions/{id}/archive. */
  archiveUrl: string;
}

/** A new version exists in the repository (sent with signal-with-start by the repository's poller). */
export const versionAvailableSignal = defineSignal<[VersionAnnouncement]>('versionAvailable');

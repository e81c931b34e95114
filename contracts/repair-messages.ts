/**
 * The repair workflow's messages, shared by the workflow, the API and the CLI. Definitions
 * only: importing them pulls no workflow code into a client.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RepairPolicy, RepairView } from '../domain/repair/repair';

export const repairWorkflowId = (namespace: string): string => `repair/${namespace}`;

/** The failing counts, recent evictions, refusals and held-back pods, with the policy in force. */
export const repairStateQuery = defineQuery<RepairView>('repairState');

export interface PauseRepairRequest {
  /** Why, for the record (who paused and why shows in the state). */
  reason?: string;
}
export const MAX_PAUSE_REASON_LENGTH = 256;

/** Stops evictions (counting goes on); answers with the state after the change. Idempotent. */
export const pauseRepairUpdate = defineUpdate<RepairView, [PauseRepairRequest]>('pause');
/** Lets evictions resume at once; answers with the state after the change. Idempotent. */
export const resumeRepairUpdate = defineUpdate<RepairView, []>('resume');

/** Sent with signal-with-start at every worker start, so a changed configuration takes effect. */
export const setRepairPolicySignal = defineSignal<[RepairPolicy]>('setPolicy');

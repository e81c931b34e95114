/**
 * The rollout workflow's contract with its clients (the API, the CLI, the demo): IDs, the
 * status query and the operator controls. Definitions only: importing them pulls no
 * workflow code into a client.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Control, DecisionRecord, RolloutState } from '../domain/gate/stage-controls';
import type { RolloutSpec, RolloutTarget } from '../domain/rollout/rollout-spec';
import { summarizeSpec, targetKey } from '../domain/rollout/rollout-summary';
import { AUTOCRANE_NAMESPACE, AUTOCRANE_ROLLOUT_ID, AUTOCRANE_STAGE, AUTOCRANE_STATE, AUTOCRANE_TARGET } from './search-attributes';

/**
 * One workflow ID per target, so Temporal itself refuses a second running rollout of the
 * same workload (atomically, unlike a visibility check). Each rollout run has its own short
 * rollout ID, kept in the AutoCraneRolloutId search attribute and the memo.
 */
export const rolloutWorkflowId = (target: RolloutTarget): string => `rollout/${target.namespace}/${target.kind}/${target.name}`;

export interface RolloutWorkflowInput {
  /** Short, URL-safe ID of this rollout (the API's {id}). */
  rolloutId: string;
  spec: RolloutSpec;
}

export type { RolloutState } from '../domain/gate/stage-controls';

export type StageResult =
  'pending' | 'progressing' | 'baking' | 'awaiting-approval' | 'passed' | 'promoted' | 'failed' | 'aborted' | 'skipped';

export interface StageStatus {
  index: number;
  /** The share as asked ("25%" or 3) and the replica count it came to. */
  replicas: string;
  count: number | null;
  bakeSeconds: number;
  approval: { timeoutSeconds: number; onTimeout: 'proceed' | 'rollback' } | null;
  result: StageResult;
  startedAt: string | null;
  endedAt: string | null;
  reason: string | null;
}

/** A decision with its time, kind, stage and reason (and who asked, for operator controls). */
export type RolloutDecision = DecisionRecord;

export interface RolloutPods {
  /** Pods on the new template, of them ready, and those with an error-level watchdog (named). */
  updated: number;
  ready: number;
  erroring: string[];
}

export interface RolloutStatus {
  rolloutId: string;
  workflowId: string;
  target: RolloutTarget;
  /** One line describing the spec (also in the memo). */
  summary: string;
  state: RolloutState;
  /** Index of the current (or last) stage; -1 before the first. */
  stage: number;
  totalReplicas: number | null;
  stages: StageStatus[];
  /** As of the last gate observation (the API adds live counts from the running bake's heartbeat). */
  pods: RolloutPods;
  decisions: RolloutDecision[];
  /** Decisions dropped from the middle of a very long log (the first and the latest are kept). */
  decisionsDropped: number;
  startedAt: string;
  endedAt: string | null;
  requestId: string | null;
  /** Set once a newer rollout replaced this one. */
  supersededBy: string | null;
}

/** The full status: stages, pods, and every decision with its time and reason. */
export const rolloutStatusQuery = defineQuery<RolloutStatus>('rolloutStatus');

export interface ControlRequest {
  /** Why, for the decision record. */
  reason?: string;
  /** Who asked (the API sets the caller's user name). */
  by?: string;
}
export const MAX_CONTROL_REASON_LENGTH = 256;

/**
 * Operator controls. Each answers with the status after the control took effect, or is
 * rejected (the update fails, no history is written) with a reason, e.g. "approve: the
 * rollout is not awaiting approval (state Baking)".
 */
export const pauseRolloutUpdate = defineUpdate<RolloutStatus, [ControlRequest]>('pause');
export const resumeRolloutUpdate = defineUpdate<RolloutStatus, [ControlRequest]>('resume');
export const approveRolloutUpdate = defineUpdate<RolloutStatus, [ControlRequest]>('approve');
/** Rolls back. */
export const abortRolloutUpdate = defineUpdate<RolloutStatus, [ControlRequest]>('abort');
/** Ends the current bake (or approval wait) now, as if it had passed. */
export const promoteRolloutUpdate = defineUpdate<RolloutStatus, [ControlRequest]>('promote');

export const rolloutControlUpdates = {
  pause: pauseRolloutUpdate,
  resume: resumeRolloutUpdate,
  approve: approveRolloutUpdate,
  abort: abortRolloutUpdate,
  promote: promoteRolloutUpdate,
} as const satisfies Record<Control, unknown>;

export interface SupersedeRequest {
  rolloutId: string;
  spec: RolloutSpec;
}
/**
 * Replaces the running rollout: it rolls its own change back, records who replaced it,
 * and continues as the new rollout (same workflow ID, new run). Answers with the old
 * rollout's status at acceptance.
 */
export const supersedeRolloutUpdate = defineUpdate<RolloutStatus, [SupersedeRequest]>('supersede');
/**
 * The status of the rollout that superseded this one while it waits, Pending, for this one's
 * rollback (null when none did): what its status URL answers until the run continues as it.
 */
export const supersedingStatusQuery = defineQuery<RolloutStatus | null>('supersedingStatus');

/**
 * The search attributes and memo every run of a rollout starts with, whoever starts it: the
 * API, or a run continued as the rollout that superseded the one before.
 */
export function rolloutRunStart(rolloutId: string, spec: RolloutSpec) {
  return {
    searchAttributes: [
      { key: AUTOCRANE_TARGET, value: targetKey(spec.target) },
      { key: AUTOCRANE_NAMESPACE, value: spec.target.namespace },
      { key: AUTOCRANE_ROLLOUT_ID, value: rolloutId },
      { key: AUTOCRANE_STATE, value: 'Pending' },
      { key: AUTOCRANE_STAGE, value: 0 },
    ],
    memo: { summary: summarizeSpec(spec).text, rolloutId, requestId: spec.requestId ?? null },
  };
}

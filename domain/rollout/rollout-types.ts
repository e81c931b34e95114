/**
 * What the rollout workflow and its activities exchange: the snapshot a rollout works from,
 * a stage's context and outcome, the gate watch's input and verdict, and the heartbeat the API
 * shows as live counts. Plain JSON-safe data: it crosses the workflow/activity boundary and
 * lives in workflow history, so a field is only ever added, optional.
 */
import type { PodTemplate } from './pod-template-change';
import type { GatePolicyInput, GateResult, SettleMemory } from '../gate/stage-gate';
import type { DeploymentStrategy } from './rollout-plan';
import type { IntOrPercent } from './rollout-shares';
import type { RolloutTarget } from './rollout-spec';

/** What the rollout works from, read once when it starts. */
export interface RolloutSnapshot {
  target: RolloutTarget;
  uid: string;
  replicas: number;
  /** The workload's selector.matchLabels. */
  selector: Record<string, string>;
  oldTemplate: PodTemplate;
  newTemplate: PodTemplate;
  deploymentStrategy?: DeploymentStrategy;
  statefulSet?: {
    strategy: 'RollingUpdate' | 'OnDelete';
    partition: number;
    maxUnavailable?: IntOrPercent;
    /**
     * The old template's revision (status.updateRevision as prepareRollout found it, observed):
     * a pod whose controller-revision-hash differs is not rolled back yet. Absent from snapshots
     * recorded before it was (histories still replay: the rollback then finds the revision by
     * writing the old template first), or when the StatefulSet's controller had not observed its
     * spec yet.
     */
    oldRevision?: string;
  };
  /** With beginFirstStage: the writes with which prepareRollout began stage 1 (a canary created at its count). */
  firstStageBegun?: string[];
}

export interface StageContext {
  rolloutId: string;
  snapshot: RolloutSnapshot;
  gate: GatePolicyInput;
  /** RFC 3339: when the stage began (the progress deadline counts from it). */
  stageStartedAt: string;
}

export type StageOutcome =
  | {
      outcome: 'done';
      actions: string[];
      finishedAt: string;
      /**
       * With `gateAfterScaling`, the gate evaluated for a bake of 0 s from `finishedAt`, when it
       * passed then; absent when it must still be watched (minReadySeconds not yet over).
       */
      gatePassed?: WatchGateResult;
      /**
       * With `nextCount` or `beginPromotion`, once the gate passed: the writes that began the next
       * stage (planDeploymentStageStart) or the promotion (planDeploymentPromotionStart).
       */
      nextStarted?: string[];
    }
  | { outcome: 'gate-failed'; actions: string[]; reason: string; erroring: string[] };

export interface WatchGateInput extends StageContext {
  /** Updated pods the stage should have. */
  expectedPods: number;
  bakeStartedAt: string;
  bakeSeconds: number;
  /** Keep watching after the gate passes, until cancelled (while paused or awaiting approval). */
  holdAfterPass?: boolean;
}

export interface WatchGateResult {
  verdict: 'pass' | 'fail';
  reason: string;
  counts: GateResult['counts'];
  erroring: string[];
}

/** Heartbeat details of a waiting or baking activity: the API shows them as live counts. */
export interface RolloutHeartbeat {
  updated: number;
  ready: number;
  erroring: string[];
  step?: string;
  /** watchGate's memory of the stage's settling (evaluateGate), so a retried attempt goes on from it. */
  settle?: SettleMemory;
}

/** The failure type of a change the target refuses (bad template, unsupported StatefulSet, a 422): retrying cannot help. */
export const INVALID_CHANGE = 'InvalidChange';

import { ApplicationFailure, log, patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { RolloutSnapshot, StageContext, WatchGateResult } from '../../domain/rollout/rollout-types';
import { abortRollbackReason } from '../../domain/rollout/rollout-next-step';
import { formatShare } from '../../domain/rollout/rollout-shares';
import type { RolloutSpec } from '../../domain/rollout/rollout-spec';
import { summarizeSpec } from '../../domain/rollout/rollout-summary';
import { decideSupersede, supersededReason, waitingReason } from '../../domain/rollout/rollout-supersede';
import {
  appendDecision,
  decideControl,
  emptyDecisionLog,
  type Control,
  type ControlDecision,
  type DecisionKind,
  type PausableState,
  type RolloutState,
} from '../../domain/gate/stage-controls';
import {
  MAX_CONTROL_REASON_LENGTH,
  type ControlRequest,
  type RolloutPods,
  type RolloutStatus,
  type StageStatus,
  type SupersedeRequest,
} from '../../contracts/rollout-messages';
import { AUTOCRANE_STAGE, AUTOCRANE_STATE, AUTOCRANE_SUPERSEDED_BY } from '../../contracts/search-attributes';

/** Workflow patch: the stage search attribute is upserted when the stage changes with the state unchanged. */
const STAGE_ATTRIBUTE_PATCH = 'stage-search-attribute';
/**
 * Workflow patch: a supersede upserts AutoCraneSupersededBy (so the new rollout's ID is found
 * while this run rolls back), and the run continued as the new rollout starts with the new
 * rollout's search attributes and memo rather than a copy of this run's.
 */
export const SUPERSEDE_ATTRIBUTE_PATCH = 'supersede-search-attribute';

/** What may interrupt a running stage activity (an abort always may). */
export type Interrupt = 'abort' | 'skipBake' | 'paused' | 'resumed' | 'approved' | 'override' | 'regate';

const now = () => new Date().toISOString();

/** Every stage of a spec, none begun. */
const initialStages = (spec: RolloutSpec): StageStatus[] =>
  spec.stages.map((s, index) => ({
    index,
    replicas: formatShare(s.replicas),
    count: null,
    bakeSeconds: s.bakeSeconds,
    approval: s.approval ? { timeoutSeconds: s.approval.timeoutSeconds, onTimeout: s.approval.onTimeout } : null,
    result: 'pending',
    startedAt: null,
    endedAt: null,
    reason: null,
  }));

/**
 * One run of the rollout workflow: its state, stages and decisions, the operator requests it
 * has not acted on yet, and the transitions between them. The update handlers and the stage
 * loop (workflows/rollout/rollout.ts) both change the run only through it, so a control accepted
 * while an activity runs and the loop acting on the activity's result see the same state.
 */
export class RolloutRun {
  readonly workflowId = workflowInfo().workflowId;
  readonly startedAt = now();
  readonly summary: string;
  state: RolloutState = 'Pending';
  pausedFrom: PausableState | undefined;
  stage = -1;
  decisions = emptyDecisionLog();
  pods: RolloutPods = { updated: 0, ready: 0, erroring: [] };
  endedAt: string | null = null;
  supersede: SupersedeRequest | null = null;
  supersededAt: string | null = null;
  totalReplicas: number | null = null;
  readonly stages: StageStatus[];
  /** Operator requests the stage loop has not acted on yet. */
  readonly pending = { abort: false, skipBake: false, approved: false, override: false, regate: false };
  /** Why the stage's gate last passed (what it watched, and any bake it extended), for the gatePassed decision. */
  passedBecause: string | null = null;
  /** The stage the search attributes say. */
  private stageAttribute = 0;

  constructor(
    readonly rolloutId: string,
    readonly spec: RolloutSpec,
  ) {
    this.summary = summarizeSpec(spec).text;
    this.stages = initialStages(spec);
  }

  decide(kind: DecisionKind, reason: string, by?: string): void {
    const stage = this.stage;
    this.decisions = appendDecision(this.decisions, {
      at: now(),
      kind,
      stage: stage < 0 ? null : stage,
      reason,
      ...(by === undefined ? {} : { by }),
    });
    log.info(`rollout ${kind}`, { rolloutId: this.rolloutId, stage, reason });
  }

  setState(next: RolloutState): void {
    const stageNow = Math.max(this.stage, 0);
    // A stage that follows one without bake starts in the same state (Progressing), so the
    // stage alone changes. Histories recorded before the patch have no upsert there.
    if (next === this.state && (stageNow === this.stageAttribute || !patched(STAGE_ATTRIBUTE_PATCH))) return;
    this.state = next;
    this.stageAttribute = stageNow;
    upsertSearchAttributes([
      { key: AUTOCRANE_STATE, value: this.state },
      { key: AUTOCRANE_STAGE, value: stageNow },
    ]);
  }

  status(): RolloutStatus {
    return {
      rolloutId: this.rolloutId,
      workflowId: this.workflowId,
      target: this.spec.target,
      summary: this.summary,
      state: this.state,
      stage: this.stage,
      totalReplicas: this.totalReplicas,
      stages: this.stages.map((s) => ({ ...s })),
      pods: this.pods,
      decisions: this.decisions.records,
      decisionsDropped: this.decisions.dropped,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      requestId: this.spec.requestId ?? null,
      supersededBy: this.supersede?.rolloutId ?? null,
    };
  }

  /** The superseding rollout, Pending until this run has rolled back and continues as it. */
  supersedingStatus(): RolloutStatus | null {
    const supersede = this.supersede;
    if (supersede === null) return null;
    const at = this.supersededAt ?? this.startedAt;
    return {
      rolloutId: supersede.rolloutId,
      workflowId: this.workflowId,
      target: supersede.spec.target,
      summary: summarizeSpec(supersede.spec).text,
      state: 'Pending',
      stage: -1,
      totalReplicas: null,
      stages: initialStages(supersede.spec),
      pods: { updated: 0, ready: 0, erroring: [] },
      decisions: [{ at, kind: 'waiting', stage: null, reason: waitingReason(this.rolloutId) }],
      decisionsDropped: 0,
      startedAt: at,
      endedAt: null,
      requestId: supersede.spec.requestId ?? null,
      supersededBy: null,
    };
  }

  // -------------------------------------------------------------------------
  // Operator controls and the supersede
  // -------------------------------------------------------------------------

  private controlContext() {
    return {
      state: this.state,
      ...(this.pausedFrom ? { pausedFrom: this.pausedFrom } : {}),
      stage: this.stage < 0 ? null : this.stage,
      stageCount: this.spec.stages.length,
    };
  }

  validateControl(control: Control, request: ControlRequest): void {
    if (request?.reason !== undefined && (typeof request.reason !== 'string' || request.reason.length > MAX_CONTROL_REASON_LENGTH)) {
      throw new Error(`reason: expected a string of at most ${MAX_CONTROL_REASON_LENGTH} characters`);
    }
    const decision = decideControl(control, this.controlContext());
    if (!decision.accepted) throw new Error(decision.reason);
  }

  control(control: Control, request: ControlRequest): RolloutStatus {
    const decision = decideControl(control, this.controlContext());
    if (!decision.accepted) throw ApplicationFailure.nonRetryable(decision.reason, 'ControlRefused');
    this.apply(decision, request ?? {});
    return this.status();
  }

  private apply(decision: Extract<ControlDecision, { accepted: true }>, request: ControlRequest): void {
    const reason = request?.reason ? `${decision.message}: ${request.reason}` : decision.message;
    switch (decision.effect) {
      case 'hold':
        this.pausedFrom = decision.pausedFrom;
        this.setState('Paused');
        this.decide('paused', reason, request?.by);
        break;
      case 'continue':
        this.pausedFrom = undefined;
        this.setState(decision.to);
        this.decide('resumed', reason, request?.by);
        break;
      case 'proceed':
        this.pending.approved = true;
        this.decide('approved', reason, request?.by);
        break;
      case 'rollback':
        this.pending.abort = true;
        // Said at once, so the caller's answer shows it; no control is accepted from here on.
        this.setState('RollingBack');
        this.decide('aborted', reason, request?.by);
        break;
      case 'skipBake':
        this.pending.skipBake = true;
        this.decide('bakeSkipped', reason, request?.by);
        break;
      case 'overrideGate':
        this.pending.override = true;
        this.decide('gateOverridden', reason, request?.by);
        break;
      case 'regate':
        this.pending.regate = true;
        this.decide('resumed', reason, request?.by);
        break;
    }
  }

  private supersedeContext() {
    return { rolloutId: this.rolloutId, state: this.state, supersededBy: this.supersede?.rolloutId ?? null };
  }

  validateSupersede(request: SupersedeRequest): void {
    if (!request || typeof request.rolloutId !== 'string') throw new Error('supersede: a rolloutId and a spec are required');
    const decision = decideSupersede(this.supersedeContext(), request.rolloutId);
    if (!decision.accepted) throw new Error(decision.reason);
  }

  supersedeWith(request: SupersedeRequest): RolloutStatus {
    const decision = decideSupersede(this.supersedeContext(), request.rolloutId);
    if (!decision.accepted) throw ApplicationFailure.nonRetryable(decision.reason, 'SupersedeRefused');
    // The same superseding rollout again (a client's retry): it is already waiting.
    if (decision.repeat) return this.status();
    this.supersede = request;
    this.supersededAt = now();
    this.pending.abort = true;
    this.decide('superseded', supersededReason(request.rolloutId));
    if (patched(SUPERSEDE_ATTRIBUTE_PATCH)) upsertSearchAttributes([{ key: AUTOCRANE_SUPERSEDED_BY, value: request.rolloutId }]);
    return this.status();
  }

  /** The first of `accept` (or an abort) that has come, or null. */
  interrupted(accept: readonly Interrupt[]): Interrupt | null {
    if (this.pending.abort) return 'abort';
    for (const kind of accept) {
      if (kind === 'paused' && this.state === 'Paused') return 'paused';
      if (kind === 'resumed' && this.state !== 'Paused') return 'resumed';
      if (kind !== 'paused' && kind !== 'resumed' && kind !== 'abort' && this.pending[kind]) return kind;
    }
    return null;
  }

  // -------------------------------------------------------------------------
  // Stage transitions
  // -------------------------------------------------------------------------

  stageContext(snapshot: RolloutSnapshot, stageStartedAt: string): StageContext {
    return { rolloutId: this.rolloutId, snapshot, gate: this.spec.gate, stageStartedAt };
  }

  noteGate(result: WatchGateResult): void {
    this.pods = { updated: result.counts.updated, ready: result.counts.ready, erroring: result.erroring };
    if (result.verdict === 'pass') this.passedBecause = result.reason;
  }

  abortReason(): string {
    return abortRollbackReason(this.supersede?.rolloutId ?? null);
  }

  stageStarted(index: number, count: number, replicas: number, begun: string): string {
    this.stage = index;
    const stageStartedAt = now();
    // Paused before a stage already begun: the pause holds once it has scaled.
    if (this.state !== 'Paused') this.setState('Progressing');
    Object.assign(this.stages[index]!, { result: 'progressing', startedAt: stageStartedAt });
    this.decide(
      'stageStarted',
      `stage ${index + 1} of ${this.spec.stages.length}: ${count} of ${replicas} replicas on the new template${begun}`,
    );
    return stageStartedAt;
  }

  stageScaled(count: number, actions: string[]): void {
    this.decide('stageScaled', `${count} updated replicas ready (${actions.join('; ') || 'nothing to change'})`);
  }

  stagePassed(index: number): void {
    Object.assign(this.stages[index]!, { result: 'passed', endedAt: now(), reason: null });
    this.decide('gatePassed', `stage ${index + 1} passed${this.passedBecause === null ? '' : `: ${this.passedBecause}`}`);
    this.passedBecause = null;
  }

  gateFailed(reason: string): void {
    this.decide('gateFailed', reason);
    if (this.stage >= 0) {
      this.stages[this.stage]!.result = 'failed';
      this.stages[this.stage]!.reason = reason;
    }
  }
}

/**
 * The rollout's states, the operator controls (Temporal updates: pause, resume, approve, abort,
 * promote) accepted or refused in each, and the decision log the status query returns. The
 * controls and the log serve data rollouts too, hence the neutral name.
 *
 * States:
 *   Pending           accepted; the workload is not touched yet
 *   Progressing       moving replicas to a stage's share
 *   Baking            a stage's gate is being evaluated (pods settling, bake running)
 *   AwaitingApproval  the stage passed its gate; waiting for approve (or the timeout)
 *   Promoting         after the last stage: every replica goes to the new template
 *   Paused            an operator paused; `pausedFrom` is where resume returns
 *   Frozen            a gate failed under rollback policy freeze; held as it is for a human
 *   RollingBack       restoring the previous template everywhere
 *   Succeeded         terminal: every pod runs the new template, the canary is gone
 *   RolledBack        terminal: every pod is back on the previous template (after a gate
 *                     failure, an approval timeout with onTimeout rollback, or an abort;
 *                     the decision log says which)
 *   Failed            terminal: the rollout could not finish nor roll back (the log says why)
 *   Superseded        terminal: a newer rollout of the same target took over
 *
 * Choices (docs/rollouts.md, "Controls"):
 *  - Pause holds progress, not protection: a paused rollout still watches its gate, and a
 *    failure still rolls back (or freezes). While paused, an approval's timeout does not fire.
 *  - Controls are refused, not silently accepted, when they would do nothing (pausing a paused
 *    rollout, resuming a running one); Temporal deduplicates retries of the same update.
 *  - resume on a Frozen rollout evaluates the gate again (the bake restarts); promote on a
 *    Frozen rollout overrides the failed gate and goes on; abort rolls back.
 *  - promote skips the rest of a bake; it is refused outside Baking and Frozen (for an
 *    approval, approve is the control).
 *
 * Pure: no I/O, no clock, safe to import from workflows.
 */

export const ROLLOUT_STATES = [
  'Pending',
  'Progressing',
  'Baking',
  'AwaitingApproval',
  'Promoting',
  'Paused',
  'Frozen',
  'RollingBack',
  'Succeeded',
  'RolledBack',
  'Failed',
  'Superseded',
] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

export const TERMINAL_STATES = ['Succeeded', 'RolledBack', 'Failed', 'Superseded'] as const satisfies readonly RolloutState[];
export type TerminalState = (typeof TERMINAL_STATES)[number];

/** States a rollout can be paused in, and so return to on resume. */
export const PAUSABLE_STATES = [
  'Pending',
  'Progressing',
  'Baking',
  'AwaitingApproval',
  'Promoting',
] as const satisfies readonly RolloutState[];
export type PausableState = (typeof PAUSABLE_STATES)[number];

/** Takes any string, so a client can ask about a state it read from a status body. */
export function isTerminal(state: string): state is TerminalState {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

const isPausable = (state: RolloutState): state is PausableState => (PAUSABLE_STATES as readonly string[]).includes(state);

export const ROLLOUT_CONTROLS = ['pause', 'resume', 'approve', 'abort', 'promote'] as const;
export type Control = (typeof ROLLOUT_CONTROLS)[number];

/** A data rollout has no approvals and no bake to skip: the controls it takes. */
export const DATA_ROLLOUT_CONTROLS = ['pause', 'resume', 'abort'] as const satisfies readonly Control[];
export type DataRolloutControl = (typeof DATA_ROLLOUT_CONTROLS)[number];

/** What the workflow does once a control is accepted. */
export type ControlEffect =
  /** Hold at the next safe point (an action in flight finishes first). */
  | 'hold'
  /** Go on from where the pause held. */
  | 'continue'
  /** The awaited approval is given: go to the next stage, or promote after the last. */
  | 'proceed'
  /** Roll back now. */
  | 'rollback'
  /** The current bake ends now; the gate's other checks still apply. */
  | 'skipBake'
  /** A frozen rollout goes on despite its failed gate. */
  | 'overrideGate'
  /** A frozen rollout evaluates its gate again, with a fresh bake. */
  | 'regate';

export interface ControlContext {
  state: RolloutState;
  /** For Paused: the state resume returns to. */
  pausedFrom?: PausableState;
  /** Index of the current stage (0-based); null before the first stage. */
  stage: number | null;
  stageCount: number;
}

export type ControlDecision =
  | {
      accepted: true;
      control: Control;
      from: RolloutState;
      to: RolloutState;
      effect: ControlEffect;
      message: string;
      pausedFrom?: PausableState;
    }
  | { accepted: false; control: Control; state: RolloutState; reason: string };

/** The state after stage `stage` passes (its gate, and its approval if any). */
export function stateAfterStage(stage: number, stageCount: number): 'Progressing' | 'Promoting' {
  return stage + 1 >= stageCount ? 'Promoting' : 'Progressing';
}

/** The state after a gate fails, by rollback policy. */
export function stateAfterGateFailure(rollback: 'automatic' | 'freeze'): 'RollingBack' | 'Frozen' {
  return rollback === 'automatic' ? 'RollingBack' : 'Frozen';
}

function describeState(ctx: ControlContext): string {
  if (ctx.state === 'Paused' && ctx.pausedFrom !== undefined) return `state Paused, from ${ctx.pausedFrom}`;
  return `state ${ctx.state}`;
}

function stageName(ctx: ControlContext): string {
  return ctx.stage === null ? 'the rollout' : `stage ${ctx.stage + 1} of ${ctx.stageCount}`;
}

/**
 * Whether `control` is accepted in the rollout's current state, with the resulting state and
 * effect, or refused with a reason for people ("approve: rollout is not awaiting approval
 * (state Baking)").
 */
export function decideControl(control: Control, ctx: ControlContext): ControlDecision {
  const refuse = (why: string): ControlDecision => ({
    accepted: false,
    control,
    state: ctx.state,
    reason: `${control}: ${why} (${describeState(ctx)})`,
  });
  const accept = (to: RolloutState, effect: ControlEffect, message: string, pausedFrom?: PausableState): ControlDecision => {
    const decision: ControlDecision = { accepted: true, control, from: ctx.state, to, effect, message };
    if (pausedFrom !== undefined) decision.pausedFrom = pausedFrom;
    return decision;
  };
  const { state } = ctx;

  if (isTerminal(state)) return refuse('rollout has finished');
  if (state === 'RollingBack' && control !== 'abort') return refuse('rollout is rolling back; it can no longer be changed');
  // The promotion is one short activity that hands every replica over; stopping it halfway
  // would leave both workloads half-promoted, so it is refused rather than accepted and not done.
  if (state === 'Promoting' && (control === 'abort' || control === 'pause')) {
    return refuse(
      'the promotion is under way and cannot be interrupted; it ends within seconds (to undo it, start a rollout of the previous version)',
    );
  }

  switch (control) {
    case 'pause':
      if (state === 'Paused') return refuse('rollout is already paused');
      if (state === 'Frozen') return refuse('rollout is frozen after a gate failure and already holding; resume, promote or abort it');
      if (!isPausable(state)) return refuse('rollout cannot be paused now');
      return accept('Paused', 'hold', `paused ${stageName(ctx)}`, state);

    case 'resume':
      if (state === 'Paused') {
        if (ctx.pausedFrom === undefined) return refuse('rollout is paused but does not know where it was paused');
        return accept(ctx.pausedFrom, 'continue', `resumed ${stageName(ctx)}`);
      }
      if (state === 'Frozen') return accept('Baking', 'regate', `evaluating the gate of ${stageName(ctx)} again, with a fresh bake`);
      return refuse('rollout is not paused or frozen');

    case 'approve':
      if (state === 'AwaitingApproval') {
        if (ctx.stage === null) return refuse('rollout has no current stage to approve');
        const to = stateAfterStage(ctx.stage, ctx.stageCount);
        return accept(to, 'proceed', `approved ${stageName(ctx)}; ${to === 'Promoting' ? 'promoting' : `going to stage ${ctx.stage + 2}`}`);
      }
      if (state === 'Paused' && ctx.pausedFrom === 'AwaitingApproval') return refuse('rollout is paused; resume it first');
      return refuse('rollout is not awaiting approval');

    case 'abort':
      if (state === 'RollingBack') return refuse('rollout is already rolling back');
      return accept('RollingBack', 'rollback', `aborted at ${stageName(ctx)}; rolling back`);

    case 'promote':
      if (state === 'Baking') return accept('Baking', 'skipBake', `skipping the rest of the bake of ${stageName(ctx)}`);
      if (state === 'Frozen') {
        if (ctx.stage === null) return refuse('rollout has no current stage to promote');
        const to = stateAfterStage(ctx.stage, ctx.stageCount);
        return accept(
          to,
          'overrideGate',
          `overriding the failed gate of ${stageName(ctx)}; ${to === 'Promoting' ? 'promoting' : `going to stage ${ctx.stage + 2}`}`,
        );
      }
      if (state === 'AwaitingApproval') return refuse('rollout is awaiting approval, not baking; use approve');
      if (state === 'Paused') return refuse('rollout is paused; resume it first');
      return refuse('no bake in progress; promote skips the rest of a bake');
  }
}

// ---------------------------------------------------------------------------
// Decision log
// ---------------------------------------------------------------------------

export const DECISION_KINDS = [
  'started',
  'stageStarted',
  'stageScaled',
  'gatePassed',
  'gateFailed',
  'approvalRequested',
  'approved',
  'approvalTimedOut',
  'paused',
  'resumed',
  'bakeSkipped',
  'gateOverridden',
  'frozen',
  'aborted',
  'rollbackStarted',
  'rolledBack',
  'promotionStarted',
  'succeeded',
  'failed',
  'superseded',
  /** A superseding rollout, waiting for the one it replaced to roll back (domain/rollout/rollout-supersede.ts). */
  'waiting',
  'controlRefused',
] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

export interface DecisionRecord {
  /** RFC 3339 time of the decision. */
  at: string;
  kind: DecisionKind;
  /** 0-based stage index; null when the decision is not about a stage. */
  stage: number | null;
  reason: string;
  /** Who asked, for operator controls (the caller's user name). */
  by?: string;
}

/** Generic over the record so the data rollouts (domain/data/data-rollout.ts) keep their own kinds in the same bounded log. */
export interface DecisionLog<R extends { reason: string } = DecisionRecord> {
  records: R[];
  /** Records dropped from the middle to keep the log bounded. */
  dropped: number;
}

/** At most this many records are kept: the first (how the rollout began) and the latest. */
export const DECISION_LOG_LIMIT = 200;
/** Reasons longer than this are cut (with '…'), so one record cannot bloat workflow state. */
export const MAX_DECISION_REASON_LENGTH = 1000;

export function emptyDecisionLog<R extends { reason: string } = DecisionRecord>(): DecisionLog<R> {
  return { records: [], dropped: 0 };
}

/**
 * The log with `record` appended (the input is not modified). Beyond `limit` records, the
 * oldest after the first are dropped and counted, so the log keeps how the rollout began and
 * everything recent.
 */
export function appendDecision<R extends { reason: string }>(
  log: DecisionLog<R>,
  record: R,
  limit: number = DECISION_LOG_LIMIT,
): DecisionLog<R> {
  if (!Number.isInteger(limit) || limit < 2) throw new RangeError(`decision log limit ${limit} must be a whole number ≥ 2`);
  const reason = Array.from(record.reason);
  const bounded =
    reason.length <= MAX_DECISION_REASON_LENGTH
      ? record
      : { ...record, reason: `${reason.slice(0, MAX_DECISION_REASON_LENGTH - 1).join('')}…` };
  const records = [...log.records, bounded];
  const excess = records.length - limit;
  if (excess <= 0) return { records, dropped: log.dropped };
  return { records: [records[0]!, ...records.slice(1 + excess)], dropped: log.dropped + excess };
}

const ACCEPTED_KIND: Record<ControlEffect, DecisionKind> = {
  hold: 'paused',
  continue: 'resumed',
  proceed: 'approved',
  rollback: 'aborted',
  skipBake: 'bakeSkipped',
  overrideGate: 'gateOverridden',
  regate: 'resumed',
};

/** The decision record of an operator control, accepted or refused. */
export function controlDecisionRecord(decision: ControlDecision, at: string, stage: number | null, by?: string): DecisionRecord {
  const record: DecisionRecord = decision.accepted
    ? { at, kind: ACCEPTED_KIND[decision.effect], stage, reason: decision.message }
    : { at, kind: 'controlRefused', stage, reason: decision.reason };
  if (by !== undefined) record.by = by;
  return record;
}

/**
 * What comes next in a rollout once a stage has a verdict: the next stage (or the promotion
 * after the last), a rollback, or a freeze until an operator decides; and what a stage without
 * bake may begin early, as its gate passes, so that the next step's pods start while the
 * workflow records the verdict. The workflow, the stage activity (advanceStage) and the tests
 * all read these rules from here.
 *
 * Rules that came with a workflow patch ask `patched` only where they apply, so a workflow
 * records the patch's marker exactly where it did before the rules lived here.
 *
 * Pure: no I/O, safe to import from workflows.
 */
import { stateAfterGateFailure } from '../gate/stage-controls';

/** The workflow patches these rules depend on. */
export const NEXT_STEP_PATCHES = {
  /** An abort accepted as a stage's gate passed (same activation) rolls back instead of going on. */
  abortBeatsPass: 'abort-beats-gate-pass',
  /** An approval timing out with onTimeout rollback rolls back even under the freeze policy. */
  approvalTimeoutRollsBack: 'approval-timeout-rolls-back',
  /** Resuming a stage frozen while it was scaling scales it again before its fresh gate. */
  regateRescales: 'regate-rescales',
} as const;
export type NextStepPatch = (typeof NEXT_STEP_PATCHES)[keyof typeof NEXT_STEP_PATCHES];

/**
 * A stage's verdict. `rollback`: roll back whatever the rollback policy (an approval's onTimeout
 * asked for it); `failed`: a gate failure, handled per the policy; `abort`: an operator's abort
 * or a supersede.
 */
export type StageVerdict =
  { verdict: 'passed' } | { verdict: 'failed'; reason: string } | { verdict: 'rollback'; reason: string } | { verdict: 'abort' };

/** What follows a passed stage: the next stage at its count, or the promotion after the last. */
export type StepAfterPass = { step: 'stage'; index: number; count: number } | { step: 'promotion' };

export function stepAfterPass(counts: readonly number[], index: number): StepAfterPass {
  const count = counts[index + 1];
  return count === undefined ? { step: 'promotion' } : { step: 'stage', index: index + 1, count };
}

/** The parts of a stage these rules read. */
export interface StageShape {
  bakeSeconds: number;
  approval?: unknown;
}

/** What the workflow asks of a stage's scaling activity (advanceStage's input, beside the stage itself). */
export type StageAdvance = { gateAfterScaling: boolean } & ({ nextCount: number } | { beginPromotion: true } | Record<never, never>);

/**
 * A stage without bake has its gate evaluated by advanceStage as the scaling ends; with no
 * approval either, nothing is waited for between its gate and the next step, so the activity
 * begins that step (the next stage's scaling, or the promotion) as soon as the gate passes.
 */
export function stageAdvance(stages: readonly StageShape[], counts: readonly number[], index: number): StageAdvance {
  const stage = stages[index];
  if (stage === undefined) throw new RangeError(`stage ${index} is outside 0..${stages.length - 1}`);
  const gateAfterScaling = stage.bakeSeconds === 0;
  if (!gateAfterScaling || stage.approval) return { gateAfterScaling };
  const next = stepAfterPass(counts.slice(0, stages.length), index);
  return next.step === 'stage' ? { gateAfterScaling, nextCount: next.count } : { gateAfterScaling, beginPromotion: true };
}

/**
 * The step advanceStage begins once the stage's gate passed, or null: only a Deployment's next
 * step can begin early (a StatefulSet's partition moves only when its stage starts), and only
 * when the workflow asked for it (stageAdvance).
 */
export function stepBegunEarly(
  kind: string,
  input: { gateAfterScaling?: boolean; nextCount?: number; beginPromotion?: boolean },
): { step: 'stage'; count: number } | { step: 'promotion' } | null {
  if (kind !== 'Deployment' || input.gateAfterScaling !== true) return null;
  if (input.nextCount !== undefined) return { step: 'stage', count: input.nextCount };
  return input.beginPromotion === true ? { step: 'promotion' } : null;
}

/**
 * What follows a stage's verdict: `pass` (the stage passed; then stepAfterPass), `abort` (roll
 * back for the operator or the supersede), `rollback` (roll back for the gate's reason) or
 * `freeze` (hold everything until an operator aborts, re-gates or overrides: afterFreeze).
 */
export type AfterVerdict = { step: 'pass' } | { step: 'abort' } | { step: 'rollback'; reason: string } | { step: 'freeze'; reason: string };

export interface VerdictContext {
  /** An abort (or supersede) accepted and not acted on yet. */
  abortPending: boolean;
  rollbackPolicy: 'automatic' | 'freeze';
  patched: (patch: NextStepPatch) => boolean;
}

export function afterVerdict(verdict: StageVerdict, ctx: VerdictContext): AfterVerdict {
  switch (verdict.verdict) {
    case 'passed':
      // An abort accepted in the activation that brought the pass must not be left behind.
      return ctx.abortPending && ctx.patched(NEXT_STEP_PATCHES.abortBeatsPass) ? { step: 'abort' } : { step: 'pass' };
    case 'abort':
      return { step: 'abort' };
    case 'failed':
    case 'rollback': {
      // Histories recorded before the patch froze here under the freeze policy.
      const overridesPolicy =
        verdict.verdict === 'rollback' && ctx.rollbackPolicy === 'freeze' && ctx.patched(NEXT_STEP_PATCHES.approvalTimeoutRollsBack);
      const next = overridesPolicy ? 'RollingBack' : stateAfterGateFailure(ctx.rollbackPolicy);
      return next === 'RollingBack' ? { step: 'rollback', reason: verdict.reason } : { step: 'freeze', reason: verdict.reason };
    }
  }
}

/** What an operator's request ends a freeze with; null while none came. */
export type AfterFreeze = { step: 'rollback' } | { step: 'pass' } | { step: 'rescale' } | { step: 'rebake' };

export interface FreezeContext {
  pending: { abort: boolean; regate: boolean; override: boolean };
  /** The stage's scaling finished before its gate failed. */
  scaled: boolean;
  patched: (patch: NextStepPatch) => boolean;
}

/**
 * Abort wins over a re-gate, a re-gate over an override. A re-gate of a stage whose gate failed
 * while it was scaling scales it again first: its missing pods come first, or the fresh gate
 * would wait for pods nobody creates.
 */
export function afterFreeze(ctx: FreezeContext): AfterFreeze | null {
  if (ctx.pending.abort) return { step: 'rollback' };
  if (ctx.pending.regate) return !ctx.scaled && ctx.patched(NEXT_STEP_PATCHES.regateRescales) ? { step: 'rescale' } : { step: 'rebake' };
  if (ctx.pending.override) return { step: 'pass' };
  return null;
}

/**
 * Why a stage's failure rolls back: the gate's reason, unless an abort (or a supersede) is what
 * ended it, in which case the operator's.
 */
export function failureRollbackReason(gateReason: string, abortPending: boolean, supersededBy: string | null): string {
  if (!abortPending) return gateReason;
  return supersededBy !== null ? `superseded by rollout ${supersededBy} while frozen` : 'aborted by an operator while frozen';
}

/** Why an abort rolls back. */
export const abortRollbackReason = (supersededBy: string | null): string =>
  supersededBy !== null ? `superseded by rollout ${supersededBy}` : 'aborted by an operator';

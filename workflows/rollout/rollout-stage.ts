import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../../activities/rollout/rollout';
import type { RolloutSnapshot, StageOutcome, WatchGateResult } from '../../domain/rollout/rollout-types';
import { afterFreeze, type AfterFreeze, type StageAdvance, type StageVerdict } from '../../domain/rollout/rollout-next-step';
import { activitySummary } from '../../domain/rollout/rollout-summary';
import type { Interrupt, RolloutRun } from './rollout-run';

/** Retried without end: an apiserver that is down for a while only delays the rollout. */
export const retry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' };
/** Scaling, waiting and baking: long, so a dead worker is noticed by its silent heartbeat, not the timeout. */
export const long = { startToCloseTimeout: '25 hours', heartbeatTimeout: '15 seconds', retry } as const;
/**
 * The stage's scaling and gate watches, which an operator's control (abort, pause, promote, a
 * supersede) interrupts: an interrupted one must have stopped before the workflow goes on. Under
 * Temporal's default (TRY_CANCEL) the workflow went on at once, e.g. to the rollback, while the
 * cancelled advanceStage still scaled the canary until a heartbeat brought it the cancellation
 * (the worker throttles heartbeats to 1 s, workers/worker-factory.ts, so the wait is short).
 */
const { advanceStage } = proxyActivities<RolloutActivities>({
  ...long,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
/**
 * The gate's watch is never left unwatched for long: watchGate heartbeats on a timer every
 * 500 ms (the worker sends one a second at most), so a silence of 3 s means its worker died and
 * the watch is retried on another one within a few seconds. The time it could not watch does
 * not count as bake (domain/gate/stage-gate-evidence.ts). Only the timeout changes here, not the
 * commands, so recorded histories replay as they are.
 */
const { watchGate } = proxyActivities<RolloutActivities>({
  ...long,
  heartbeatTimeout: '3 seconds',
  // Retried at once after a timeout (a dead worker), backing off only if it keeps failing, and
  // never by more than 2 s: while the apiserver is unreachable each attempt fails, and with the
  // common 10 s cap the watch resumed up to 10 s after the apiserver was back (seen in the
  // sandbox test of an outage), all of it unwatched time added to the bake.
  retry: { ...retry, initialInterval: '200 milliseconds', maximumInterval: '2 seconds' },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

export const failureMessage = (err: unknown): string => {
  let current: unknown = err;
  // The activity's own message says what happened; the wrapper only says which activity.
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(err);
};

const now = () => new Date().toISOString();

/** Runs an activity until it finishes or one of `accept` (or an abort) interrupts it; an interrupted activity is cancelled. */
async function interruptible<T>(
  run: RolloutRun,
  activity: () => Promise<T>,
  accept: readonly Interrupt[],
): Promise<{ value: T } | { interrupt: Interrupt }> {
  let outcome: { value: T } | { error: unknown } | undefined;
  const scope = new CancellationScope();
  const running = scope.run(activity).then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  await condition(() => outcome !== undefined || run.interrupted(accept) !== null);
  if (outcome === undefined) {
    const interrupt = run.interrupted(accept) as Interrupt;
    scope.cancel();
    // Waits until the activity has stopped (WAIT_CANCELLATION_COMPLETED), whatever it ended with;
    // a request that came meanwhile (an abort after a pause) takes precedence.
    await running;
    return { interrupt: run.interrupted(accept) ?? interrupt };
  }
  if ('error' in outcome) {
    if (isCancellation(outcome.error)) return { interrupt: run.interrupted(accept) ?? 'abort' };
    throw outcome.error;
  }
  return outcome;
}

/** Scales stage `index` to `count` updated replicas (advanceStage); an abort interrupts it. */
export function advance(
  run: RolloutRun,
  snapshot: RolloutSnapshot,
  index: number,
  count: number,
  stageStartedAt: string,
  plan: StageAdvance,
): Promise<{ value: StageOutcome } | { interrupt: Interrupt }> {
  const summary = activitySummary.advance(index, run.spec.stages.length, count, snapshot.replicas);
  return interruptible(
    run,
    () => advanceStage.executeWithOptions({ summary }, [{ ...run.stageContext(snapshot, stageStartedAt), count, ...plan }]),
    [],
  );
}

/**
 * Holds while paused, watching the stage's gate meanwhile (pause holds progress, not
 * protection). Returns a failure reason if the gate fails while held, 'abort', or null.
 */
export async function holdWhilePaused(
  run: RolloutRun,
  snapshot: RolloutSnapshot,
  watching: { count: number; stageStartedAt: string } | null,
): Promise<string | 'abort' | null> {
  while (run.state === 'Paused') {
    if (!watching) {
      await condition(() => run.state !== 'Paused' || run.pending.abort);
    } else {
      const result = await interruptible(
        run,
        () =>
          watchGate.executeWithOptions({ summary: activitySummary.hold(run.stage, run.spec.stages.length, 'paused') }, [
            {
              ...run.stageContext(snapshot, watching.stageStartedAt),
              expectedPods: watching.count,
              bakeStartedAt: now(),
              bakeSeconds: 0,
              holdAfterPass: true,
            },
          ]),
        ['resumed'],
      );
      if ('value' in result) {
        run.noteGate(result.value);
        return result.value.reason;
      }
    }
    if (run.pending.abort) return 'abort';
  }
  return run.pending.abort ? 'abort' : null;
}

/** The verdict of a hold: null when it ended with a resume (the caller goes on). */
const heldVerdict = (held: string | 'abort' | null): StageVerdict | null =>
  held === 'abort' ? { verdict: 'abort' } : held !== null ? { verdict: 'failed', reason: held } : null;

/** Bakes a stage: the gate watched until it passes or fails; promote skips the bake, pause holds. */
async function bake(
  run: RolloutRun,
  snapshot: RolloutSnapshot,
  index: number,
  count: number,
  stageStartedAt: string,
  bakeStartedAt: string,
): Promise<StageVerdict> {
  let bakeSeconds = run.spec.stages[index]!.bakeSeconds;
  // A promote accepted as the previous bake ended is stale; it must not skip this one.
  run.pending.skipBake = false;
  // Paused while the stage was scaling: the pause takes hold now the scaling is done.
  const heldBefore = heldVerdict(await holdWhilePaused(run, snapshot, { count, stageStartedAt }));
  if (heldBefore !== null) return heldBefore;
  for (;;) {
    run.setState('Baking');
    run.stages[index]!.result = 'baking';
    const result = await interruptible(
      run,
      () =>
        watchGate.executeWithOptions({ summary: activitySummary.bake(index, run.spec.stages.length, bakeSeconds) }, [
          { ...run.stageContext(snapshot, stageStartedAt), expectedPods: count, bakeStartedAt, bakeSeconds },
        ]),
      ['skipBake', 'paused'],
    );
    if ('value' in result) {
      run.noteGate(result.value);
      if (result.value.verdict === 'fail') return { verdict: 'failed', reason: result.value.reason };
      if (run.state === 'Paused') {
        const held = heldVerdict(await holdWhilePaused(run, snapshot, { count, stageStartedAt }));
        if (held !== null) return held;
      }
      return { verdict: 'passed' };
    }
    if (result.interrupt === 'abort') return { verdict: 'abort' };
    if (result.interrupt === 'skipBake') {
      run.pending.skipBake = false;
      bakeSeconds = 0;
      continue;
    }
    // Paused mid-bake: hold (still watching), then bake on.
    const held = heldVerdict(await holdWhilePaused(run, snapshot, { count, stageStartedAt }));
    if (held !== null) return held;
  }
}

/** The stage's approval: approve goes on; the timeout (not running while paused) takes onTimeout. */
async function awaitApproval(
  run: RolloutRun,
  snapshot: RolloutSnapshot,
  index: number,
  count: number,
  stageStartedAt: string,
): Promise<StageVerdict> {
  const approval = run.spec.stages[index]!.approval!;
  let remainingMs = approval.timeoutSeconds * 1000;
  run.decide(
    'approvalRequested',
    `stage ${index + 1} passed its gate; waiting up to ${approval.timeoutSeconds}s for approve (then ${approval.onTimeout})`,
  );
  for (;;) {
    run.setState('AwaitingApproval');
    run.stages[index]!.result = 'awaiting-approval';
    // The gate is watched while waiting: a pod turning to error ends the wait.
    let gate: WatchGateResult | undefined;
    let gateError: unknown;
    const scope = new CancellationScope();
    const watching = scope
      .run(() =>
        watchGate.executeWithOptions({ summary: activitySummary.hold(index, run.spec.stages.length, 'awaiting approval') }, [
          { ...run.stageContext(snapshot, stageStartedAt), expectedPods: count, bakeStartedAt: now(), bakeSeconds: 0, holdAfterPass: true },
        ]),
      )
      .then(
        (value) => (gate = value),
        (error: unknown) => (gateError = error),
      );
    const waitStarted = Date.now();
    const answered = await condition(
      () => gate !== undefined || gateError !== undefined || run.interrupted(['approved', 'paused']) !== null,
      remainingMs,
    );
    remainingMs -= Date.now() - waitStarted;
    if (gate === undefined && gateError === undefined) {
      scope.cancel();
      // Waits until the watch has stopped; however it ended, what interrupted it decides.
      await watching;
      gate = undefined;
      gateError = undefined;
    }
    if (gateError !== undefined && !isCancellation(gateError)) throw gateError;
    if (gate !== undefined) {
      run.noteGate(gate);
      return { verdict: 'failed', reason: gate.reason };
    }
    if (!answered) {
      run.decide('approvalTimedOut', `no approval within ${approval.timeoutSeconds}s; taking onTimeout: ${approval.onTimeout}`);
      return approval.onTimeout === 'proceed'
        ? { verdict: 'passed' }
        : { verdict: 'rollback', reason: `approval of stage ${index + 1} timed out (onTimeout rollback)` };
    }
    const interrupt = run.interrupted(['approved', 'paused']);
    if (interrupt === 'abort') return { verdict: 'abort' };
    if (interrupt === 'approved') {
      run.pending.approved = false;
      return { verdict: 'passed' };
    }
    const held = heldVerdict(await holdWhilePaused(run, snapshot, { count, stageStartedAt }));
    if (held !== null) return held;
  }
}

/**
 * The stage's bake, then its approval if it has one; a gate that cannot be watched fails the
 * stage. A gate that already passed with no bake (`passed`) needs no watching, unless the
 * rollout was paused meanwhile: a pause holds the stage, watching its gate.
 */
export async function bakeAndApprove(
  run: RolloutRun,
  snapshot: RolloutSnapshot,
  stage: { index: number; count: number; startedAt: string },
  bakeStartedAt: string,
  passed?: WatchGateResult,
): Promise<StageVerdict> {
  const { index, count, startedAt } = stage;
  try {
    let baked: StageVerdict;
    if (passed !== undefined && run.state !== 'Paused') {
      run.noteGate(passed);
      // As in bake(): a promote accepted before this stage's bake must not skip the next one.
      run.pending.skipBake = false;
      baked = run.pending.abort ? { verdict: 'abort' } : { verdict: 'passed' };
    } else {
      baked = await bake(run, snapshot, index, count, startedAt, bakeStartedAt);
    }
    return baked.verdict === 'passed' && run.spec.stages[index]!.approval
      ? await awaitApproval(run, snapshot, index, count, startedAt)
      : baked;
  } catch (err) {
    if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
    return { verdict: 'failed', reason: `stage ${index + 1}: the gate could not be watched: ${failureMessage(err)}` };
  }
}

/** Holds everything as it is after a failed gate until an operator aborts, re-gates or overrides. */
export async function freeze(run: RolloutRun, scaled: boolean): Promise<AfterFreeze> {
  run.setState('Frozen');
  run.decide('frozen', 'rollback policy is freeze: holding everything as it is until an operator aborts, resumes or promotes');
  const { pending } = run;
  await condition(() => pending.abort || pending.regate || pending.override);
  const next = afterFreeze({ pending, scaled, patched })!;
  if (next.step === 'rescale' || next.step === 'rebake') pending.regate = false;
  if (next.step === 'pass') pending.override = false;
  return next;
}

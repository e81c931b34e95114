import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { RolloutActivities, RolloutSnapshot, StageContext, WatchGateResult } from '../activities/rollout';
import {
  appendDecision,
  decideControl,
  emptyDecisionLog,
  stateAfterGateFailure,
  type Control,
  type ControlDecision,
  type DecisionKind,
  type PausableState,
  type RolloutState,
} from '../domain/stage-controls';
import { formatShare, resolveStageCounts } from '../domain/rollout-shares';
import { activitySummary, summarizeSpec } from '../domain/rollout-summary';
import { decideSupersede, supersededReason, waitingReason } from '../domain/rollout-supersede';
import type { RolloutSpec } from '../domain/rollout-spec';
import {
  MAX_CONTROL_REASON_LENGTH,
  rolloutControlUpdates,
  rolloutRunStart,
  rolloutStatusQuery,
  supersedeRolloutUpdate,
  supersedingStatusQuery,
  type ControlRequest,
  type RolloutPods,
  type RolloutStatus,
  type RolloutWorkflowInput,
  type StageStatus,
  type SupersedeRequest,
} from './rollout-messages';
import { AUTOCRANE_STAGE, AUTOCRANE_STATE, AUTOCRANE_SUPERSEDED_BY } from './search-attributes';

/** Retried without end: an apiserver that is down for a while only delays the rollout. */
const retry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' };

/**
 * A few apiserver calls each, with no heartbeat: an attempt lost with a dead worker is noticed
 * only when this timeout expires, so it is short (it was 2 minutes); the calls themselves give up
 * after 5 s and a foreign canary's deletion is waited for 10 s per attempt (activities/rollout.ts).
 */
/** Workflow patch: the stage search attribute is upserted when the stage changes with the state unchanged. */
const STAGE_ATTRIBUTE_PATCH = 'stage-search-attribute';
/**
 * Workflow patch: a supersede upserts AutoCraneSupersededBy (so the new rollout's ID is found
 * while this run rolls back), and the run continued as the new rollout starts with the new
 * rollout's search attributes and memo rather than a copy of this run's.
 */
const SUPERSEDE_ATTRIBUTE_PATCH = 'supersede-search-attribute';
/** Workflow patch: an abort accepted as a stage's gate passed (same activation) rolls back instead of going on. */
const ABORT_BEATS_PASS_PATCH = 'abort-beats-gate-pass';
/** Workflow patch: an approval timing out with onTimeout rollback rolls back even under the freeze policy. */
const APPROVAL_TIMEOUT_ROLLBACK_PATCH = 'approval-timeout-rolls-back';
/** Workflow patch: resuming a stage frozen while it was scaling scales it again before its fresh gate. */
const REGATE_RESCALES_PATCH = 'regate-rescales';

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

const { prepareRollout, finishRollout } = proxyActivities<RolloutActivities>({ startToCloseTimeout: '30 seconds', retry });
/** Scaling, waiting and baking: long, so a dead worker is noticed by its silent heartbeat, not the timeout. */
const long = { startToCloseTimeout: '25 hours', heartbeatTimeout: '15 seconds', retry } as const;
/**
 * The stage's scaling and gate watches, which an operator's control (abort, pause, promote, a
 * supersede) interrupts: an interrupted one must have stopped before the workflow goes on. Under
 * Temporal's default (TRY_CANCEL) the workflow went on at once, e.g. to the rollback, while the
 * cancelled advanceStage still scaled the canary until a heartbeat brought it the cancellation
 * (the worker throttles heartbeats to 1 s, workers/worker-factory.ts, so the wait is short).
 */
const { advanceStage } = proxyActivities<RolloutActivities>({ ...long, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED });
/**
 * The gate's watch is never left unwatched for long: watchGate heartbeats on a timer every
 * 500 ms (the worker sends one a second at most), so a silence of 3 s means its worker died and
 * the watch is retried on another one within a few seconds. The time it could not watch does
 * not count as bake (domain/stage-gate-evidence.ts). Only the timeout changes here, not the
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
const { promoteRollout, rollbackRollout } = proxyActivities<RolloutActivities>(long);

type Interrupt = 'abort' | 'skipBake' | 'paused' | 'resumed' | 'approved' | 'override' | 'regate';

class RolloutFailed extends Error {}

const failureMessage = (err: unknown): string => {
  let current: unknown = err;
  // The activity's own message says what happened; the wrapper only says which activity.
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(err);
};

/**
 * A staged rollout of a new pod template (issue 5). Orchestration only: the activities do
 * the Kubernetes work and watch the gate; domain/rollout-plan decides the steps,
 * domain/stage-gate the verdicts and domain/stage-controls what operators may do when.
 * History stays small whatever the bake times: a stage is one activity to scale and one to
 * bake, each waiting and polling inside the activity.
 */
export async function rolloutWorkflow(input: RolloutWorkflowInput): Promise<RolloutStatus> {
  const { rolloutId, spec } = input;
  const workflowId = workflowInfo().workflowId;
  const startedAt = new Date().toISOString();
  const summary = summarizeSpec(spec).text;

  let state: RolloutState = 'Pending';
  let pausedFrom: PausableState | undefined;
  let stage = -1;
  let decisions = emptyDecisionLog();
  let pods: RolloutPods = { updated: 0, ready: 0, erroring: [] };
  let endedAt: string | null = null;
  let supersede: SupersedeRequest | null = null;
  let supersededAt: string | null = null;
  let totalReplicas: number | null = null;
  const stages: StageStatus[] = initialStages(spec);
  // Operator requests the main flow has not acted on yet.
  const pending = { abort: false, skipBake: false, approved: false, override: false, regate: false };

  const now = () => new Date().toISOString();
  const decide = (kind: DecisionKind, reason: string, by?: string) => {
    decisions = appendDecision(decisions, { at: now(), kind, stage: stage < 0 ? null : stage, reason, ...(by === undefined ? {} : { by }) });
    log.info(`rollout ${kind}`, { rolloutId, stage, reason });
  };
  /** The stage the search attributes say. */
  let stageAttribute = 0;
  const setState = (next: RolloutState) => {
    const stageNow = Math.max(stage, 0);
    // A stage that follows one without bake starts in the same state (Progressing), so the
    // stage alone changes. Histories recorded before the patch have no upsert there.
    if (next === state && (stageNow === stageAttribute || !patched(STAGE_ATTRIBUTE_PATCH))) return;
    state = next;
    stageAttribute = stageNow;
    upsertSearchAttributes([
      { key: AUTOCRANE_STATE, value: state },
      { key: AUTOCRANE_STAGE, value: stageNow },
    ]);
  };
  const status = (): RolloutStatus => ({
    rolloutId,
    workflowId,
    target: spec.target,
    summary,
    state,
    stage,
    totalReplicas,
    stages: stages.map((s) => ({ ...s })),
    pods,
    decisions: decisions.records,
    decisionsDropped: decisions.dropped,
    startedAt,
    endedAt,
    requestId: spec.requestId ?? null,
    supersededBy: supersede?.rolloutId ?? null,
  });

  // Every run (the first, or one continued as new after a supersede) describes itself.
  const runStart = rolloutRunStart(rolloutId, spec);
  upsertSearchAttributes(runStart.searchAttributes);
  upsertMemo(runStart.memo);

  // ---------------------------------------------------------------------------
  // Operator controls
  // ---------------------------------------------------------------------------

  const controlContext = () => ({ state, ...(pausedFrom ? { pausedFrom } : {}), stage: stage < 0 ? null : stage, stageCount: spec.stages.length });
  const validate = (control: Control) => (request: ControlRequest) => {
    if (request?.reason !== undefined && (typeof request.reason !== 'string' || request.reason.length > MAX_CONTROL_REASON_LENGTH)) {
      throw new Error(`reason: expected a string of at most ${MAX_CONTROL_REASON_LENGTH} characters`);
    }
    const decision = decideControl(control, controlContext());
    if (!decision.accepted) throw new Error(decision.reason);
  };
  const apply = (decision: Extract<ControlDecision, { accepted: true }>, request: ControlRequest) => {
    const reason = request?.reason ? `${decision.message}: ${request.reason}` : decision.message;
    switch (decision.effect) {
      case 'hold':
        pausedFrom = decision.pausedFrom;
        setState('Paused');
        decide('paused', reason, request?.by);
        break;
      case 'continue':
        pausedFrom = undefined;
        setState(decision.to);
        decide('resumed', reason, request?.by);
        break;
      case 'proceed':
        pending.approved = true;
        decide('approved', reason, request?.by);
        break;
      case 'rollback':
        pending.abort = true;
        // Said at once, so the caller's answer shows it; no control is accepted from here on.
        setState('RollingBack');
        decide('aborted', reason, request?.by);
        break;
      case 'skipBake':
        pending.skipBake = true;
        decide('bakeSkipped', reason, request?.by);
        break;
      case 'overrideGate':
        pending.override = true;
        decide('gateOverridden', reason, request?.by);
        break;
      case 'regate':
        pending.regate = true;
        decide('resumed', reason, request?.by);
        break;
    }
  };
  for (const control of Object.keys(rolloutControlUpdates) as Control[]) {
    setHandler(
      rolloutControlUpdates[control],
      (request: ControlRequest) => {
        const decision = decideControl(control, controlContext());
        if (!decision.accepted) throw ApplicationFailure.nonRetryable(decision.reason, 'ControlRefused');
        apply(decision, request ?? {});
        return status();
      },
      { validator: validate(control) },
    );
  }
  const supersedeContext = () => ({ rolloutId, state, supersededBy: supersede?.rolloutId ?? null });
  setHandler(
    supersedeRolloutUpdate,
    (request) => {
      const decision = decideSupersede(supersedeContext(), request.rolloutId);
      if (!decision.accepted) throw ApplicationFailure.nonRetryable(decision.reason, 'SupersedeRefused');
      // The same superseding rollout again (a client's retry): it is already waiting.
      if (decision.repeat) return status();
      supersede = request;
      supersededAt = now();
      pending.abort = true;
      decide('superseded', supersededReason(request.rolloutId));
      if (patched(SUPERSEDE_ATTRIBUTE_PATCH)) upsertSearchAttributes([{ key: AUTOCRANE_SUPERSEDED_BY, value: request.rolloutId }]);
      return status();
    },
    {
      validator: (request) => {
        if (!request || typeof request.rolloutId !== 'string') throw new Error('supersede: a rolloutId and a spec are required');
        const decision = decideSupersede(supersedeContext(), request.rolloutId);
        if (!decision.accepted) throw new Error(decision.reason);
      },
    },
  );
  setHandler(rolloutStatusQuery, status);
  // The superseding rollout, Pending until this run has rolled back and continues as it.
  setHandler(supersedingStatusQuery, (): RolloutStatus | null => {
    if (supersede === null) return null;
    const at = supersededAt ?? startedAt;
    return {
      rolloutId: supersede.rolloutId,
      workflowId,
      target: supersede.spec.target,
      summary: summarizeSpec(supersede.spec).text,
      state: 'Pending',
      stage: -1,
      totalReplicas: null,
      stages: initialStages(supersede.spec),
      pods: { updated: 0, ready: 0, erroring: [] },
      decisions: [{ at, kind: 'waiting', stage: null, reason: waitingReason(rolloutId) }],
      decisionsDropped: 0,
      startedAt: at,
      endedAt: null,
      requestId: supersede.spec.requestId ?? null,
      supersededBy: null,
    };
  });

  // ---------------------------------------------------------------------------
  // Running activities that an operator can interrupt
  // ---------------------------------------------------------------------------

  const interrupted = (accept: readonly Interrupt[]): Interrupt | null => {
    if (pending.abort) return 'abort';
    for (const kind of accept) {
      if (kind === 'paused' && state === 'Paused') return 'paused';
      if (kind === 'resumed' && state !== 'Paused') return 'resumed';
      if (kind !== 'paused' && kind !== 'resumed' && kind !== 'abort' && pending[kind]) return kind;
    }
    return null;
  };

  /** Runs an activity until it finishes or one of `accept` (or an abort) interrupts it; an interrupted activity is cancelled. */
  async function interruptible<T>(run: () => Promise<T>, accept: readonly Interrupt[]): Promise<{ value: T } | { interrupt: Interrupt }> {
    let outcome: { value: T } | { error: unknown } | undefined;
    const scope = new CancellationScope();
    const running = scope.run(run).then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    await condition(() => outcome !== undefined || interrupted(accept) !== null);
    if (outcome === undefined) {
      const interrupt = interrupted(accept) as Interrupt;
      scope.cancel();
      // Waits until the activity has stopped (WAIT_CANCELLATION_COMPLETED), whatever it ended with;
      // a request that came meanwhile (an abort after a pause) takes precedence.
      await running;
      return { interrupt: interrupted(accept) ?? interrupt };
    }
    if ('error' in outcome) {
      if (isCancellation(outcome.error)) return { interrupt: interrupted(accept) ?? 'abort' };
      throw outcome.error;
    }
    return outcome;
  }

  const stageContext = (snapshot: RolloutSnapshot, stageStartedAt: string): StageContext => ({ rolloutId, snapshot, gate: spec.gate, stageStartedAt });

  /** Why the stage's gate last passed (what it watched, and any bake it extended), for the gatePassed decision. */
  let passedBecause: string | null = null;
  const noteGate = (result: WatchGateResult) => {
    pods = { updated: result.counts.updated, ready: result.counts.ready, erroring: result.erroring };
    if (result.verdict === 'pass') passedBecause = result.reason;
  };

  /**
   * Holds while paused, watching the stage's gate meanwhile (pause holds progress, not
   * protection). Returns a failure reason if the gate fails while held, 'abort', or null.
   */
  async function holdWhilePaused(snapshot: RolloutSnapshot, watching: { count: number; stageStartedAt: string } | null): Promise<string | 'abort' | null> {
    while (state === 'Paused') {
      if (!watching) {
        await condition(() => state !== 'Paused' || pending.abort);
      } else {
        const result = await interruptible(
          () =>
            watchGate.executeWithOptions({ summary: activitySummary.hold(stage, spec.stages.length, 'paused') }, [
              { ...stageContext(snapshot, watching.stageStartedAt), expectedPods: watching.count, bakeStartedAt: now(), bakeSeconds: 0, holdAfterPass: true },
            ]),
          ['resumed'],
        );
        if ('value' in result) {
          noteGate(result.value);
          return result.value.reason;
        }
      }
      if (pending.abort) return 'abort';
    }
    return pending.abort ? 'abort' : null;
  }

  /** `rollback`: roll back whatever the rollback policy (an approval's onTimeout asked for it); `failed`: a gate failure, per the policy. */
  type StageVerdict = { verdict: 'passed' } | { verdict: 'failed'; reason: string } | { verdict: 'rollback'; reason: string } | { verdict: 'abort' };

  /** Bakes a stage: the gate watched until it passes or fails; promote skips the bake, pause holds. */
  async function bake(snapshot: RolloutSnapshot, index: number, count: number, stageStartedAt: string, bakeStartedAt: string): Promise<StageVerdict> {
    let bakeSeconds = spec.stages[index]!.bakeSeconds;
    // A promote accepted as the previous bake ended is stale; it must not skip this one.
    pending.skipBake = false;
    // Paused while the stage was scaling: the pause takes hold now the scaling is done.
    const heldBefore = await holdWhilePaused(snapshot, { count, stageStartedAt });
    if (heldBefore === 'abort') return { verdict: 'abort' };
    if (heldBefore !== null) return { verdict: 'failed', reason: heldBefore };
    for (;;) {
      setState('Baking');
      stages[index]!.result = 'baking';
      const result = await interruptible(
        () =>
          watchGate.executeWithOptions({ summary: activitySummary.bake(index, spec.stages.length, bakeSeconds) }, [
            { ...stageContext(snapshot, stageStartedAt), expectedPods: count, bakeStartedAt, bakeSeconds },
          ]),
        ['skipBake', 'paused'],
      );
      if ('value' in result) {
        noteGate(result.value);
        if (result.value.verdict === 'fail') return { verdict: 'failed', reason: result.value.reason };
        if (state === 'Paused') {
          const held = await holdWhilePaused(snapshot, { count, stageStartedAt });
          if (held === 'abort') return { verdict: 'abort' };
          if (held !== null) return { verdict: 'failed', reason: held };
        }
        return { verdict: 'passed' };
      }
      if (result.interrupt === 'abort') return { verdict: 'abort' };
      if (result.interrupt === 'skipBake') {
        pending.skipBake = false;
        bakeSeconds = 0;
        continue;
      }
      // Paused mid-bake: hold (still watching), then bake on.
      const held = await holdWhilePaused(snapshot, { count, stageStartedAt });
      if (held === 'abort') return { verdict: 'abort' };
      if (held !== null) return { verdict: 'failed', reason: held };
    }
  }

  /** The stage's approval: approve goes on; the timeout (not running while paused) takes onTimeout. */
  async function awaitApproval(snapshot: RolloutSnapshot, index: number, count: number, stageStartedAt: string): Promise<StageVerdict> {
    const approval = spec.stages[index]!.approval!;
    let remainingMs = approval.timeoutSeconds * 1000;
    decide('approvalRequested', `stage ${index + 1} passed its gate; waiting up to ${approval.timeoutSeconds}s for approve (then ${approval.onTimeout})`);
    for (;;) {
      setState('AwaitingApproval');
      stages[index]!.result = 'awaiting-approval';
      // The gate is watched while waiting: a pod turning to error ends the wait.
      let gate: WatchGateResult | undefined;
      let gateError: unknown;
      const scope = new CancellationScope();
      const watching = scope
        .run(() =>
          watchGate.executeWithOptions({ summary: activitySummary.hold(index, spec.stages.length, 'awaiting approval') }, [
            { ...stageContext(snapshot, stageStartedAt), expectedPods: count, bakeStartedAt: now(), bakeSeconds: 0, holdAfterPass: true },
          ]),
        )
        .then(
          (value) => (gate = value),
          (error: unknown) => (gateError = error),
        );
      const waitStarted = Date.now();
      const answered = await condition(() => gate !== undefined || gateError !== undefined || interrupted(['approved', 'paused']) !== null, remainingMs);
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
        noteGate(gate);
        return { verdict: 'failed', reason: gate.reason };
      }
      if (!answered) {
        decide('approvalTimedOut', `no approval within ${approval.timeoutSeconds}s; taking onTimeout: ${approval.onTimeout}`);
        return approval.onTimeout === 'proceed' ? { verdict: 'passed' } : { verdict: 'rollback', reason: `approval of stage ${index + 1} timed out (onTimeout rollback)` };
      }
      const interrupt = interrupted(['approved', 'paused']);
      if (interrupt === 'abort') return { verdict: 'abort' };
      if (interrupt === 'approved') {
        pending.approved = false;
        return { verdict: 'passed' };
      }
      const held = await holdWhilePaused(snapshot, { count, stageStartedAt });
      if (held === 'abort') return { verdict: 'abort' };
      if (held !== null) return { verdict: 'failed', reason: held };
    }
  }

  /** After a failed gate: roll back now, or freeze until an operator aborts, re-gates or overrides. */
  async function onGateFailure(reason: string, rollbackAnyway = false): Promise<'rollback' | 'regate' | 'override'> {
    decide('gateFailed', reason);
    if (stage >= 0) {
      stages[stage]!.result = 'failed';
      stages[stage]!.reason = reason;
    }
    // Histories recorded before the patch froze here under the freeze policy.
    const overridesPolicy = rollbackAnyway && spec.rollback === 'freeze' && patched(APPROVAL_TIMEOUT_ROLLBACK_PATCH);
    const next = overridesPolicy ? 'RollingBack' : stateAfterGateFailure(spec.rollback);
    if (next === 'RollingBack') return 'rollback';
    setState('Frozen');
    decide('frozen', 'rollback policy is freeze: holding everything as it is until an operator aborts, resumes or promotes');
    await condition(() => pending.abort || pending.regate || pending.override);
    if (pending.abort) return 'rollback';
    if (pending.regate) {
      pending.regate = false;
      return 'regate';
    }
    pending.override = false;
    return 'override';
  }

  // ---------------------------------------------------------------------------
  // The rollout
  // ---------------------------------------------------------------------------

  const abortReason = () => (supersede ? `superseded by rollout ${supersede.rolloutId}` : 'aborted by an operator');

  decide('started', summary);
  let snapshot: RolloutSnapshot | undefined;
  let rollbackReason: string | null = null;
  /**
   * The rollout annotation is off the target already (a promotion removes it). Read from the
   * promotion's result, not assumed: a history recorded before promotions released the target
   * has a finishRollout to replay.
   */
  let released = false;
  /** The writes that began the next step early (the preparation, or the last stage's activity once its gate passed); empty when none did. */
  let begunEarly: string[] = [];
  const begunNote = (by: string) => (begunEarly.length > 0 ? ` (begun as ${by}: ${begunEarly.join('; ')})` : '');
  try {
    try {
      // Stage 1 follows the preparation whatever happens (a pause holds once it has scaled), so the preparation may begin it.
      snapshot = await prepareRollout.executeWithOptions({ summary: activitySummary.prepare(spec.target) }, [{ rolloutId, spec, beginFirstStage: true }]);
    } catch (err) {
      throw new RolloutFailed(`could not start: ${failureMessage(err)}`);
    }
    totalReplicas = snapshot.replicas;
    const counts = resolveStageCounts(spec.stages, snapshot.replicas);
    counts.forEach((count, i) => (stages[i]!.count = count));

    begunEarly = snapshot.firstStageBegun ?? [];
    stageLoop: for (let index = 0; index < spec.stages.length; index++) {
      // A stage already begun is held once it has scaled, as when paused while it scales.
      const held = begunEarly.length > 0 ? null : await holdWhilePaused(snapshot, null);
      if (held !== null || pending.abort) {
        rollbackReason = abortReason();
        break;
      }
      stage = index;
      const count = counts[index]!;
      // A stage frozen while scaling, then resumed, starts its scaling (and its progress deadline) again.
      let stageStartedAt = now();
      // Paused before a stage already begun: the pause holds once it has scaled.
      if ((state as RolloutState) !== 'Paused') setState('Progressing');
      Object.assign(stages[index]!, { result: 'progressing', startedAt: stageStartedAt });
      const begun = begunNote(index === 0 ? 'the rollout was prepared' : `stage ${index}'s gate passed`);
      begunEarly = [];
      decide('stageStarted', `stage ${index + 1} of ${spec.stages.length}: ${count} of ${snapshot.replicas} replicas on the new template${begun}`);

      let advanced;
      try {
        // A stage without bake has its gate evaluated by advanceStage as the scaling ends, and,
        // with no approval either, nothing to wait for between its gate and the next stage: the
        // activity begins the next stage's scaling as soon as the gate passes.
        const gateAfterScaling = spec.stages[index]!.bakeSeconds === 0;
        const beginNext = gateAfterScaling && !spec.stages[index]!.approval;
        const nextCount = beginNext ? counts[index + 1] : undefined;
        const next = nextCount !== undefined ? { nextCount } : beginNext ? { beginPromotion: true } : {};
        const summary = activitySummary.advance(index, spec.stages.length, count, snapshot.replicas);
        advanced = await interruptible(() => advanceStage.executeWithOptions({ summary }, [{ ...stageContext(snapshot!, stageStartedAt), count, gateAfterScaling, ...next }]), []);
      } catch (err) {
        rollbackReason = `stage ${index + 1} could not scale: ${failureMessage(err)}`;
        stages[index]!.result = 'failed';
        stages[index]!.reason = rollbackReason;
        decide('gateFailed', rollbackReason);
        break;
      }
      if ('interrupt' in advanced) {
        rollbackReason = abortReason();
        stages[index]!.result = 'aborted';
        break;
      }
      /**
       * The stage's bake, then its approval if it has one; a gate that cannot be watched fails
       * the stage. A gate that already passed with no bake (`passed`) needs no watching, unless
       * the rollout was paused meanwhile: a pause holds the stage, watching its gate.
       */
      const bakeAndApprove = async (bakeStartedAt: string, passed?: WatchGateResult): Promise<StageVerdict> => {
        try {
          let baked: StageVerdict;
          if (passed !== undefined && state !== 'Paused') {
            noteGate(passed);
            // As in bake(): a promote accepted before this stage's bake must not skip the next one.
            pending.skipBake = false;
            baked = pending.abort ? { verdict: 'abort' } : { verdict: 'passed' };
          } else {
            baked = await bake(snapshot!, index, count, stageStartedAt, bakeStartedAt);
          }
          return baked.verdict === 'passed' && spec.stages[index]!.approval ? await awaitApproval(snapshot!, index, count, stageStartedAt) : baked;
        } catch (err) {
          if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
          return { verdict: 'failed', reason: `stage ${index + 1}: the gate could not be watched: ${failureMessage(err)}` };
        }
      };
      let verdict: StageVerdict;
      let scaled = advanced.value.outcome !== 'gate-failed';
      if (advanced.value.outcome === 'gate-failed') {
        verdict = { verdict: 'failed', reason: advanced.value.reason };
      } else {
        decide('stageScaled', `${count} updated replicas ready (${advanced.value.actions.join('; ') || 'nothing to change'})`);
        begunEarly = advanced.value.nextStarted ?? [];
        verdict = await bakeAndApprove(advanced.value.finishedAt, advanced.value.gatePassed);
      }

      for (;;) {
        // An abort accepted in the activation that brought the pass must not be left behind.
        if (verdict.verdict === 'passed' && pending.abort && patched(ABORT_BEATS_PASS_PATCH)) verdict = { verdict: 'abort' };
        if (verdict.verdict === 'passed') {
          Object.assign(stages[index]!, { result: 'passed', endedAt: now(), reason: null });
          decide('gatePassed', `stage ${index + 1} passed${passedBecause === null ? '' : `: ${passedBecause}`}`);
          passedBecause = null;
          continue stageLoop;
        }
        if (verdict.verdict === 'abort') {
          rollbackReason = abortReason();
          Object.assign(stages[index]!, { result: 'aborted', endedAt: now() });
          break stageLoop;
        }
        const next = await onGateFailure(verdict.reason, verdict.verdict === 'rollback');
        if (next === 'rollback') {
          rollbackReason = !pending.abort ? verdict.reason : supersede ? `${abortReason()} while frozen` : 'aborted by an operator while frozen';
          stages[index]!.endedAt = now();
          break stageLoop;
        }
        if (next === 'override') {
          verdict = { verdict: 'passed' };
          continue;
        }
        if (!scaled && patched(REGATE_RESCALES_PATCH)) {
          // The gate failed while the stage was scaling: its missing pods come first, or the
          // fresh gate would wait for pods nobody creates.
          setState('Progressing');
          stageStartedAt = now();
          let again;
          try {
            const summary = activitySummary.advance(index, spec.stages.length, count, snapshot.replicas);
            again = await interruptible(() => advanceStage.executeWithOptions({ summary }, [{ ...stageContext(snapshot!, stageStartedAt), count, gateAfterScaling: false }]), []);
          } catch (err) {
            if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
            verdict = { verdict: 'failed', reason: `stage ${index + 1} could not scale: ${failureMessage(err)}` };
            continue;
          }
          if ('interrupt' in again) {
            verdict = { verdict: 'abort' };
            continue;
          }
          if (again.value.outcome === 'gate-failed') {
            verdict = { verdict: 'failed', reason: again.value.reason };
            continue;
          }
          scaled = true;
          decide('stageScaled', `${count} updated replicas ready (${again.value.actions.join('; ') || 'nothing to change'})`);
        }
        verdict = await bakeAndApprove(now());
      }
    }

    if (rollbackReason === null) {
      setState('Promoting');
      decide('promotionStarted', `every replica goes to the new template${begunNote("the last stage's gate passed")}`);
      try {
        const promoted = await promoteRollout.executeWithOptions({ summary: activitySummary.promote(spec.target, snapshot.replicas) }, [stageContext(snapshot, now())]);
        released = promoted.released;
        decide('succeeded', `all ${snapshot.replicas} replicas run the new template (${promoted.actions.join('; ')})`);
        stages.forEach((s) => {
          if (s.result === 'passed') s.result = 'promoted';
        });
        setState('Succeeded');
      } catch (err) {
        rollbackReason = `promotion failed: ${failureMessage(err)}`;
      }
    }

    if (rollbackReason !== null) {
      setState('RollingBack');
      decide('rollbackStarted', rollbackReason);
      try {
        const rolledBack = await rollbackRollout.executeWithOptions({ summary: activitySummary.rollback(rollbackReason) }, [{ rolloutId, snapshot }]);
        decide('rolledBack', `every pod is back on the previous template and ready (${rolledBack.actions.join('; ')})`);
        setState(supersede ? 'Superseded' : 'RolledBack');
      } catch (err) {
        throw new RolloutFailed(`rollback failed: ${failureMessage(err)}`);
      }
    }
  } catch (err) {
    if (!(err instanceof RolloutFailed)) throw err;
    decide('failed', err.message);
    setState('Failed');
  } finally {
    // The annotation holds the workload's repair; it goes whatever the outcome.
    if (!released) {
      await CancellationScope.nonCancellable(() => finishRollout.executeWithOptions({ summary: activitySummary.finish(spec.target) }, [{ rolloutId, target: spec.target }])).catch((err: unknown) =>
        log.warn('could not remove the rollout annotation', { rolloutId, error: failureMessage(err) }),
      );
    }
    endedAt = now();
  }

  await condition(allHandlersFinished);
  if (supersede !== null) {
    const next: SupersedeRequest = supersede;
    const input: RolloutWorkflowInput = { rolloutId: next.rolloutId, spec: next.spec };
    // Without them, the next run would begin with a copy of this run's (this rollout's ID, AutoCraneSupersededBy) until its first task.
    if (!patched(SUPERSEDE_ATTRIBUTE_PATCH)) return continueAsNew<typeof rolloutWorkflow>(input);
    const nextStart = rolloutRunStart(next.rolloutId, next.spec);
    return makeContinueAsNewFunc<typeof rolloutWorkflow>({ typedSearchAttributes: nextStart.searchAttributes, memo: nextStart.memo })(input);
  }
  return status();
}

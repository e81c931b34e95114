import {
  ActivityFailure,
  allHandlersFinished,
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
} from '@temporalio/workflow';
import type { RolloutActivities } from '../../activities/rollout/rollout';
import type { RolloutSnapshot } from '../../domain/rollout/rollout-types';
import {
  afterVerdict,
  failureRollbackReason,
  stageAdvance,
  type AfterFreeze,
  type StageVerdict,
} from '../../domain/rollout/rollout-next-step';
import { resolveStageCounts } from '../../domain/rollout/rollout-shares';
import { activitySummary } from '../../domain/rollout/rollout-summary';
import type { Control } from '../../domain/gate/stage-controls';
import {
  rolloutControlUpdates,
  rolloutRunStart,
  rolloutStatusQuery,
  supersedeRolloutUpdate,
  supersedingStatusQuery,
  type ControlRequest,
  type RolloutStatus,
  type RolloutWorkflowInput,
  type SupersedeRequest,
} from '../../contracts/rollout-messages';
import { RolloutRun, SUPERSEDE_ATTRIBUTE_PATCH } from './rollout-run';
import { advance, bakeAndApprove, failureMessage, freeze, holdWhilePaused, long, retry } from './rollout-stage';

/**
 * A few apiserver calls each, with no heartbeat: an attempt lost with a dead worker is noticed
 * only when this timeout expires, so it is short (it was 2 minutes); the calls themselves give up
 * after 5 s and a foreign canary's deletion is waited for 10 s per attempt (activities/rollout/rollout.ts).
 */
const { prepareRollout, finishRollout } = proxyActivities<RolloutActivities>({ startToCloseTimeout: '30 seconds', retry });
const { promoteRollout, rollbackRollout } = proxyActivities<RolloutActivities>(long);

class RolloutFailed extends Error {}

/**
 * A staged rollout of a new pod template. Orchestration only: the activities do the Kubernetes
 * work and watch the gate; domain/rollout-plan decides the writes, domain/stage-gate the
 * verdicts, domain/rollout-next-step what follows a verdict and domain/stage-controls what
 * operators may do when. The run's state and its transitions live in RolloutRun
 * (workflows/rollout/rollout-run.ts), a stage's bake, approval and holds in workflows/rollout/rollout-stage.ts;
 * this function wires the handlers to the run and drives the stage loop.
 * History stays small whatever the bake times: a stage is one activity to scale and one to
 * bake, each waiting and polling inside the activity.
 */
export async function rolloutWorkflow(input: RolloutWorkflowInput): Promise<RolloutStatus> {
  const { rolloutId, spec } = input;
  const run = new RolloutRun(rolloutId, spec);
  const { stages, pending } = run;
  const now = () => new Date().toISOString();

  // Every run (the first, or one continued as new after a supersede) describes itself.
  const runStart = rolloutRunStart(rolloutId, spec);
  upsertSearchAttributes(runStart.searchAttributes);
  upsertMemo(runStart.memo);

  for (const control of Object.keys(rolloutControlUpdates) as Control[]) {
    setHandler(rolloutControlUpdates[control], (request: ControlRequest) => run.control(control, request), {
      validator: (request: ControlRequest) => run.validateControl(control, request),
    });
  }
  setHandler(supersedeRolloutUpdate, (request) => run.supersedeWith(request), { validator: (request) => run.validateSupersede(request) });
  setHandler(rolloutStatusQuery, () => run.status());
  setHandler(supersedingStatusQuery, () => run.supersedingStatus());

  run.decide('started', run.summary);
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
      snapshot = await prepareRollout.executeWithOptions({ summary: activitySummary.prepare(spec.target) }, [
        { rolloutId, spec, beginFirstStage: true },
      ]);
    } catch (err) {
      throw new RolloutFailed(`could not start: ${failureMessage(err)}`);
    }
    run.totalReplicas = snapshot.replicas;
    const counts = resolveStageCounts(spec.stages, snapshot.replicas);
    counts.forEach((count, i) => (stages[i]!.count = count));

    begunEarly = snapshot.firstStageBegun ?? [];
    stageLoop: for (let index = 0; index < spec.stages.length; index++) {
      // A stage already begun is held once it has scaled, as when paused while it scales.
      const held = begunEarly.length > 0 ? null : await holdWhilePaused(run, snapshot, null);
      if (held !== null || pending.abort) {
        rollbackReason = run.abortReason();
        break;
      }
      const count = counts[index]!;
      const begun = begunNote(index === 0 ? 'the rollout was prepared' : `stage ${index}'s gate passed`);
      begunEarly = [];
      // A stage frozen while scaling, then resumed, starts its scaling (and its progress deadline) again.
      const stage = { index, count, startedAt: run.stageStarted(index, count, snapshot.replicas, begun) };

      let advanced;
      try {
        advanced = await advance(run, snapshot, index, count, stage.startedAt, stageAdvance(spec.stages, counts, index));
      } catch (err) {
        rollbackReason = `stage ${index + 1} could not scale: ${failureMessage(err)}`;
        run.gateFailed(rollbackReason);
        break;
      }
      if ('interrupt' in advanced) {
        rollbackReason = run.abortReason();
        stages[index]!.result = 'aborted';
        break;
      }
      let verdict: StageVerdict;
      let scaled = advanced.value.outcome !== 'gate-failed';
      if (advanced.value.outcome === 'gate-failed') {
        verdict = { verdict: 'failed', reason: advanced.value.reason };
      } else {
        run.stageScaled(count, advanced.value.actions);
        begunEarly = advanced.value.nextStarted ?? [];
        verdict = await bakeAndApprove(run, snapshot, stage, advanced.value.finishedAt, advanced.value.gatePassed);
      }

      for (;;) {
        const after = afterVerdict(verdict, { abortPending: pending.abort, rollbackPolicy: spec.rollback, patched });
        if (after.step === 'pass') {
          run.stagePassed(index);
          continue stageLoop;
        }
        if (after.step === 'abort') {
          rollbackReason = run.abortReason();
          Object.assign(stages[index]!, { result: 'aborted', endedAt: now() });
          break stageLoop;
        }
        run.gateFailed(after.reason);
        const next: AfterFreeze = after.step === 'freeze' ? await freeze(run, scaled) : { step: 'rollback' };
        if (next.step === 'rollback') {
          rollbackReason = failureRollbackReason(after.reason, pending.abort, run.supersede?.rolloutId ?? null);
          stages[index]!.endedAt = now();
          break stageLoop;
        }
        if (next.step === 'pass') {
          verdict = { verdict: 'passed' };
          continue;
        }
        if (next.step === 'rescale') {
          run.setState('Progressing');
          stage.startedAt = now();
          let again;
          try {
            again = await advance(run, snapshot, index, count, stage.startedAt, { gateAfterScaling: false });
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
          run.stageScaled(count, again.value.actions);
        }
        verdict = await bakeAndApprove(run, snapshot, stage, now());
      }
    }

    if (rollbackReason === null) {
      run.setState('Promoting');
      run.decide('promotionStarted', `every replica goes to the new template${begunNote("the last stage's gate passed")}`);
      try {
        const promoted = await promoteRollout.executeWithOptions({ summary: activitySummary.promote(spec.target, snapshot.replicas) }, [
          run.stageContext(snapshot, now()),
        ]);
        released = promoted.released;
        run.decide('succeeded', `all ${snapshot.replicas} replicas run the new template (${promoted.actions.join('; ')})`);
        stages.forEach((s) => {
          if (s.result === 'passed') s.result = 'promoted';
        });
        run.setState('Succeeded');
      } catch (err) {
        rollbackReason = `promotion failed: ${failureMessage(err)}`;
      }
    }

    if (rollbackReason !== null) {
      run.setState('RollingBack');
      run.decide('rollbackStarted', rollbackReason);
      try {
        const rolledBack = await rollbackRollout.executeWithOptions({ summary: activitySummary.rollback(rollbackReason) }, [
          { rolloutId, snapshot },
        ]);
        run.decide('rolledBack', `every pod is back on the previous template and ready (${rolledBack.actions.join('; ')})`);
        run.setState(run.supersede ? 'Superseded' : 'RolledBack');
      } catch (err) {
        throw new RolloutFailed(`rollback failed: ${failureMessage(err)}`);
      }
    }
  } catch (err) {
    if (!(err instanceof RolloutFailed)) throw err;
    run.decide('failed', err.message);
    run.setState('Failed');
  } finally {
    // The annotation holds the workload's repair; it goes whatever the outcome.
    if (!released) {
      await CancellationScope.nonCancellable(() =>
        finishRollout.executeWithOptions({ summary: activitySummary.finish(spec.target) }, [{ rolloutId, target: spec.target }]),
      ).catch((err: unknown) => log.warn('could not remove the rollout annotation', { rolloutId, error: failureMessage(err) }));
    }
    run.endedAt = now();
  }

  await condition(allHandlersFinished);
  if (run.supersede !== null) {
    const next: SupersedeRequest = run.supersede;
    const input: RolloutWorkflowInput = { rolloutId: next.rolloutId, spec: next.spec };
    // Without them, the next run would begin with a copy of this run's (this rollout's ID, AutoCraneSupersededBy) until its first task.
    if (!patched(SUPERSEDE_ATTRIBUTE_PATCH)) return continueAsNew<typeof rolloutWorkflow>(input);
    const nextStart = rolloutRunStart(next.rolloutId, next.spec);
    return makeContinueAsNewFunc<typeof rolloutWorkflow>({ typedSearchAttributes: nextStart.searchAttributes, memo: nextStart.memo })(
      input,
    );
  }
  return run.status();
}

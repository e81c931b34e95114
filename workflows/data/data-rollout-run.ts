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
import type { DataRolloutActivities } from '../../activities/data/data-rollout';
import type { DataStageOutcome } from '../../domain/data/data-rollout-types';
import {
  DEFAULT_ACK_TIMEOUT_SECONDS,
  describeStage,
  formatDataShare,
  UPGRADED_NAMES_LIMIT,
  type DataDecisionKind,
  type DataDecisionLog,
  type DataRelease,
  type DataRolloutRun,
  type DataRolloutState,
  type DataStage,
} from '../../domain/data/data-rollout';
import type { DataRolloutSettings, DataStartRequest, VersionAnnouncement } from '../../contracts/data-rollout-messages';

/** Retried without end: an apiserver that is down for a while only delays the rollout. */
const retry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' };

/**
 * One apiserver call each, with no heartbeat: an attempt lost with a dead worker is noticed only
 * when this timeout expires, so it is short (it was a minute, which stalled a rollout whose worker
 * died at a stage transition); the calls themselves give up after 10 s (activities/data/data-rollout.ts).
 */
export const { dataRolloutSettings, readDataMirror, mirrorDataVersions } = proxyActivities<DataRolloutActivities>({
  startToCloseTimeout: '15 seconds',
  retry,
});
/**
 * Waiting for acknowledgements and probations: long, so a dead worker is noticed by its silent
 * heartbeat, within 3 s: the activities heartbeat on a timer every 500 ms whatever their calls
 * are doing (activities/data/data-rollout-gate.ts), and a timed-out attempt is retried 200 ms later,
 * so the probation's watch resumes on another worker within seconds; the time it could not
 * watch does not count as probation. Only the timeouts changed here, not the commands, so
 * recorded histories replay as they are. An interrupted one (a start wakes the idle tending, a pause or stop cuts a watch)
 * must have stopped before the workflow goes on: under Temporal's default (TRY_CANCEL) it ran on
 * until a heartbeat brought it the cancellation, and the idle tending, still asking every
 * consumer for the LKG, moved the first stages' pods back (the worker throttles heartbeats to 1 s,
 * workers/worker-factory.ts, so the wait is short).
 */
export const { advanceDataStage, watchDataGate, revertData, tendDataConsumers } = proxyActivities<DataRolloutActivities>({
  startToCloseTimeout: '25 hours',
  heartbeatTimeout: '3 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, initialInterval: '200 milliseconds' },
});

/** Patch: the probation's watch is told which consumers' requests were refused. */
const GATE_COUNTS_REFUSED_PODS = 'data-gate-counts-refused-pods';

/** What the data rollout workflow holds between its handlers, its main loop and a rollout. */
export interface DataRolloutWorkflowState {
  lkg: DataRelease | null;
  latest: DataRelease | null;
  known: DataRelease[];
  unhandled: VersionAnnouncement[];
  startRequest: DataStartRequest | null;
  recent: DataRolloutRun[];
  nextNumber: number;
  decisions: DataDecisionLog;
  settings: DataRolloutSettings | null;
  run: DataRolloutRun | null;
  pausedFrom: 'Progressing' | 'Baking' | undefined;
  stop: { kind: 'abort' | 'supersede'; reason: string } | null;
  /** The ConfigMap no longer says what the workflow knows. */
  mirrorStale: boolean;
}

/** What a rollout uses of its workflow: where it runs, and the workflow's own record keeping. */
export interface DataRolloutHost {
  namespace: string;
  source: string;
  findRelease: (version: string | undefined) => DataRelease | undefined;
  decide: (kind: DataDecisionKind, reason: string, extra?: { version?: string | null; by?: string }) => void;
  setState: (state: DataRolloutState) => void;
  publishState: () => void;
  mirror: () => Promise<void>;
  interrupts: (accept: readonly Interrupt[]) => () => Interrupt | null;
}

/** Finished rollouts shown. */
const RECENT_ROLLOUTS = 5;

const now = () => new Date().toISOString();

export const failureMessage = (err: unknown): string => {
  let current: unknown = err;
  // The activity's own message says what happened; the wrapper only says which activity.
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(err);
};

export type Interrupt = 'stop' | 'paused' | 'resumed';
type StageVerdict = { verdict: 'passed'; reason?: string } | { verdict: 'failed'; reason: string } | { verdict: 'stop' };

/** Runs an activity until it ends or `interrupted` says why not; an interrupted activity is cancelled. */
export async function interruptible<T>(
  fn: () => Promise<T>,
  interrupted: () => Interrupt | null,
): Promise<{ value: T } | { interrupt: Interrupt }> {
  let outcome: { value: T } | { error: unknown } | undefined;
  const scope = new CancellationScope();
  const running = scope.run(fn).then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  await condition(() => outcome !== undefined || interrupted() !== null);
  if (outcome === undefined) {
    scope.cancel();
    await running;
    return { interrupt: interrupted() ?? 'stop' };
  }
  if ('error' in outcome) {
    if (isCancellation(outcome.error)) return { interrupt: interrupted() ?? 'stop' };
    throw outcome.error;
  }
  return outcome;
}

/**
 * One staged data rollout of `request` from the LKG `from`: stages advanced and watched, then
 * promotion to LKG or a rollback; it ends with the run recorded among the recent ones.
 */
export async function runDataRollout(
  wf: DataRolloutWorkflowState,
  host: DataRolloutHost,
  request: DataStartRequest,
  from: DataRelease,
): Promise<void> {
  const { namespace, source, findRelease, decide, setState, publishState, mirror, interrupts } = host;
  const release = findRelease(request.version)!;
  const stages: DataStage[] = request.stages ?? wf.settings!.stages;
  const ackTimeoutSeconds = request.ackTimeoutSeconds ?? DEFAULT_ACK_TIMEOUT_SECONDS;
  const current: DataRolloutRun = {
    number: wf.nextNumber++,
    version: release.version.id,
    sha256: release.version.sha256,
    state: 'Progressing',
    stage: -1,
    stages: stages.map((s, index) => ({
      index,
      pods: formatDataShare(s.pods),
      probationSeconds: s.probationSeconds,
      count: null,
      result: 'pending',
      startedAt: null,
      probationStartedAt: null,
      endedAt: null,
      reason: null,
    })),
    maxErrorPods: request.maxErrorPods ?? 0,
    ackTimeoutSeconds,
    upgraded: [],
    upgradedCount: 0,
    startedAt: now(),
    endedAt: null,
    startedBy: request.by ?? 'unknown',
    reason: null,
  };
  wf.run = current;
  wf.pausedFrom = undefined;
  wf.stop = null;
  wf.mirrorStale = true;
  publishState();
  decide(
    'started',
    `${release.version.id} in ${stages.length} stages (${stages.map(describeStage).join('; ')}); the LKG is ${from.version.id}${request.reason ? `: ${request.reason}` : ''}`,
    {
      ...(request.by === undefined ? {} : { by: request.by }),
    },
  );

  const scope = { namespace, source, lkg: from, target: release };
  const gateWatch = (index: number, hold: boolean) => () =>
    watchDataGate({
      ...scope,
      probationStartedAt: current.stages[index]!.probationStartedAt ?? now(),
      probationSeconds: hold ? 0 : current.stages[index]!.probationSeconds,
      maxErrorPods: current.maxErrorPods,
      holdAfterPass: hold,
      // Consumers whose request was refused are erroring pods of the probation too (runs recorded before this passed none).
      ...(refusedPods.length > 0 && patched(GATE_COUNTS_REFUSED_PODS) && { refused: refusedPods }),
    });

  /** Holds while paused, still watching the last stage's gate when there is one. */
  async function holdWhilePaused(watchStage: number | null): Promise<StageVerdict | null> {
    while (current.state === 'Paused') {
      if (watchStage === null) {
        await condition(() => current.state !== 'Paused' || wf.stop !== null);
      } else {
        const held = await interruptible(gateWatch(watchStage, true), interrupts(['resumed']));
        if ('value' in held) return { verdict: 'failed', reason: held.value.reason };
      }
      if (wf.stop !== null) return { verdict: 'stop' };
    }
    return wf.stop !== null ? { verdict: 'stop' } : null;
  }

  async function probation(index: number): Promise<StageVerdict> {
    for (;;) {
      const held = await holdWhilePaused(index);
      if (held !== null) return held;
      setState('Baking');
      current.stages[index]!.result = 'baking';
      const watched = await interruptible(gateWatch(index, false), interrupts(['paused']));
      if ('interrupt' in watched) {
        if (watched.interrupt === 'stop') return { verdict: 'stop' };
        continue;
      }
      if (watched.value.verdict === 'fail') return { verdict: 'failed', reason: watched.value.reason };
      const heldAfter = await holdWhilePaused(index);
      return heldAfter ?? { verdict: 'passed', reason: watched.value.reason };
    }
  }

  let failure: string | null = null;
  let moved: string[] = [];
  let refusedPods: Array<{ pod: string; reason: string }> = [];
  for (let index = 0; index < stages.length && failure === null && wf.stop === null; index++) {
    const held = await holdWhilePaused(index > 0 ? index - 1 : null);
    if (held?.verdict === 'failed') failure = held.reason;
    if (held !== null) break;
    const stage = current.stages[index]!;
    current.stage = index;
    Object.assign(stage, { result: 'progressing', startedAt: now() });
    setState('Progressing');
    wf.mirrorStale = true;
    await mirror();
    decide('stageStarted', `stage ${index + 1} of ${stages.length}: ${describeStage(stages[index]!)}`);
    let advanced: { value: DataStageOutcome } | { interrupt: Interrupt };
    try {
      advanced = await interruptible(
        () =>
          advanceDataStage({
            ...scope,
            share: stages[index]!.pods,
            ackTimeoutSeconds,
            maxErrorPods: current.maxErrorPods,
            movedBefore: moved,
            stageStartedAt: stage.startedAt!,
          }),
        interrupts([]),
      );
    } catch (err) {
      failure = `stage ${index + 1}: ${failureMessage(err)}`;
      break;
    }
    if ('interrupt' in advanced) break;
    const outcome = advanced.value;
    current.upgraded = outcome.upgraded.slice(0, UPGRADED_NAMES_LIMIT);
    current.upgradedCount = outcome.upgraded.length;
    if (outcome.outcome === 'failed') {
      failure = `stage ${index + 1}: ${outcome.reason}`;
      break;
    }
    moved = outcome.upgraded;
    refusedPods = outcome.refused ?? [];
    Object.assign(stage, { count: outcome.count, probationStartedAt: outcome.probationStartedAt });
    decide(
      'acknowledged',
      `${outcome.count} of ${outcome.consumers} consumers run ${current.version} (${outcome.written} requests written); probation of ${stage.probationSeconds}s counts from the last activation, ${outcome.probationStartedAt}${
        outcome.refused?.length
          ? `; erroring, within maxErrorPods ${current.maxErrorPods}, left on the LKG: ${outcome.refused.map((r) => `${r.pod} (the apiserver refused its request: ${r.reason})`).join('; ')}`
          : ''
      }`,
    );
    let verdict: StageVerdict;
    try {
      verdict = await probation(index);
    } catch (err) {
      verdict = { verdict: 'failed', reason: `the gate could not be watched: ${failureMessage(err)}` };
    }
    if (verdict.verdict === 'stop') break;
    if (verdict.verdict === 'failed') {
      failure = `stage ${index + 1}: ${verdict.reason}`;
      break;
    }
    Object.assign(stage, { result: 'passed', endedAt: now() });
    // The gate's reason says how long it watched, and by how much the probation was extended.
    decide('gatePassed', `stage ${index + 1} passed its probation${verdict.reason === undefined ? '' : `: ${verdict.reason}`}`);
  }

  const stageNow = current.stage >= 0 ? current.stages[current.stage] : undefined;
  if (failure === null && wf.stop === null) {
    wf.lkg = release;
    wf.mirrorStale = true;
    setState('Succeeded');
    decide('succeeded', `${release.version.id} is the LKG; every consumer is asked for it`);
  } else {
    const ending = wf.stop as { kind: 'abort' | 'supersede'; reason: string } | null;
    const why = failure ?? ending?.reason ?? 'stopped';
    current.reason = why;
    if (stageNow && stageNow.result !== 'passed')
      Object.assign(stageNow, { result: failure !== null ? 'failed' : 'aborted', endedAt: now(), reason: why });
    if (failure !== null) decide('gateFailed', failure);
    setState('RollingBack');
    decide('rollbackStarted', `every consumer goes back to the LKG ${from.version.id}: ${why}`);
    await mirror();
    try {
      const reverted = await CancellationScope.nonCancellable(() => revertData({ namespace, source, lkg: from, ackTimeoutSeconds }));
      const missing = [
        ...(reverted.unacknowledged.length > 0
          ? [`not acknowledged within ${ackTimeoutSeconds}s: ${reverted.unacknowledged.slice(0, 5).join(', ')}`]
          : []),
        ...(reverted.failed.length > 0
          ? [
              `failed: ${reverted.failed
                .slice(0, 5)
                .map((f) => `${f.pod} (${f.message})`)
                .join(', ')}`,
            ]
          : []),
      ];
      decide(
        'rolledBack',
        `${reverted.consumers - reverted.unacknowledged.length - reverted.failed.length} of ${reverted.consumers} consumers run the LKG ${from.version.id}${missing.length ? `; ${missing.join('; ')} (they stay asked for the LKG)` : ''}`,
      );
      setState(ending?.kind === 'supersede' && failure === null ? 'Superseded' : 'RolledBack');
    } catch (err) {
      decide('failed', `could not send the consumers back to ${from.version.id}: ${failureMessage(err)}`);
      setState('Failed');
    }
  }
  current.endedAt = now();
  wf.stop = null;
  wf.pausedFrom = undefined;
  wf.recent = [current, ...wf.recent].slice(0, RECENT_ROLLOUTS);
  wf.run = null;
  wf.mirrorStale = true;
  await mirror();
  publishState();
}

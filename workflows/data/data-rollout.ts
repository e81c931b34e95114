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
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { DataRolloutActivities } from '../../activities/data/data-rollout';
import type { DataStageOutcome } from '../../domain/data/data-rollout-types';
import { SHA256_HEX, versionIdError } from '../../domain/data/data-contract';
import {
  DATA_ROLLOUT_LIMITS,
  dataMirrorName,
  DEFAULT_ACK_TIMEOUT_SECONDS,
  dataStagesProblems,
  describeStage,
  formatDataShare,
  isDataRolloutFinished,
  UPGRADED_NAMES_LIMIT,
  type DataDecision,
  type DataDecisionKind,
  type DataDecisionLog,
  type DataRelease,
  type DataRolloutRun,
  type DataRolloutState,
  type DataStage,
} from '../../domain/data/data-rollout';
import { appendDecision, DATA_ROLLOUT_CONTROLS, decideControl, type Control } from '../../domain/gate/stage-controls';
import {
  dataRolloutControlUpdates,
  dataRolloutStatusQuery,
  MAX_DATA_CONTROL_REASON_LENGTH,
  startDataRolloutUpdate,
  versionAvailableSignal,
  type DataControlRequest,
  type DataRolloutCarriedState,
  type DataRolloutSettings,
  type DataRolloutStatus,
  type DataRolloutWorkflowInput,
  type DataStartRequest,
  type VersionAnnouncement,
} from '../../contracts/data-rollout-messages';
import { AUTOCRANE_NAMESPACE, AUTOCRANE_STATE, AUTOCRANE_TARGET } from '../../contracts/search-attributes';

/** Retried without end: an apiserver that is down for a while only delays the rollout. */
const retry: RetryPolicy = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' };

/**
 * One apiserver call each, with no heartbeat: an attempt lost with a dead worker is noticed only
 * when this timeout expires, so it is short (it was a minute, which stalled a rollout whose worker
 * died at a stage transition); the calls themselves give up after 10 s (activities/data/data-rollout.ts).
 */
const { dataRolloutSettings, readDataMirror, mirrorDataVersions } = proxyActivities<DataRolloutActivities>({
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
const { advanceDataStage, watchDataGate, revertData, tendDataConsumers } = proxyActivities<DataRolloutActivities>({
  startToCloseTimeout: '25 hours',
  heartbeatTimeout: '3 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, initialInterval: '200 milliseconds' },
});

/** Patch: the probation's watch is told which consumers' requests were refused. */
const GATE_COUNTS_REFUSED_PODS = 'data-gate-counts-refused-pods';

/** Versions remembered for a start that names one; finished rollouts shown; decisions carried to the next run. */
const KNOWN_VERSIONS = 10;
const RECENT_ROLLOUTS = 5;
const CARRIED_DECISIONS = 50;
/** While idle, the run continues as new past this many history events. */
const IDLE_HISTORY_LIMIT = 2000;
/** Idle, the workflow looks at its settings and its history this often. */
const TEND_SECONDS = 600;

const failureMessage = (err: unknown): string => {
  let current: unknown = err;
  // The activity's own message says what happened; the wrapper only says which activity.
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(err);
};

function announcementProblem(a: VersionAnnouncement | undefined): string | null {
  if (!a || typeof a !== 'object' || !a.version || typeof a.version !== 'object') return 'expected {version, archiveUrl}';
  if (typeof a.version.id !== 'string' || versionIdError(a.version.id))
    return `version.id: ${typeof a.version.id === 'string' ? versionIdError(a.version.id) : 'required'}`;
  if (typeof a.version.sha256 !== 'string' || !SHA256_HEX.test(a.version.sha256))
    return 'version.sha256: expected 64 lower-case hex digits';
  if (typeof a.archiveUrl !== 'string' || !/^https?:\/\//.test(a.archiveUrl)) return 'archiveUrl: expected an http(s) URL';
  return null;
}

type Interrupt = 'stop' | 'paused' | 'resumed';
type StageVerdict = { verdict: 'passed'; reason?: string } | { verdict: 'failed'; reason: string } | { verdict: 'stop' };

/**
 * One long-lived workflow per namespace and source: it holds the known-good (LKG)
 * and latest versions, mirrors them into the ConfigMap autocrane-data-<source>, keeps every
 * consumer asking for the LKG while idle, and runs staged data rollouts: requests written,
 * acknowledgements awaited, probation from the activation, gate on the upgraded consumers and
 * the vouchers, back to the LKG on failure, promotion to LKG on success. It continues as new
 * after every rollout and when its idle history grows, carrying its state.
 */
export async function dataRolloutWorkflow(input: DataRolloutWorkflowInput): Promise<void> {
  const { namespace, source, carried } = input;
  const workflowId = workflowInfo().workflowId;

  let lkg: DataRelease | null = carried?.lkg ?? null;
  let latest: DataRelease | null = carried?.latest ?? null;
  let known: DataRelease[] = [...(carried?.known ?? [])];
  const unhandled: VersionAnnouncement[] = [...(carried?.pending ?? [])];
  let startRequest: DataStartRequest | null = carried?.start ?? null;
  let recent: DataRolloutRun[] = [...(carried?.recent ?? [])];
  let nextNumber = carried?.nextNumber ?? 1;
  let decisions: DataDecisionLog = { records: [...(carried?.decisions ?? [])], dropped: carried?.decisionsDropped ?? 0 };
  let settings: DataRolloutSettings | null = null;
  let run: DataRolloutRun | null = null;
  let pausedFrom: 'Progressing' | 'Baking' | undefined;
  let stop: { kind: 'abort' | 'supersede'; reason: string } | null = null;
  /** The ConfigMap no longer says what the workflow knows. */
  let mirrorStale = true;

  const now = () => new Date().toISOString();
  const decide = (kind: DataDecisionKind, reason: string, extra: { version?: string | null; by?: string } = {}) => {
    const record: DataDecision = {
      at: now(),
      kind,
      version: extra.version === undefined ? (run?.version ?? null) : extra.version,
      stage: run && run.stage >= 0 ? run.stage : null,
      reason,
    };
    if (extra.by !== undefined) record.by = extra.by;
    decisions = appendDecision(decisions, record);
    log.info(`data rollout ${kind}`, { namespace, source, version: record.version, reason });
  };
  const publishState = () => upsertSearchAttributes([{ key: AUTOCRANE_STATE, value: run ? run.state : 'Idle' }]);
  const setState = (state: DataRolloutState) => {
    if (!run || run.state === state) return;
    run.state = state;
    mirrorStale = true;
    publishState();
  };
  const status = (): DataRolloutStatus => ({
    workflowId,
    namespace,
    source,
    lkg,
    latest,
    settings,
    rollout: run ? { ...run, stages: run.stages.map((s) => ({ ...s })) } : null,
    recent,
    decisions: decisions.records,
    decisionsDropped: decisions.dropped,
  });

  upsertSearchAttributes([
    { key: AUTOCRANE_TARGET, value: `${namespace}/data/${source}` },
    { key: AUTOCRANE_NAMESPACE, value: namespace },
    { key: AUTOCRANE_STATE, value: 'Idle' },
  ]);

  // ---------------------------------------------------------------------------
  // Announcements
  // ---------------------------------------------------------------------------

  const rolling = () => run !== null && !isDataRolloutFinished(run.state);

  /** Records a new version; starts (or supersedes) a rollout when auto-start is on. Needs the settings. */
  const announce = (a: VersionAnnouncement) => {
    const problem = announcementProblem(a);
    if (problem !== null) {
      log.warn('ignoring an invalid version announcement', { namespace, source, problem });
      return;
    }
    const id = a.version.id;
    if (known.some((k) => k.version.id === id) || lkg?.version.id === id) return;
    const release: DataRelease = { version: a.version, archiveUrl: a.archiveUrl };
    known = [...known, release].slice(-KNOWN_VERSIONS);
    if (latest !== null && id <= latest.version.id) {
      decide('versionAvailable', `${id} is older than the latest ${latest.version.id}: kept for an explicit start only`, { version: id });
      return;
    }
    latest = release;
    mirrorStale = true;
    decide(
      'versionAvailable',
      `${id} (${a.version.size} bytes, ${a.version.origin?.kind ?? '?'} ${a.version.origin?.ref ?? ''})`.trimEnd(),
      { version: id },
    );
    if (lkg === null) {
      lkg = release;
      decide('bootstrap', `no known-good version yet: ${id} becomes the LKG and every consumer is asked for it`, { version: id });
      return;
    }
    if (!settings?.autoStart) {
      decide(
        'waitingForStart',
        `auto-start is off (AUTOCRANE_DATA_AUTO_START): start it with \`autocrane data start ${namespace} ${source}\``,
        { version: id },
      );
      return;
    }
    startRequest = { version: id, by: 'auto' };
    if (rolling() && run!.state !== 'RollingBack') {
      stop = { kind: 'supersede', reason: `superseded by ${id}` };
      decide('superseded', `${id} arrived: ${run!.version} goes back to the LKG ${lkg.version.id}, then ${id} starts from stage 1`, {
        by: 'auto',
      });
    }
  };

  setHandler(versionAvailableSignal, (a: VersionAnnouncement) => {
    if (settings === null) unhandled.push(a);
    else announce(a);
  });

  // ---------------------------------------------------------------------------
  // Controls
  // ---------------------------------------------------------------------------

  const findRelease = (version: string | undefined): DataRelease | undefined => {
    if (version === undefined) return latest ?? undefined;
    return [...known, ...(lkg ? [lkg] : []), ...(latest ? [latest] : [])].find((r) => r.version.id === version);
  };

  const validateStart = (request: DataStartRequest) => {
    if (request !== undefined && (typeof request !== 'object' || request === null))
      throw new Error('start: expected {version?, stages?, maxErrorPods?, ackTimeoutSeconds?, reason?}');
    const r = request ?? {};
    if (r.reason !== undefined && (typeof r.reason !== 'string' || r.reason.length > MAX_DATA_CONTROL_REASON_LENGTH))
      throw new Error(`reason: expected a string of at most ${MAX_DATA_CONTROL_REASON_LENGTH} characters`);
    if (r.stages !== undefined) {
      const problems = dataStagesProblems(r.stages);
      if (problems.length > 0) throw new Error(problems.map((p) => `${p.field}: ${p.message}`).join('; '));
    }
    if (
      r.maxErrorPods !== undefined &&
      (!Number.isInteger(r.maxErrorPods) || r.maxErrorPods < 0 || r.maxErrorPods > DATA_ROLLOUT_LIMITS.maxErrorPods)
    ) {
      throw new Error(`maxErrorPods: expected a whole number from 0 to ${DATA_ROLLOUT_LIMITS.maxErrorPods}`);
    }
    if (
      r.ackTimeoutSeconds !== undefined &&
      (!Number.isInteger(r.ackTimeoutSeconds) || r.ackTimeoutSeconds < 1 || r.ackTimeoutSeconds > DATA_ROLLOUT_LIMITS.maxAckTimeoutSeconds)
    ) {
      throw new Error(`ackTimeoutSeconds: expected a whole number from 1 to ${DATA_ROLLOUT_LIMITS.maxAckTimeoutSeconds}`);
    }
    const release = findRelease(r.version);
    if (!release) {
      if (r.version === undefined) throw new Error(`start: no version of ${source} has been announced yet`);
      const ids = [...new Set([...known.map((k) => k.version.id), ...(lkg ? [lkg.version.id] : [])])];
      throw new Error(`start: version ${r.version} is not known; known versions: ${ids.join(', ') || 'none'}`);
    }
    if (lkg !== null && release.version.id === lkg.version.id)
      throw new Error(`start: ${release.version.id} is already the known-good version`);
    if (rolling() && run!.version === release.version.id)
      throw new Error(`start: ${release.version.id} is already rolling out (state ${run!.state})`);
    if (rolling() && run!.state === 'RollingBack')
      throw new Error(`start: the rollout of ${run!.version} is rolling back; start again once it has ended`);
  };
  setHandler(
    startDataRolloutUpdate,
    (request) => {
      const r = request ?? {};
      const release = findRelease(r.version)!;
      startRequest = { ...r, version: release.version.id };
      if (rolling()) {
        stop = { kind: 'supersede', reason: `superseded by a start of ${release.version.id}` };
        decide(
          'superseded',
          `${release.version.id} was started: ${run!.version} goes back to the LKG first${r.reason ? `: ${r.reason}` : ''}`,
          r.by === undefined ? {} : { by: r.by },
        );
      }
      return status();
    },
    { validator: validateStart },
  );

  const controlContext = () =>
    run === null
      ? null
      : { state: run.state, ...(pausedFrom ? { pausedFrom } : {}), stage: run.stage < 0 ? null : run.stage, stageCount: run.stages.length };
  const decideDataControl = (control: Control) => {
    const ctx = controlContext();
    if (ctx === null || !rolling()) return { accepted: false as const, reason: `${control}: no data rollout of ${source} is in progress` };
    return decideControl(control, ctx);
  };
  for (const control of DATA_ROLLOUT_CONTROLS) {
    setHandler(
      dataRolloutControlUpdates[control],
      (request: DataControlRequest) => {
        const decision = decideDataControl(control);
        if (!decision.accepted) throw ApplicationFailure.nonRetryable(decision.reason, 'ControlRefused');
        const why = request?.reason ? `${decision.message}: ${request.reason}` : decision.message;
        const by = request?.by === undefined ? {} : { by: request.by };
        if (decision.effect === 'hold') {
          pausedFrom = run!.state as 'Progressing' | 'Baking';
          setState('Paused');
          decide('paused', why, by);
        } else if (decision.effect === 'continue') {
          setState(pausedFrom ?? 'Progressing');
          pausedFrom = undefined;
          decide('resumed', why, by);
        } else {
          stop = {
            kind: 'abort',
            reason: `aborted${request?.by ? ` by ${request.by}` : ''}${request?.reason ? `: ${request.reason}` : ''}`,
          };
          setState('RollingBack');
          decide('aborted', why, by);
        }
        return status();
      },
      {
        validator: (request: DataControlRequest) => {
          if (
            request?.reason !== undefined &&
            (typeof request.reason !== 'string' || request.reason.length > MAX_DATA_CONTROL_REASON_LENGTH)
          ) {
            throw new Error(`reason: expected a string of at most ${MAX_DATA_CONTROL_REASON_LENGTH} characters`);
          }
          const decision = decideDataControl(control);
          if (!decision.accepted) throw new Error(decision.reason);
        },
      },
    );
  }
  setHandler(dataRolloutStatusQuery, status);

  // ---------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------

  const mirror = async () => {
    if (!mirrorStale) return;
    mirrorStale = false;
    const rollout =
      run && !isDataRolloutFinished(run.state) ? `${run.version} ${run.state} stage ${run.stage + 1}/${run.stages.length}` : null;
    await mirrorDataVersions({ namespace, source, lkg, latest, rollout });
  };

  /** A stop, or one of `accept`, interrupts a running activity. */
  const interrupts = (accept: readonly Interrupt[]) => (): Interrupt | null => {
    if (stop !== null) return 'stop';
    if (accept.includes('paused') && run?.state === 'Paused') return 'paused';
    if (accept.includes('resumed') && run?.state !== 'Paused') return 'resumed';
    return null;
  };

  /** Runs an activity until it ends or `interrupted` says why not; an interrupted activity is cancelled. */
  async function interruptible<T>(
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

  // ---------------------------------------------------------------------------
  // A rollout
  // ---------------------------------------------------------------------------

  async function runRollout(request: DataStartRequest, from: DataRelease): Promise<void> {
    const release = findRelease(request.version)!;
    const stages: DataStage[] = request.stages ?? settings!.stages;
    const ackTimeoutSeconds = request.ackTimeoutSeconds ?? DEFAULT_ACK_TIMEOUT_SECONDS;
    const current: DataRolloutRun = {
      number: nextNumber++,
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
    run = current;
    pausedFrom = undefined;
    stop = null;
    mirrorStale = true;
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
          await condition(() => current.state !== 'Paused' || stop !== null);
        } else {
          const held = await interruptible(gateWatch(watchStage, true), interrupts(['resumed']));
          if ('value' in held) return { verdict: 'failed', reason: held.value.reason };
        }
        if (stop !== null) return { verdict: 'stop' };
      }
      return stop !== null ? { verdict: 'stop' } : null;
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
    for (let index = 0; index < stages.length && failure === null && stop === null; index++) {
      const held = await holdWhilePaused(index > 0 ? index - 1 : null);
      if (held?.verdict === 'failed') failure = held.reason;
      if (held !== null) break;
      const stage = current.stages[index]!;
      current.stage = index;
      Object.assign(stage, { result: 'progressing', startedAt: now() });
      setState('Progressing');
      mirrorStale = true;
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
    if (failure === null && stop === null) {
      lkg = release;
      mirrorStale = true;
      setState('Succeeded');
      decide('succeeded', `${release.version.id} is the LKG; every consumer is asked for it`);
    } else {
      const ending = stop as { kind: 'abort' | 'supersede'; reason: string } | null;
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
    stop = null;
    pausedFrom = undefined;
    recent = [current, ...recent].slice(0, RECENT_ROLLOUTS);
    run = null;
    mirrorStale = true;
    await mirror();
    publishState();
  }

  // ---------------------------------------------------------------------------
  // The main loop
  // ---------------------------------------------------------------------------

  const carry = (): DataRolloutCarriedState => ({
    lkg,
    latest,
    known,
    pending: [...unhandled],
    start: startRequest,
    recent,
    nextNumber,
    decisions: decisions.records.slice(-CARRIED_DECISIONS),
    decisionsDropped: decisions.dropped + Math.max(0, decisions.records.length - CARRIED_DECISIONS),
  });

  if (!carried && lkg === null) {
    const restored = await readDataMirror({ namespace, source });
    if (restored?.lkg) {
      lkg = restored.lkg;
      latest = restored.latest ?? restored.lkg;
      known = [...new Map([restored.lkg, ...(restored.latest ? [restored.latest] : [])].map((r) => [r.version.id, r])).values()];
      decide(
        'bootstrap',
        `restored from ConfigMap ${namespace}/${dataMirrorName(source)}: LKG ${lkg.version.id}, latest ${latest.version.id}`,
        { version: lkg.version.id },
      );
    }
  }
  settings = await dataRolloutSettings();
  while (unhandled.length > 0) announce(unhandled.shift()!);

  for (;;) {
    await mirror();
    if (startRequest !== null && lkg !== null) {
      const request = startRequest;
      startRequest = null;
      if (findRelease(request.version) && request.version !== lkg.version.id) await runRollout(request, lkg);
      // Each run's history holds at most one rollout.
      break;
    }
    const info = workflowInfo();
    if (info.historyLength > IDLE_HISTORY_LIMIT || info.continueAsNewSuggested) break;
    if (lkg === null) {
      await condition(() => lkg !== null || startRequest !== null);
      continue;
    }
    // Woken by a start, a new latest (to mirror) or the end of the tending period (the settings may have changed).
    const tendOn = lkg;
    const woken = () => (startRequest !== null || mirrorStale ? 'stop' : null);
    try {
      const tended = await interruptible(() => tendDataConsumers({ namespace, source, lkg: tendOn, seconds: TEND_SECONDS }), woken);
      if ('value' in tended) settings = await dataRolloutSettings();
    } catch (err) {
      log.warn('tending the consumers failed; trying again in a minute', { namespace, source, error: failureMessage(err) });
      await condition(() => woken() !== null, '1 minute');
    }
  }

  await condition(allHandlersFinished);
  return continueAsNew<typeof dataRolloutWorkflow>({ namespace, source, carried: carry() });
}

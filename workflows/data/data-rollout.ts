import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { SHA256_HEX, versionIdError } from '../../domain/data/data-contract';
import {
  DATA_ROLLOUT_LIMITS,
  dataMirrorName,
  dataStagesProblems,
  isDataRolloutFinished,
  type DataDecision,
  type DataDecisionKind,
  type DataRelease,
  type DataRolloutState,
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
  type DataRolloutStatus,
  type DataRolloutWorkflowInput,
  type DataStartRequest,
  type VersionAnnouncement,
} from '../../contracts/data-rollout-messages';
import { AUTOCRANE_NAMESPACE, AUTOCRANE_STATE, AUTOCRANE_TARGET } from '../../contracts/search-attributes';
import {
  dataRolloutSettings,
  failureMessage,
  interruptible,
  mirrorDataVersions,
  readDataMirror,
  runDataRollout,
  tendDataConsumers,
  type DataRolloutWorkflowState,
  type Interrupt,
} from './data-rollout-run';

/** Versions remembered for a start that names one; decisions carried to the next run. */
const KNOWN_VERSIONS = 10;
const CARRIED_DECISIONS = 50;
/** While idle, the run continues as new past this many history events. */
const IDLE_HISTORY_LIMIT = 2000;
/** Idle, the workflow looks at its settings and its history this often. */
const TEND_SECONDS = 600;

function announcementProblem(a: VersionAnnouncement | undefined): string | null {
  if (!a || typeof a !== 'object' || !a.version || typeof a.version !== 'object') return 'expected {version, archiveUrl}';
  if (typeof a.version.id !== 'string' || versionIdError(a.version.id))
    return `version.id: ${typeof a.version.id === 'string' ? versionIdError(a.version.id) : 'required'}`;
  if (typeof a.version.sha256 !== 'string' || !SHA256_HEX.test(a.version.sha256))
    return 'version.sha256: expected 64 lower-case hex digits';
  if (typeof a.archiveUrl !== 'string' || !/^https?:\/\//.test(a.archiveUrl)) return 'archiveUrl: expected an http(s) URL';
  return null;
}

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

  const wf: DataRolloutWorkflowState = {
    lkg: carried?.lkg ?? null,
    latest: carried?.latest ?? null,
    known: [...(carried?.known ?? [])],
    unhandled: [...(carried?.pending ?? [])],
    startRequest: carried?.start ?? null,
    recent: [...(carried?.recent ?? [])],
    nextNumber: carried?.nextNumber ?? 1,
    decisions: { records: [...(carried?.decisions ?? [])], dropped: carried?.decisionsDropped ?? 0 },
    settings: null,
    run: null,
    pausedFrom: undefined,
    stop: null,
    mirrorStale: true,
  };

  const now = () => new Date().toISOString();
  const decide = (kind: DataDecisionKind, reason: string, extra: { version?: string | null; by?: string } = {}) => {
    const record: DataDecision = {
      at: now(),
      kind,
      version: extra.version === undefined ? (wf.run?.version ?? null) : extra.version,
      stage: wf.run && wf.run.stage >= 0 ? wf.run.stage : null,
      reason,
    };
    if (extra.by !== undefined) record.by = extra.by;
    wf.decisions = appendDecision(wf.decisions, record);
    log.info(`data rollout ${kind}`, { namespace, source, version: record.version, reason });
  };
  const publishState = () => upsertSearchAttributes([{ key: AUTOCRANE_STATE, value: wf.run ? wf.run.state : 'Idle' }]);
  const setState = (state: DataRolloutState) => {
    if (!wf.run || wf.run.state === state) return;
    wf.run.state = state;
    wf.mirrorStale = true;
    publishState();
  };
  const status = (): DataRolloutStatus => ({
    workflowId,
    namespace,
    source,
    lkg: wf.lkg,
    latest: wf.latest,
    settings: wf.settings,
    rollout: wf.run ? { ...wf.run, stages: wf.run.stages.map((s) => ({ ...s })) } : null,
    recent: wf.recent,
    decisions: wf.decisions.records,
    decisionsDropped: wf.decisions.dropped,
  });

  upsertSearchAttributes([
    { key: AUTOCRANE_TARGET, value: `${namespace}/data/${source}` },
    { key: AUTOCRANE_NAMESPACE, value: namespace },
    { key: AUTOCRANE_STATE, value: 'Idle' },
  ]);

  // ---------------------------------------------------------------------------
  // Announcements
  // ---------------------------------------------------------------------------

  const rolling = () => wf.run !== null && !isDataRolloutFinished(wf.run.state);

  /** Records a new version; starts (or supersedes) a rollout when auto-start is on. Needs the settings. */
  const announce = (a: VersionAnnouncement) => {
    const problem = announcementProblem(a);
    if (problem !== null) {
      log.warn('ignoring an invalid version announcement', { namespace, source, problem });
      return;
    }
    const id = a.version.id;
    if (wf.known.some((k) => k.version.id === id) || wf.lkg?.version.id === id) return;
    const release: DataRelease = { version: a.version, archiveUrl: a.archiveUrl };
    wf.known = [...wf.known, release].slice(-KNOWN_VERSIONS);
    if (wf.latest !== null && id <= wf.latest.version.id) {
      decide('versionAvailable', `${id} is older than the latest ${wf.latest.version.id}: kept for an explicit start only`, {
        version: id,
      });
      return;
    }
    wf.latest = release;
    wf.mirrorStale = true;
    decide(
      'versionAvailable',
      `${id} (${a.version.size} bytes, ${a.version.origin?.kind ?? '?'} ${a.version.origin?.ref ?? ''})`.trimEnd(),
      { version: id },
    );
    if (wf.lkg === null) {
      wf.lkg = release;
      decide('bootstrap', `no known-good version yet: ${id} becomes the LKG and every consumer is asked for it`, { version: id });
      return;
    }
    if (!wf.settings?.autoStart) {
      decide(
        'waitingForStart',
        `auto-start is off (AUTOCRANE_DATA_AUTO_START): start it with \`autocrane data start ${namespace} ${source}\``,
        { version: id },
      );
      return;
    }
    wf.startRequest = { version: id, by: 'auto' };
    if (rolling() && wf.run!.state !== 'RollingBack') {
      wf.stop = { kind: 'supersede', reason: `superseded by ${id}` };
      decide('superseded', `${id} arrived: ${wf.run!.version} goes back to the LKG ${wf.lkg.version.id}, then ${id} starts from stage 1`, {
        by: 'auto',
      });
    }
  };

  setHandler(versionAvailableSignal, (a: VersionAnnouncement) => {
    if (wf.settings === null) wf.unhandled.push(a);
    else announce(a);
  });

  // ---------------------------------------------------------------------------
  // Controls
  // ---------------------------------------------------------------------------

  const findRelease = (version: string | undefined): DataRelease | undefined => {
    if (version === undefined) return wf.latest ?? undefined;
    return [...wf.known, ...(wf.lkg ? [wf.lkg] : []), ...(wf.latest ? [wf.latest] : [])].find((r) => r.version.id === version);
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
      const ids = [...new Set([...wf.known.map((k) => k.version.id), ...(wf.lkg ? [wf.lkg.version.id] : [])])];
      throw new Error(`start: version ${r.version} is not known; known versions: ${ids.join(', ') || 'none'}`);
    }
    if (wf.lkg !== null && release.version.id === wf.lkg.version.id)
      throw new Error(`start: ${release.version.id} is already the known-good version`);
    if (rolling() && wf.run!.version === release.version.id)
      throw new Error(`start: ${release.version.id} is already rolling out (state ${wf.run!.state})`);
    if (rolling() && wf.run!.state === 'RollingBack')
      throw new Error(`start: the rollout of ${wf.run!.version} is rolling back; start again once it has ended`);
  };
  setHandler(
    startDataRolloutUpdate,
    (request) => {
      const r = request ?? {};
      const release = findRelease(r.version)!;
      wf.startRequest = { ...r, version: release.version.id };
      if (rolling()) {
        wf.stop = { kind: 'supersede', reason: `superseded by a start of ${release.version.id}` };
        decide(
          'superseded',
          `${release.version.id} was started: ${wf.run!.version} goes back to the LKG first${r.reason ? `: ${r.reason}` : ''}`,
          r.by === undefined ? {} : { by: r.by },
        );
      }
      return status();
    },
    { validator: validateStart },
  );

  const controlContext = () =>
    wf.run === null
      ? null
      : {
          state: wf.run.state,
          ...(wf.pausedFrom ? { pausedFrom: wf.pausedFrom } : {}),
          stage: wf.run.stage < 0 ? null : wf.run.stage,
          stageCount: wf.run.stages.length,
        };
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
          wf.pausedFrom = wf.run!.state as 'Progressing' | 'Baking';
          setState('Paused');
          decide('paused', why, by);
        } else if (decision.effect === 'continue') {
          setState(wf.pausedFrom ?? 'Progressing');
          wf.pausedFrom = undefined;
          decide('resumed', why, by);
        } else {
          wf.stop = {
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
    if (!wf.mirrorStale) return;
    wf.mirrorStale = false;
    const rollout =
      wf.run && !isDataRolloutFinished(wf.run.state)
        ? `${wf.run.version} ${wf.run.state} stage ${wf.run.stage + 1}/${wf.run.stages.length}`
        : null;
    await mirrorDataVersions({ namespace, source, lkg: wf.lkg, latest: wf.latest, rollout });
  };

  /** A stop, or one of `accept`, interrupts a running activity. */
  const interrupts = (accept: readonly Interrupt[]) => (): Interrupt | null => {
    if (wf.stop !== null) return 'stop';
    if (accept.includes('paused') && wf.run?.state === 'Paused') return 'paused';
    if (accept.includes('resumed') && wf.run?.state !== 'Paused') return 'resumed';
    return null;
  };

  // ---------------------------------------------------------------------------
  // The main loop
  // ---------------------------------------------------------------------------

  const carry = (): DataRolloutCarriedState => ({
    lkg: wf.lkg,
    latest: wf.latest,
    known: wf.known,
    pending: [...wf.unhandled],
    start: wf.startRequest,
    recent: wf.recent,
    nextNumber: wf.nextNumber,
    decisions: wf.decisions.records.slice(-CARRIED_DECISIONS),
    decisionsDropped: wf.decisions.dropped + Math.max(0, wf.decisions.records.length - CARRIED_DECISIONS),
  });

  if (!carried && wf.lkg === null) {
    const restored = await readDataMirror({ namespace, source });
    if (restored?.lkg) {
      wf.lkg = restored.lkg;
      wf.latest = restored.latest ?? restored.lkg;
      wf.known = [...new Map([restored.lkg, ...(restored.latest ? [restored.latest] : [])].map((r) => [r.version.id, r])).values()];
      decide(
        'bootstrap',
        `restored from ConfigMap ${namespace}/${dataMirrorName(source)}: LKG ${wf.lkg.version.id}, latest ${wf.latest.version.id}`,
        { version: wf.lkg.version.id },
      );
    }
  }
  wf.settings = await dataRolloutSettings();
  while (wf.unhandled.length > 0) announce(wf.unhandled.shift()!);

  for (;;) {
    await mirror();
    if (wf.startRequest !== null && wf.lkg !== null) {
      const request = wf.startRequest;
      wf.startRequest = null;
      if (findRelease(request.version) && request.version !== wf.lkg.version.id)
        await runDataRollout(wf, { namespace, source, findRelease, decide, setState, publishState, mirror, interrupts }, request, wf.lkg);
      // Each run's history holds at most one rollout.
      break;
    }
    const info = workflowInfo();
    if (info.historyLength > IDLE_HISTORY_LIMIT || info.continueAsNewSuggested) break;
    if (wf.lkg === null) {
      await condition(() => wf.lkg !== null || wf.startRequest !== null);
      continue;
    }
    // Woken by a start, a new latest (to mirror) or the end of the tending period (the settings may have changed).
    const tendOn = wf.lkg;
    const woken = () => (wf.startRequest !== null || wf.mirrorStale ? 'stop' : null);
    try {
      const tended = await interruptible(() => tendDataConsumers({ namespace, source, lkg: tendOn, seconds: TEND_SECONDS }), woken);
      if ('value' in tended) wf.settings = await dataRolloutSettings();
    } catch (err) {
      log.warn('tending the consumers failed; trying again in a minute', { namespace, source, error: failureMessage(err) });
      await condition(() => woken() !== null, '1 minute');
    }
  }

  await condition(allHandlersFinished);
  return continueAsNew<typeof dataRolloutWorkflow>({ namespace, source, carried: carry() });
}

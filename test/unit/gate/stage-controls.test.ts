import {
  appendDecision,
  ROLLOUT_CONTROLS,
  controlDecisionRecord,
  decideControl,
  DECISION_LOG_LIMIT,
  emptyDecisionLog,
  isTerminal,
  MAX_DECISION_REASON_LENGTH,
  ROLLOUT_STATES,
  stateAfterGateFailure,
  stateAfterStage,
  type Control,
  type ControlContext,
  type DecisionRecord,
  type RolloutState,
} from '../../../domain/gate/stage-controls';

/** Stage 2 of 3 (index 1) unless said otherwise. */
const ctx = (state: RolloutState, over: Partial<ControlContext> = {}): ControlContext => ({ state, stage: 1, stageCount: 3, ...over });

type Expected = [RolloutState, string] | string;

/**
 * The whole matrix: for each state and control, either [resulting state, effect] or the
 * refusal reason. Paused is paused from Baking here; other pausedFrom cases follow.
 */
const MATRIX: Record<RolloutState, Record<Control, Expected>> = {
  Pending: {
    pause: ['Paused', 'hold'],
    resume: 'resume: rollout is not paused or frozen (state Pending)',
    approve: 'approve: rollout is not awaiting approval (state Pending)',
    abort: ['RollingBack', 'rollback'],
    promote: 'promote: no bake in progress; promote skips the rest of a bake (state Pending)',
  },
  Progressing: {
    pause: ['Paused', 'hold'],
    resume: 'resume: rollout is not paused or frozen (state Progressing)',
    approve: 'approve: rollout is not awaiting approval (state Progressing)',
    abort: ['RollingBack', 'rollback'],
    promote: 'promote: no bake in progress; promote skips the rest of a bake (state Progressing)',
  },
  Baking: {
    pause: ['Paused', 'hold'],
    resume: 'resume: rollout is not paused or frozen (state Baking)',
    approve: 'approve: rollout is not awaiting approval (state Baking)',
    abort: ['RollingBack', 'rollback'],
    promote: ['Baking', 'skipBake'],
  },
  AwaitingApproval: {
    pause: ['Paused', 'hold'],
    resume: 'resume: rollout is not paused or frozen (state AwaitingApproval)',
    approve: ['Progressing', 'proceed'],
    abort: ['RollingBack', 'rollback'],
    promote: 'promote: rollout is awaiting approval, not baking; use approve (state AwaitingApproval)',
  },
  // The promotion cannot be interrupted: refused, never accepted and then not done.
  Promoting: {
    pause:
      'pause: the promotion is under way and cannot be interrupted; it ends within seconds (to undo it, start a rollout of the previous version) (state Promoting)',
    resume: 'resume: rollout is not paused or frozen (state Promoting)',
    approve: 'approve: rollout is not awaiting approval (state Promoting)',
    abort:
      'abort: the promotion is under way and cannot be interrupted; it ends within seconds (to undo it, start a rollout of the previous version) (state Promoting)',
    promote: 'promote: no bake in progress; promote skips the rest of a bake (state Promoting)',
  },
  Paused: {
    pause: 'pause: rollout is already paused (state Paused, from Baking)',
    resume: ['Baking', 'continue'],
    approve: 'approve: rollout is not awaiting approval (state Paused, from Baking)',
    abort: ['RollingBack', 'rollback'],
    promote: 'promote: rollout is paused; resume it first (state Paused, from Baking)',
  },
  Frozen: {
    pause: 'pause: rollout is frozen after a gate failure and already holding; resume, promote or abort it (state Frozen)',
    resume: ['Baking', 'regate'],
    approve: 'approve: rollout is not awaiting approval (state Frozen)',
    abort: ['RollingBack', 'rollback'],
    promote: ['Progressing', 'overrideGate'],
  },
  RollingBack: {
    pause: 'pause: rollout is rolling back; it can no longer be changed (state RollingBack)',
    resume: 'resume: rollout is rolling back; it can no longer be changed (state RollingBack)',
    approve: 'approve: rollout is rolling back; it can no longer be changed (state RollingBack)',
    abort: 'abort: rollout is already rolling back (state RollingBack)',
    promote: 'promote: rollout is rolling back; it can no longer be changed (state RollingBack)',
  },
  Succeeded: Object.fromEntries(ROLLOUT_CONTROLS.map((c) => [c, `${c}: rollout has finished (state Succeeded)`])) as Record<
    Control,
    string
  >,
  RolledBack: Object.fromEntries(ROLLOUT_CONTROLS.map((c) => [c, `${c}: rollout has finished (state RolledBack)`])) as Record<
    Control,
    string
  >,
  Failed: Object.fromEntries(ROLLOUT_CONTROLS.map((c) => [c, `${c}: rollout has finished (state Failed)`])) as Record<Control, string>,
  Superseded: Object.fromEntries(ROLLOUT_CONTROLS.map((c) => [c, `${c}: rollout has finished (state Superseded)`])) as Record<
    Control,
    string
  >,
};

describe('decideControl: every state × control', () => {
  const cells = ROLLOUT_STATES.flatMap((state) =>
    ROLLOUT_CONTROLS.map((control) => ({ state, control, expected: MATRIX[state][control] })),
  );

  it.each(cells)('$control in $state', ({ state, control, expected }) => {
    const decision = decideControl(control, ctx(state, state === 'Paused' ? { pausedFrom: 'Baking' } : {}));
    if (typeof expected === 'string') {
      expect(decision).toEqual({ accepted: false, control, state, reason: expected });
    } else {
      expect(decision).toMatchObject({ accepted: true, control, from: state, to: expected[0], effect: expected[1] });
    }
  });

  it('covers every state', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...ROLLOUT_STATES].sort());
  });
});

describe('decideControl: details', () => {
  it('pause remembers where it paused, and resume returns there', () => {
    for (const from of ['Pending', 'Progressing', 'Baking', 'AwaitingApproval'] as const) {
      const paused = decideControl('pause', ctx(from));
      expect(paused).toMatchObject({ accepted: true, to: 'Paused', pausedFrom: from });
      expect(decideControl('resume', ctx('Paused', { pausedFrom: from }))).toMatchObject({ accepted: true, to: from, effect: 'continue' });
    }
    // A rollout paused from Promoting before promotions were refused a pause still resumes there.
    expect(decideControl('resume', ctx('Paused', { pausedFrom: 'Promoting' }))).toMatchObject({
      accepted: true,
      to: 'Promoting',
      effect: 'continue',
    });
  });

  it('refuses resume of a Paused state that lost pausedFrom', () => {
    expect(decideControl('resume', ctx('Paused'))).toMatchObject({
      accepted: false,
      reason: 'resume: rollout is paused but does not know where it was paused (state Paused)',
    });
  });

  it('asks to resume before approving a paused approval', () => {
    expect(decideControl('approve', ctx('Paused', { pausedFrom: 'AwaitingApproval' }))).toEqual({
      accepted: false,
      control: 'approve',
      state: 'Paused',
      reason: 'approve: rollout is paused; resume it first (state Paused, from AwaitingApproval)',
    });
  });

  it.each<[number, number, RolloutState, string]>([
    [0, 3, 'Progressing', 'approved stage 1 of 3; going to stage 2'],
    [1, 3, 'Progressing', 'approved stage 2 of 3; going to stage 3'],
    [2, 3, 'Promoting', 'approved stage 3 of 3; promoting'],
    [0, 1, 'Promoting', 'approved stage 1 of 1; promoting'],
  ])('approve at stage %p of %p → %s', (stage, stageCount, to, message) => {
    expect(decideControl('approve', ctx('AwaitingApproval', { stage, stageCount }))).toMatchObject({ accepted: true, to, message });
  });

  it.each<[number, number, RolloutState]>([
    [0, 2, 'Progressing'],
    [1, 2, 'Promoting'],
  ])('promote on a frozen stage %p of %p overrides the gate → %s', (stage, stageCount, to) => {
    expect(decideControl('promote', ctx('Frozen', { stage, stageCount }))).toMatchObject({ accepted: true, to, effect: 'overrideGate' });
  });

  it('refuses approve and promote without a current stage', () => {
    expect(decideControl('approve', ctx('AwaitingApproval', { stage: null })).accepted).toBe(false);
    expect(decideControl('promote', ctx('Frozen', { stage: null })).accepted).toBe(false);
  });

  it('says what was paused and aborted', () => {
    expect(decideControl('pause', ctx('Baking'))).toMatchObject({ message: 'paused stage 2 of 3' });
    expect(decideControl('pause', ctx('Pending', { stage: null }))).toMatchObject({ message: 'paused the rollout' });
    expect(decideControl('abort', ctx('Baking'))).toMatchObject({ message: 'aborted at stage 2 of 3; rolling back' });
    expect(decideControl('promote', ctx('Baking'))).toMatchObject({ message: 'skipping the rest of the bake of stage 2 of 3' });
    expect(decideControl('resume', ctx('Frozen'))).toMatchObject({
      message: 'evaluating the gate of stage 2 of 3 again, with a fresh bake',
    });
  });
});

describe('state helpers', () => {
  it('knows the terminal states', () => {
    expect(ROLLOUT_STATES.filter(isTerminal)).toEqual(['Succeeded', 'RolledBack', 'Failed', 'Superseded']);
  });

  it.each([
    [0, 3, 'Progressing'],
    [1, 3, 'Progressing'],
    [2, 3, 'Promoting'],
    [0, 1, 'Promoting'],
  ])('stateAfterStage(%p, %p) = %s', (stage, count, state) => {
    expect(stateAfterStage(stage, count)).toBe(state);
  });

  it('maps the rollback policy to the state after a gate failure', () => {
    expect(stateAfterGateFailure('automatic')).toBe('RollingBack');
    expect(stateAfterGateFailure('freeze')).toBe('Frozen');
  });
});

describe('decision log', () => {
  const record = (i: number, over: Partial<DecisionRecord> = {}): DecisionRecord => ({
    at: `2026-05-01T12:00:${String(i % 60).padStart(2, '0')}Z`,
    kind: 'stageScaled',
    stage: 0,
    reason: `r${i}`,
    ...over,
  });

  it('appends without modifying the input', () => {
    const empty = emptyDecisionLog();
    const one = appendDecision(empty, record(0, { kind: 'started' }));
    expect(empty).toEqual({ records: [], dropped: 0 });
    expect(one).toEqual({ records: [record(0, { kind: 'started' })], dropped: 0 });
  });

  it('keeps the first record and the latest, counting what it drops', () => {
    let log = emptyDecisionLog();
    for (let i = 0; i < 10; i++) log = appendDecision(log, record(i), 4);
    expect(log.records.map((r) => r.reason)).toEqual(['r0', 'r7', 'r8', 'r9']);
    expect(log.dropped).toBe(6);
  });

  it('holds exactly the limit', () => {
    let log = emptyDecisionLog();
    for (let i = 0; i < DECISION_LOG_LIMIT; i++) log = appendDecision(log, record(i));
    expect(log.records).toHaveLength(DECISION_LOG_LIMIT);
    expect(log.dropped).toBe(0);
    log = appendDecision(log, record(DECISION_LOG_LIMIT));
    expect(log.records).toHaveLength(DECISION_LOG_LIMIT);
    expect(log.records[0]!.reason).toBe('r0');
    expect(log.records[1]!.reason).toBe('r2');
    expect(log.dropped).toBe(1);
  });

  it('cuts long reasons by code point', () => {
    const long = '😀'.repeat(MAX_DECISION_REASON_LENGTH + 5);
    const cut = appendDecision(emptyDecisionLog(), record(0, { reason: long })).records[0]!.reason;
    expect(Array.from(cut)).toHaveLength(MAX_DECISION_REASON_LENGTH);
    expect(cut.endsWith('😀…')).toBe(true);
    const exact = 'x'.repeat(MAX_DECISION_REASON_LENGTH);
    expect(appendDecision(emptyDecisionLog(), record(0, { reason: exact })).records[0]!.reason).toBe(exact);
  });

  it.each([[1], [0], [2.5]])('refuses a limit of %p', (limit) => {
    expect(() => appendDecision(emptyDecisionLog(), record(0), limit)).toThrow(RangeError);
  });

  it('records accepted and refused controls', () => {
    const at = '2026-05-01T12:00:00Z';
    expect(controlDecisionRecord(decideControl('pause', ctx('Baking')), at, 1, 'alice')).toEqual({
      at,
      kind: 'paused',
      stage: 1,
      reason: 'paused stage 2 of 3',
      by: 'alice',
    });
    expect(controlDecisionRecord(decideControl('abort', ctx('Baking')), at, 1)).toEqual({
      at,
      kind: 'aborted',
      stage: 1,
      reason: 'aborted at stage 2 of 3; rolling back',
    });
    expect(controlDecisionRecord(decideControl('approve', ctx('Baking')), at, 1)).toEqual({
      at,
      kind: 'controlRefused',
      stage: 1,
      reason: 'approve: rollout is not awaiting approval (state Baking)',
    });
    const kinds = (['pause', 'approve', 'promote'] as const).map(
      (c) => controlDecisionRecord(decideControl(c, ctx(c === 'approve' ? 'AwaitingApproval' : 'Baking')), at, 1).kind,
    );
    expect(kinds).toEqual(['paused', 'approved', 'bakeSkipped']);
    expect(controlDecisionRecord(decideControl('resume', ctx('Frozen')), at, 1).kind).toBe('resumed');
    expect(controlDecisionRecord(decideControl('promote', ctx('Frozen')), at, 1).kind).toBe('gateOverridden');
  });
});

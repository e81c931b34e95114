import {
  abortRollbackReason,
  afterFreeze,
  afterVerdict,
  failureRollbackReason,
  NEXT_STEP_PATCHES,
  stageAdvance,
  stepAfterPass,
  stepBegunEarly,
  type AfterFreeze,
  type AfterVerdict,
  type NextStepPatch,
  type StageVerdict,
} from '../../../domain/rollout/rollout-next-step';

/** A `patched` that answers `on` and records what it was asked. */
function patches(on: boolean) {
  const asked: NextStepPatch[] = [];
  return {
    asked,
    patched: (patch: NextStepPatch) => {
      asked.push(patch);
      return on;
    },
  };
}

const { abortBeatsPass, approvalTimeoutRollsBack, regateRescales } = NEXT_STEP_PATCHES;
const passed: StageVerdict = { verdict: 'passed' };
const abort: StageVerdict = { verdict: 'abort' };
const failed: StageVerdict = { verdict: 'failed', reason: 'pod web-1 erroring' };
const timedOut: StageVerdict = { verdict: 'rollback', reason: 'approval of stage 1 timed out (onTimeout rollback)' };

describe('afterVerdict: what follows a stage verdict', () => {
  type Row = [StageVerdict, boolean, 'automatic' | 'freeze', boolean, AfterVerdict, NextStepPatch[]];
  // verdict, abort pending, rollback policy, patches on, next step, patches asked
  const rows: Row[] = [
    [passed, false, 'automatic', true, { step: 'pass' }, []],
    [passed, false, 'automatic', false, { step: 'pass' }, []],
    [passed, false, 'freeze', true, { step: 'pass' }, []],
    [passed, false, 'freeze', false, { step: 'pass' }, []],
    [passed, true, 'automatic', true, { step: 'abort' }, [abortBeatsPass]],
    [passed, true, 'automatic', false, { step: 'pass' }, [abortBeatsPass]],
    [passed, true, 'freeze', true, { step: 'abort' }, [abortBeatsPass]],
    [passed, true, 'freeze', false, { step: 'pass' }, [abortBeatsPass]],
    [abort, false, 'automatic', true, { step: 'abort' }, []],
    [abort, false, 'freeze', false, { step: 'abort' }, []],
    [abort, true, 'automatic', false, { step: 'abort' }, []],
    [abort, true, 'freeze', true, { step: 'abort' }, []],
    [failed, false, 'automatic', true, { step: 'rollback', reason: failed.reason }, []],
    [failed, false, 'automatic', false, { step: 'rollback', reason: failed.reason }, []],
    [failed, true, 'automatic', true, { step: 'rollback', reason: failed.reason }, []],
    [failed, false, 'freeze', true, { step: 'freeze', reason: failed.reason }, []],
    [failed, false, 'freeze', false, { step: 'freeze', reason: failed.reason }, []],
    [failed, true, 'freeze', true, { step: 'freeze', reason: failed.reason }, []],
    [timedOut, false, 'automatic', true, { step: 'rollback', reason: timedOut.reason }, []],
    [timedOut, false, 'automatic', false, { step: 'rollback', reason: timedOut.reason }, []],
    [timedOut, true, 'automatic', true, { step: 'rollback', reason: timedOut.reason }, []],
    [timedOut, false, 'freeze', true, { step: 'rollback', reason: timedOut.reason }, [approvalTimeoutRollsBack]],
    // Histories recorded before the patch froze here.
    [timedOut, false, 'freeze', false, { step: 'freeze', reason: timedOut.reason }, [approvalTimeoutRollsBack]],
    [timedOut, true, 'freeze', true, { step: 'rollback', reason: timedOut.reason }, [approvalTimeoutRollsBack]],
  ];
  test.each(rows)(
    '%j, abort pending %s, policy %s, patched %s → %j (asks %j)',
    (verdict, abortPending, rollbackPolicy, on, expected, asked) => {
      const p = patches(on);
      expect(afterVerdict(verdict, { abortPending, rollbackPolicy, patched: p.patched })).toEqual(expected);
      expect(p.asked).toEqual(asked);
    },
  );
});

describe('afterFreeze: what an operator ends a freeze with', () => {
  type Row = [{ abort: boolean; regate: boolean; override: boolean }, boolean, boolean, AfterFreeze | null, NextStepPatch[]];
  const req = (abort: boolean, regate: boolean, override: boolean) => ({ abort, regate, override });
  // pending requests, scaled, patches on, next step, patches asked
  const rows: Row[] = [
    [req(false, false, false), true, true, null, []],
    [req(false, false, false), false, true, null, []],
    [req(true, false, false), false, true, { step: 'rollback' }, []],
    [req(true, true, false), false, true, { step: 'rollback' }, []],
    [req(true, false, true), true, true, { step: 'rollback' }, []],
    [req(true, true, true), true, false, { step: 'rollback' }, []],
    [req(false, true, false), true, true, { step: 'rebake' }, []],
    [req(false, true, false), true, false, { step: 'rebake' }, []],
    [req(false, true, false), false, true, { step: 'rescale' }, [regateRescales]],
    // Histories recorded before the patch baked again without scaling.
    [req(false, true, false), false, false, { step: 'rebake' }, [regateRescales]],
    [req(false, true, true), false, true, { step: 'rescale' }, [regateRescales]],
    [req(false, true, true), true, true, { step: 'rebake' }, []],
    [req(false, false, true), false, true, { step: 'pass' }, []],
    [req(false, false, true), true, false, { step: 'pass' }, []],
  ];
  test.each(rows)('pending %j, scaled %s, patched %s → %j (asks %j)', (pending, scaled, on, expected, asked) => {
    const p = patches(on);
    expect(afterFreeze({ pending, scaled, patched: p.patched })).toEqual(expected);
    expect(p.asked).toEqual(asked);
  });
});

describe('stepAfterPass and stageAdvance: what a passed stage leads to, and what its activity may begin early', () => {
  const counts = [1, 5, 10];
  test.each([
    [0, { step: 'stage', index: 1, count: 5 }],
    [1, { step: 'stage', index: 2, count: 10 }],
    [2, { step: 'promotion' }],
  ] as const)('after stage %i → %j', (index, expected) => {
    expect(stepAfterPass(counts, index)).toEqual(expected);
  });

  const approval = { timeoutSeconds: 60, onTimeout: 'rollback' };
  test.each([
    ['a bake: the gate is watched after the scaling', [{ bakeSeconds: 30 }, { bakeSeconds: 0 }], 0, { gateAfterScaling: false }],
    ['a bake and an approval', [{ bakeSeconds: 30, approval }, { bakeSeconds: 0 }], 0, { gateAfterScaling: false }],
    ['no bake, an approval: nothing begun early', [{ bakeSeconds: 0, approval }, { bakeSeconds: 0 }], 0, { gateAfterScaling: true }],
    [
      'no bake, no approval: the next stage begins',
      [{ bakeSeconds: 0 }, { bakeSeconds: 0 }, { bakeSeconds: 10 }],
      1,
      { gateAfterScaling: true, nextCount: 10 },
    ],
    [
      'no bake, no approval, last stage: the promotion begins',
      [{ bakeSeconds: 0 }, { bakeSeconds: 0 }],
      1,
      { gateAfterScaling: true, beginPromotion: true },
    ],
    ['approval null counts as none', [{ bakeSeconds: 0, approval: null }, { bakeSeconds: 0 }], 0, { gateAfterScaling: true, nextCount: 5 }],
  ])('%s', (_, stages, index, expected) => {
    expect(stageAdvance(stages, counts.slice(0, stages.length), index)).toEqual(expected);
  });

  test('a stage outside the spec is refused', () => {
    expect(() => stageAdvance([{ bakeSeconds: 0 }], [1], 1)).toThrow('stage 1 is outside 0..0');
  });
});

describe('stepBegunEarly: what advanceStage begins once the gate passed', () => {
  test.each([
    ['Deployment', { gateAfterScaling: true, nextCount: 4 }, { step: 'stage', count: 4 }],
    ['Deployment', { gateAfterScaling: true, beginPromotion: true }, { step: 'promotion' }],
    ['Deployment', { gateAfterScaling: true }, null],
    ['Deployment', { gateAfterScaling: true, beginPromotion: false }, null],
    ['Deployment', { gateAfterScaling: false, nextCount: 4 }, null],
    ['Deployment', { nextCount: 4 }, null],
    ['StatefulSet', { gateAfterScaling: true, nextCount: 4 }, null],
    ['StatefulSet', { gateAfterScaling: true, beginPromotion: true }, null],
  ] as const)('%s %j → %j', (kind, input, expected) => {
    expect(stepBegunEarly(kind, input)).toEqual(expected);
  });
});

describe('rollback reasons', () => {
  test.each([
    ['gate reason, no abort', 'pod web-1 erroring', false, null, 'pod web-1 erroring'],
    ['aborted while frozen', 'pod web-1 erroring', true, null, 'aborted by an operator while frozen'],
    ['superseded while frozen', 'pod web-1 erroring', true, 'r2', 'superseded by rollout r2 while frozen'],
  ])('%s', (_, reason, abortPending, supersededBy, expected) => {
    expect(failureRollbackReason(reason, abortPending, supersededBy)).toBe(expected);
  });
  test.each([
    [null, 'aborted by an operator'],
    ['r2', 'superseded by rollout r2'],
  ])('abort, superseded by %s', (supersededBy, expected) => {
    expect(abortRollbackReason(supersededBy)).toBe(expected);
  });
});

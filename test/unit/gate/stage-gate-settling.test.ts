/**
 * The progress deadline and the bake across a stage's settling (evaluateGate's memory): a
 * readiness blip or a replaced pod during a long bake holds the gate and restarts the bake; it
 * fails only once the stage stays unsettled for progressDeadlineSeconds.
 */
import {
  evaluateGate,
  progressAnchor,
  type GateInput,
  type GatePolicyInput,
  type GateResult,
  type PodObservation,
  type SettleMemory,
} from '../../../domain/gate/stage-gate';

import { at, iso, pod, T0 } from '../../support/gate-observations';

const policy = (over: Partial<GatePolicyInput> = {}): GatePolicyInput => ({
  maxErrorPods: 0,
  minReadySeconds: 0,
  noData: 'pass',
  progressDeadlineSeconds: 600,
  ...over,
});
const unready = (name: string) => pod(name, { ready: false, readySince: null });
const settled = [pod('web-canary-a'), pod('web-canary-b')];
const blip = [pod('web-canary-a'), unready('web-canary-b')];

/** A stage that began at T0 and finished scaling at 10 s, with a 1-hour bake. */
const input = (over: Partial<GateInput> = {}): GateInput => ({
  pods: settled,
  expectedPods: 2,
  policy: policy(),
  stageStartedAt: T0,
  bakeStartedAt: iso(10),
  bakeSeconds: 3600,
  now: at(100),
  ...over,
});
const memory = (settledSince: number | null, lastSettledAt: number | null): SettleMemory => ({
  settledSince: settledSince === null ? null : iso(settledSince),
  lastSettledAt: lastSettledAt === null ? null : iso(lastSettledAt),
});

/** Evaluates a sequence of looks at the stage, threading the memory as watchGate does. */
function run(
  looks: { at: number; pods: PodObservation[] }[],
  over: Partial<GateInput> = {},
  start: SettleMemory | null = null,
): GateResult[] {
  let carried = start;
  return looks.map((look) => {
    const result = evaluateGate(input({ ...over, pods: look.pods, now: at(look.at), memory: carried }));
    carried = result.memory;
    return result;
  });
}

describe('evaluateGate: the progress deadline after the stage settled', () => {
  it('the audit case: 700 s into the stage, a 1-hour bake, one pod unready → wait, not fail', () => {
    const result = evaluateGate(input({ pods: blip, now: at(700), memory: memory(10, 699) }));
    expect(result).toMatchObject({ verdict: 'wait', reason: 'not ready: web-canary-b', recheckAt: iso(699 + 600) });
  });

  it('the same look without memory still waits: the deadline counts from the bake start, not the stage start', () => {
    expect(evaluateGate(input({ pods: blip, now: at(609) })).verdict).toBe('wait');
    expect(evaluateGate(input({ pods: blip, now: at(610) }))).toMatchObject({
      verdict: 'fail',
      reason: `stage not settled 600s after its bake began at ${iso(10)}: not ready: web-canary-b`,
    });
  });

  it('fails once unsettled for progressDeadlineSeconds since it was last settled', () => {
    const results = run([
      { at: 100, pods: settled },
      { at: 700, pods: settled },
      { at: 701, pods: blip },
      { at: 1299, pods: blip },
      { at: 1300, pods: blip },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['wait', 'wait', 'wait', 'wait', 'fail']);
    expect(results[4]!.reason).toBe(`stage unsettled for 600s since it was last settled at ${iso(700)}: not ready: web-canary-b`);
    expect(results[2]!.recheckAt).toBe(iso(1300));
  });

  it('a blip that ends in time holds the gate, then the bake starts over from when it settled again', () => {
    const results = run([
      { at: 100, pods: settled },
      { at: 2999, pods: settled },
      { at: 3000, pods: blip },
      { at: 3400, pods: settled },
      { at: 3610, pods: settled },
      { at: 6999, pods: settled },
      { at: 7000, pods: settled },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['wait', 'wait', 'wait', 'wait', 'wait', 'wait', 'pass']);
    expect(results[2]).toMatchObject({ reason: 'not ready: web-canary-b', memory: memory(null, 2999) });
    expect(results[3]).toMatchObject({
      reason: `baking: 3600s of 3600s left (started over at ${iso(3400)}, when the stage settled again)`,
      recheckAt: iso(7000),
      memory: memory(3400, 3400),
    });
    // Without the blip the bake would have ended at 3610 s.
    expect(results[4]!.reason).toBe(`baking: 3390s of 3600s left (started over at ${iso(3400)}, when the stage settled again)`);
    expect(results[6]!.reason).toBe('2 updated pods ready, baked 3600s');
  });

  it('a pod replaced between two looks (never seen unsettled) restarts the bake from its ready time', () => {
    const results = run([
      { at: 100, pods: settled },
      { at: 2000, pods: settled },
      { at: 2001, pods: [pod('web-canary-a'), pod('web-canary-c', { readySince: iso(2001) })] },
      { at: 5601, pods: [pod('web-canary-a'), pod('web-canary-c', { readySince: iso(2001) })] },
    ]);
    expect(results[2]).toMatchObject({
      verdict: 'wait',
      reason: `baking: 3600s of 3600s left (started over at ${iso(2001)}, when web-canary-c became ready)`,
      recheckAt: iso(2001 + 3600),
      memory: memory(10, 2001),
    });
    expect(results[3]!.verdict).toBe('pass');
  });

  it('a pod ready before the bake began changes nothing; a ready time not yet reached (clock skew) is left out', () => {
    expect(evaluateGate(input({ pods: [pod('a', { readySince: iso(5) }), pod('b')], now: at(100) })).recheckAt).toBe(iso(3610));
    expect(evaluateGate(input({ pods: [pod('a', { readySince: iso(200) }), pod('b')], now: at(100) })).recheckAt).toBe(iso(3610));
  });

  it('never passes while a pod is unready, even when the bake time is over', () => {
    const results = run([
      { at: 100, pods: settled },
      { at: 3499, pods: settled },
      { at: 3500, pods: blip },
      { at: 3700, pods: blip },
    ]);
    expect(results[3]).toMatchObject({ verdict: 'wait', reason: 'not ready: web-canary-b' });
  });

  it('a replaced pod (one missing, then a new name not ready yet) holds the gate the same way', () => {
    const results = run([
      { at: 100, pods: settled },
      { at: 1999, pods: settled },
      { at: 2000, pods: [pod('web-canary-a')] },
      { at: 2005, pods: [pod('web-canary-a'), unready('web-canary-c')] },
      { at: 2030, pods: [pod('web-canary-a'), pod('web-canary-c', { readySince: iso(2030) })] },
    ]);
    expect(results.map((r) => r.verdict)).toEqual(['wait', 'wait', 'wait', 'wait', 'wait']);
    expect(results[2]!.reason).toBe('1 of 2 updated pods exist');
    expect(results[2]!.recheckAt).toBe(iso(1999 + 600));
    expect(results[4]!.memory).toEqual(memory(2030, 2030));
    expect(results[4]!.recheckAt).toBe(iso(2030 + 3600));
  });

  it('a replacement that never comes up fails at the deadline, naming what is missing', () => {
    const results = run([
      { at: 100, pods: settled },
      { at: 699, pods: settled },
      { at: 1298, pods: [pod('web-canary-a')] },
      { at: 1299, pods: [pod('web-canary-a')] },
    ]);
    expect(results[2]!.verdict).toBe('wait');
    expect(results[3]).toMatchObject({
      verdict: 'fail',
      reason: `stage unsettled for 600s since it was last settled at ${iso(699)}: 1 of 2 updated pods exist`,
    });
  });

  it.each<[string, Partial<GatePolicyInput>, PodObservation[]]>([
    ['minReadySeconds', { minReadySeconds: 30 }, [pod('a', { readySince: iso(2000) }), pod('b')]],
    ['noData wait', { noData: 'wait' }, [pod('a', { probes: [] }), pod('b')]],
  ])('%s: a pod that stops counting as settled holds, then fails at the deadline since last settled', (_what, over, unsettledPods) => {
    const results = run(
      [
        { at: 100, pods: [pod('a'), pod('b')] },
        { at: 1000, pods: [pod('a'), pod('b')] },
        { at: 1001, pods: unsettledPods },
        { at: 1600, pods: unsettledPods },
      ],
      { policy: policy(over), expectedPods: 2 },
    );
    expect(results.map((r) => r.verdict)).toEqual(['wait', 'wait', 'wait', 'fail']);
    expect(results[3]!.reason).toMatch(
      new RegExp(`^stage unsettled for 600s since it was last settled at ${iso(1000).replace(/[.]/g, '\\.')}: `),
    );
  });

  it('an error watchdog still fails at once during a blip, and leaves the memory as it was', () => {
    const before = memory(null, 500);
    const result = evaluateGate(
      input({
        pods: [pod('a', { watchdogs: [{ name: 'http', level: 'error', time: iso(600) }] }), unready('b')],
        now: at(600),
        memory: before,
      }),
    );
    expect(result).toMatchObject({ verdict: 'fail', memory: before });
  });

  it('promote skips the rest of a restarted bake too, but not an unready pod', () => {
    const results = run(
      [
        { at: 100, pods: settled },
        { at: 200, pods: blip },
        { at: 300, pods: settled },
      ],
      { bakeSkipped: true },
    );
    expect(results.map((r) => r.verdict)).toEqual(['pass', 'wait', 'pass']);
  });
});

describe('evaluateGate: before the stage first settles', () => {
  it('while scaling, the deadline counts from the stage start', () => {
    const looks = [
      { at: 599, pods: [pod('a')] },
      { at: 600, pods: [pod('a')] },
    ];
    const results = run(looks, { bakeStartedAt: null });
    expect(results[0]!.verdict).toBe('wait');
    expect(results[1]).toMatchObject({ verdict: 'fail', reason: 'stage not settled 600s after it began: 1 of 2 updated pods exist' });
  });

  it('a stage settled at its first look counts as settled since its bake began (the bake is not delayed)', () => {
    const result = evaluateGate(input({ now: at(100) }));
    expect(result).toMatchObject({ verdict: 'wait', reason: 'baking: 3510s of 3600s left', recheckAt: iso(3610), memory: memory(10, 100) });
  });

  it('pods ready for less than minReadySeconds when the bake begins: the bake still counts from its start once they settle', () => {
    const young = [pod('a', { readySince: iso(8) }), pod('b', { readySince: iso(9) })];
    const results = run(
      [
        { at: 10, pods: young },
        { at: 40, pods: young },
      ],
      { policy: policy({ minReadySeconds: 30 }) },
    );
    expect(results[0]).toMatchObject({
      verdict: 'wait',
      reason: 'ready for less than 30s: a, b',
      memory: memory(null, null),
      recheckAt: iso(39),
    });
    expect(results[1]).toMatchObject({ verdict: 'wait', memory: memory(10, 40), recheckAt: iso(3610) });
  });

  it('pods that never settle after the scaling fail progressDeadlineSeconds after the bake began', () => {
    const young = [pod('a', { readySince: null }), pod('b')];
    const results = run(
      [
        { at: 10, pods: young },
        { at: 609, pods: young },
        { at: 610, pods: young },
      ],
      { policy: policy({ minReadySeconds: 30 }) },
    );
    expect(results.map((r) => r.verdict)).toEqual(['wait', 'wait', 'fail']);
    expect(results[2]!.reason).toBe(
      `stage not settled 600s after its bake began at ${iso(10)}: ready for less than 30s: a (ready time unknown)`,
    );
  });
});

describe('evaluateGate: a re-gate or hold after the stage settled long ago', () => {
  it('a re-gate (fresh bake) after a freeze gives unsettled pods a fresh deadline from the re-gate', () => {
    // Frozen at 2000 s with the stage last settled at 1500 s; an operator resumes at 5000 s.
    const regate = { bakeStartedAt: iso(5000), bakeSeconds: 60 };
    const before = memory(null, 1500);
    expect(evaluateGate(input({ ...regate, pods: blip, now: at(5000), memory: before })).verdict).toBe('wait');
    expect(evaluateGate(input({ ...regate, pods: blip, now: at(5599), memory: before })).verdict).toBe('wait');
    expect(evaluateGate(input({ ...regate, pods: blip, now: at(5600), memory: before }))).toMatchObject({
      verdict: 'fail',
      reason: `stage not settled 600s after its bake began at ${iso(5000)}: not ready: web-canary-b`,
    });
  });

  it('a re-gate bakes in full from its own start even when the stage stayed settled', () => {
    const result = evaluateGate(input({ bakeStartedAt: iso(5000), bakeSeconds: 60, now: at(5030), memory: memory(100, 4999) }));
    expect(result).toMatchObject({ verdict: 'wait', reason: 'baking: 30s of 60s left', recheckAt: iso(5060) });
  });

  it('resuming a bake after a hold keeps what the hold saw: a blip during the hold restarts the bake', () => {
    // Bake from 10 s; paused at 1000 s (hold: bake of 0 s from 1000 s); blip at 1200-1300 s; resumed at 1500 s.
    const hold = run(
      [
        { at: 1000, pods: settled },
        { at: 1200, pods: blip },
        { at: 1300, pods: settled },
      ],
      { bakeStartedAt: iso(1000), bakeSeconds: 0 },
      memory(10, 999),
    );
    expect(hold.map((r) => r.verdict)).toEqual(['pass', 'wait', 'pass']);
    const resumed = evaluateGate(input({ now: at(1500), memory: hold[2]!.memory }));
    expect(resumed).toMatchObject({ verdict: 'wait', recheckAt: iso(1300 + 3600) });
  });
});

describe('progressAnchor', () => {
  it.each<[number, number | null, number | undefined, { at: number; from: string }]>([
    [0, null, undefined, { at: 0, from: 'stage' }],
    [0, 10, undefined, { at: 10, from: 'bake' }],
    [0, 10, 5, { at: 10, from: 'bake' }],
    [0, 10, 20, { at: 20, from: 'settled' }],
    [0, null, 20, { at: 20, from: 'settled' }],
    [30, 10, 20, { at: 30, from: 'stage' }],
    [10, 10, 10, { at: 10, from: 'stage' }],
  ])('stage %p, bake %p, last settled %p → %p', (stage, bake, settledAt, expected) => {
    expect(progressAnchor(stage, bake, settledAt)).toEqual(expected);
  });
});

import { evaluateGate, type GateInput, type GatePolicyInput, type PodObservation } from '../../../domain/gate/stage-gate';

const T0 = '2026-05-01T12:00:00Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

const policy = (over: Partial<GatePolicyInput> = {}): GatePolicyInput => ({
  maxErrorPods: 0,
  minReadySeconds: 0,
  noData: 'pass',
  progressDeadlineSeconds: 600,
  ...over,
});

/** A ready pod, ready since `since` seconds after T0, with a declared probe `http` and no status. */
const pod = (name: string, over: Partial<PodObservation> = {}): PodObservation => ({
  name,
  ready: true,
  readySince: iso(0),
  watchdogs: [],
  probes: ['http'],
  ...over,
});
const error = (name: string, message?: string) => ({ name, level: 'error', time: iso(5), ...(message === undefined ? {} : { message }) });
const level = (name: string, value: string) => ({ name, level: value, time: iso(5) });

const input = (over: Partial<GateInput> = {}): GateInput => ({
  pods: [pod('web-a'), pod('web-b')],
  expectedPods: 2,
  policy: policy(),
  stageStartedAt: T0,
  bakeStartedAt: iso(10),
  bakeSeconds: 60,
  now: at(100),
  ...over,
});

describe('evaluateGate: errors', () => {
  it('passes clean ready pods after the bake', () => {
    expect(evaluateGate(input())).toEqual({
      verdict: 'pass',
      reason: '2 updated pods ready, baked 60s',
      counts: { expected: 2, updated: 2, ready: 2, erroring: 0 },
      erroring: [],
      recheckAt: null,
      memory: { settledSince: iso(10), lastSettledAt: iso(100) },
    });
  });

  it('fails on one error pod with maxErrorPods 0, naming pod and watchdogs', () => {
    const result = evaluateGate(
      input({ pods: [pod('web-a', { watchdogs: [error('http', 'HTTP 500'), error('latency'), level('disk', 'warning')] }), pod('web-b')] }),
    );
    expect(result.verdict).toBe('fail');
    expect(result.reason).toBe('1 updated pod has an error watchdog, more than the 0 allowed: web-a (http, latency)');
    expect(result.erroring).toEqual([
      {
        pod: 'web-a',
        watchdogs: [
          { name: 'http', time: iso(5), message: 'HTTP 500' },
          { name: 'latency', time: iso(5) },
        ],
      },
    ]);
    expect(result.counts).toEqual({ expected: 2, updated: 2, ready: 2, erroring: 1 });
  });

  it.each([
    [0, 0, 'pass'],
    [1, 0, 'fail'],
    [1, 1, 'pass'],
    [2, 1, 'fail'],
    [3, 3, 'pass'],
    [3, 2, 'fail'],
  ])('%p error pods with maxErrorPods %p → %s', (errors, maxErrorPods, verdict) => {
    const pods = Array.from({ length: 4 }, (_, i) => pod(`p${i}`, i < errors ? { watchdogs: [error('http')] } : {}));
    expect(evaluateGate(input({ pods, expectedPods: 4, policy: policy({ maxErrorPods }) })).verdict).toBe(verdict);
  });

  it('says which pods are in error when they are within the allowance', () => {
    const result = evaluateGate(
      input({ pods: [pod('web-a', { watchdogs: [error('http')] }), pod('web-b')], policy: policy({ maxErrorPods: 1 }) }),
    );
    expect(result.reason).toBe('2 updated pods ready, baked 60s; 1 in error, within the 1 allowed: web-a');
  });

  it('counts errors case-insensitively and ignores warning, info and unknown levels', () => {
    const pods = [
      pod('a', { watchdogs: [level('x', 'Error')] }),
      pod('b', { watchdogs: [level('x', 'warning'), level('y', 'info'), level('z', 'garbled')] }),
    ];
    const result = evaluateGate(input({ pods }));
    expect(result.verdict).toBe('fail');
    expect(result.counts.erroring).toBe(1);
  });

  it('counts only the named watchdogs when gate.watchdogs is set', () => {
    const pods = [pod('a', { watchdogs: [error('disk')] }), pod('b', { probes: ['http', 'disk'] })];
    expect(evaluateGate(input({ pods, policy: policy({ watchdogs: ['http'] }) })).verdict).toBe('pass');
    expect(evaluateGate(input({ pods, policy: policy({ watchdogs: ['disk'] }) })).verdict).toBe('fail');
  });

  it('fails on errors even while pods are still starting and the bake has not begun', () => {
    const pods = [pod('a', { ready: false, readySince: null, watchdogs: [error('http')] })];
    const result = evaluateGate(input({ pods, expectedPods: 3, bakeStartedAt: null, now: at(1) }));
    expect(result.verdict).toBe('fail');
    expect(result.counts).toEqual({ expected: 3, updated: 1, ready: 0, erroring: 1 });
  });

  it('lists at most 5 pods by name', () => {
    const pods = Array.from({ length: 8 }, (_, i) => pod(`p${i}`, { watchdogs: [error('http')] }));
    expect(evaluateGate(input({ pods, expectedPods: 8 })).reason).toBe(
      '8 updated pods have an error watchdog, more than the 0 allowed: p0 (http), p1 (http), p2 (http), p3 (http), p4 (http) and 3 more',
    );
  });
});

describe('evaluateGate: settling', () => {
  it.each<[string, Partial<GateInput>, string, string | null]>([
    // Scaling: the progress deadline counts from the stage start.
    [
      'too few updated pods',
      { pods: [pod('a')], expectedPods: 3, bakeStartedAt: null, now: at(30) },
      '1 of 3 updated pods exist',
      iso(600),
    ],
    ['no pod yet', { pods: [], expectedPods: 1, bakeStartedAt: null, now: at(30) }, '0 of 1 updated pod exist', iso(600)],
    // Baking (from 10 s): from the bake start (see stage-gate-settling.test.ts).
    ['pods not ready', { pods: [pod('a', { ready: false, readySince: null }), pod('b')], now: at(30) }, 'not ready: a', iso(610)],
    [
      'minReadySeconds not over',
      {
        pods: [pod('a', { readySince: iso(91) }), pod('b', { readySince: iso(95) })],
        policy: policy({ minReadySeconds: 10 }),
        now: at(100),
      },
      'ready for less than 10s: a, b',
      iso(105),
    ],
    [
      'minReadySeconds over for one only',
      {
        pods: [pod('a', { readySince: iso(50) }), pod('b', { readySince: iso(95) })],
        policy: policy({ minReadySeconds: 10 }),
        now: at(100),
      },
      'ready for less than 10s: b',
      iso(105),
    ],
    [
      'ready time unknown',
      {
        pods: [pod('a', { readySince: null }), pod('b', { readySince: 'yesterday' })],
        policy: policy({ minReadySeconds: 10 }),
        now: at(100),
      },
      'ready for less than 10s: a (ready time unknown), b (ready time unknown)',
      iso(610),
    ],
    ['still scaling', { bakeStartedAt: null, now: at(30) }, 'scaling to 2 updated pods', null],
    ['baking', { now: at(40) }, 'baking: 30s of 60s left', iso(70)],
    ['baking, last fraction of a second', { now: new Date(at(70).getTime() - 1) }, 'baking: 1s of 60s left', iso(70)],
  ])('waits: %s', (_what, over, reason, recheckAt) => {
    const result = evaluateGate(input(over));
    expect(result).toMatchObject({ verdict: 'wait', reason, recheckAt });
  });

  it('passes when the bake ends exactly now, and with a zero bake', () => {
    expect(evaluateGate(input({ now: at(70) })).verdict).toBe('pass');
    expect(evaluateGate(input({ bakeSeconds: 0, now: at(10) })).reason).toBe('2 updated pods ready, baked 0s');
  });

  it('passes a pod ready exactly minReadySeconds ago', () => {
    // (Without bake: a pod that turned ready during a bake restarts it, see stage-gate-settling.test.ts.)
    expect(
      evaluateGate(
        input({ pods: [pod('a', { readySince: iso(90) })], expectedPods: 1, bakeSeconds: 0, policy: policy({ minReadySeconds: 10 }) }),
      ).verdict,
    ).toBe('pass');
  });

  it('skips the rest of the bake on promote, but not readiness or errors', () => {
    expect(evaluateGate(input({ now: at(20), bakeSkipped: true }))).toMatchObject({
      verdict: 'pass',
      reason: '2 updated pods ready, bake skipped by promote',
    });
    expect(evaluateGate(input({ now: at(200), bakeSkipped: true })).reason).toBe('2 updated pods ready, baked 60s');
    expect(
      evaluateGate(input({ now: at(20), bakeSkipped: true, pods: [pod('a', { ready: false, readySince: null }), pod('b')] })).verdict,
    ).toBe('wait');
    expect(
      evaluateGate(input({ now: at(20), bakeSkipped: true, pods: [pod('a', { watchdogs: [error('http')] }), pod('b')] })).verdict,
    ).toBe('fail');
  });

  it.each<[string, Partial<GateInput>, string]>([
    ['pods missing', { pods: [pod('a')], expectedPods: 2 }, 'stage not settled 600s after it began: 1 of 2 updated pods exist'],
    [
      'pods not ready',
      { pods: [pod('a', { ready: false, readySince: null }), pod('b')] },
      'stage not settled 600s after it began: not ready: a',
    ],
    [
      'no data under wait',
      { pods: [pod('a', { probes: [] }), pod('b')], policy: policy({ noData: 'wait' }) },
      'stage not settled 600s after it began: waiting for watchdog data: no watchdog watches a',
    ],
  ])('fails at the progress deadline while scaling: %s', (_what, over, reason) => {
    expect(evaluateGate(input({ ...over, bakeStartedAt: null, now: at(599) })).verdict).toBe('wait');
    expect(evaluateGate(input({ ...over, bakeStartedAt: null, now: at(600) }))).toMatchObject({ verdict: 'fail', reason, recheckAt: null });
  });

  it('does not apply the progress deadline to a settled stage that is baking', () => {
    expect(evaluateGate(input({ bakeStartedAt: iso(590), bakeSeconds: 600, now: at(700) })).verdict).toBe('wait');
  });

  it('caps recheckAt at the progress deadline', () => {
    const result = evaluateGate(
      input({
        pods: [pod('a', { readySince: iso(590) })],
        expectedPods: 1,
        policy: policy({ minReadySeconds: 60 }),
        now: at(595),
        bakeStartedAt: null,
      }),
    );
    expect(result.recheckAt).toBe(iso(600));
  });

  it('refuses unreadable stage times (a caller bug)', () => {
    expect(() => evaluateGate(input({ stageStartedAt: 'soon' }))).toThrow(RangeError);
    expect(() => evaluateGate(input({ bakeStartedAt: 'soon' }))).toThrow(RangeError);
  });
});

describe('evaluateGate: no data', () => {
  const silent = pod('quiet', { probes: [] });

  it.each<['wait' | 'pass' | 'fail', string, string]>([
    ['pass', 'pass', '2 updated pods ready, baked 60s'],
    ['wait', 'wait', 'waiting for watchdog data: no watchdog watches quiet'],
    ['fail', 'fail', 'no watchdog watches quiet (gate.noData is fail)'],
  ])('noData %s with a pod nothing watches → %s', (noData, verdict, reason) => {
    expect(evaluateGate(input({ pods: [pod('a'), silent], policy: policy({ noData }) }))).toMatchObject({ verdict, reason });
  });

  it('fails under noData fail at once, before readiness', () => {
    const result = evaluateGate(
      input({
        pods: [pod('quiet', { probes: [], ready: false, readySince: null })],
        expectedPods: 1,
        policy: policy({ noData: 'fail' }),
        now: at(1),
      }),
    );
    expect(result.verdict).toBe('fail');
  });

  it.each<[string, PodObservation, string[] | undefined, boolean]>([
    ['a declared probe', pod('p', { probes: ['http'] }), undefined, true],
    ['a status', pod('p', { probes: [], watchdogs: [level('posted', 'info')] }), undefined, true],
    ['only an unreadable status', pod('p', { probes: [], watchdogs: [level('posted', 'garbled')] }), undefined, false],
    ['probes undefined', { name: 'p', ready: true, readySince: iso(0), watchdogs: [] }, undefined, false],
    ['the named one declared', pod('p', { probes: ['http', 'disk'] }), ['http'], true],
    ['only another watchdog', pod('p', { probes: ['disk'] }), ['http'], false],
    ['one of two named ones', pod('p', { probes: ['http'] }), ['http', 'disk'], false],
    ['both named, one by status', pod('p', { probes: ['http'], watchdogs: [level('disk', 'warning')] }), ['http', 'disk'], true],
  ])('data: %s → %p', (_what, observed, watchdogs, hasData) => {
    const result = evaluateGate(input({ pods: [observed], expectedPods: 1, policy: policy({ noData: 'wait', watchdogs }) }));
    expect(result.verdict).toBe(hasData ? 'pass' : 'wait');
  });

  it('names the watchdogs it waits for', () => {
    const result = evaluateGate(
      input({ pods: [pod('p', { probes: [] })], expectedPods: 1, policy: policy({ noData: 'wait', watchdogs: ['http', 'disk'] }) }),
    );
    expect(result.reason).toBe('waiting for watchdog data: not every one of the watchdogs http, disk watches p');
  });
});

describe('evaluateGate: zero replicas', () => {
  it('passes a stage of 0 expected pods once baked', () => {
    expect(evaluateGate(input({ pods: [], expectedPods: 0, policy: policy({ noData: 'fail', minReadySeconds: 5 }) }))).toMatchObject({
      verdict: 'pass',
      counts: { expected: 0, updated: 0, ready: 0, erroring: 0 },
    });
  });
});

/**
 * The gate's own evidence (domain/gate/stage-gate-evidence.ts): a bake passes only on fresh probe
 * results of every declared probe and on watched time; time the gate could not watch (a dead
 * worker, an apiserver outage) extends the bake, and the reason says so.
 */
import {
  evaluateGate,
  type GateInput,
  type GatePolicyInput,
  type GateResult,
  type PodObservation,
  type SettleMemory,
} from '../../../domain/gate/stage-gate';
import { accountWatch, type GateProbeResult } from '../../../domain/gate/stage-gate-evidence';

import { at, iso, pod, T0 } from '../../support/gate-observations';

const policy = (over: Partial<GatePolicyInput> = {}): GatePolicyInput => ({
  maxErrorPods: 0,
  minReadySeconds: 0,
  noData: 'wait',
  progressDeadlineSeconds: 60,
  ...over,
});
const ok = (podName: string, seconds: number, probe = 'http'): GateProbeResult => ({ pod: podName, probe, at: iso(seconds), ok: true });
const bad = (podName: string, seconds: number, probe = 'http'): GateProbeResult => ({
  pod: podName,
  probe,
  at: iso(seconds),
  ok: false,
  reason: 'HTTP 500',
});
const GAP = 2000;
const AGE = 3000;

/** A stage that finished scaling at 10 s, baking 5 s. */
const input = (over: Partial<GateInput> = {}): GateInput => ({
  pods: [pod('a'), pod('b')],
  expectedPods: 2,
  policy: policy(),
  stageStartedAt: T0,
  bakeStartedAt: iso(10),
  bakeSeconds: 5,
  now: at(10),
  ...over,
});

interface Look {
  at: number;
  /** Results fresh at this look (probed at `at`); default: every pod's http ok. */
  probes?: GateProbeResult[];
  pods?: PodObservation[];
}

/** Looks threaded as watchGate threads them; each look's probes are the latest results then. */
function run(looks: Look[], over: Partial<GateInput> = {}, start: SettleMemory | null = null): GateResult[] {
  let carried = start;
  return looks.map((look) => {
    const pods = look.pods ?? over.pods ?? input().pods;
    const probes = look.probes ?? pods.map((p) => ok(p.name, look.at));
    const result = evaluateGate(
      input({ ...over, pods, now: at(look.at), memory: carried, evidence: { probes, maxLookGapMs: GAP, maxProbeAgeMs: AGE } }),
    );
    carried = result.memory;
    return result;
  });
}
const every = (from: number, to: number, step: number, look: (t: number) => Omit<Look, 'at'> = () => ({})): Look[] => {
  const looks: Look[] = [];
  for (let t = from; t <= to + 1e-9; t += step) looks.push({ at: Math.round(t * 1000) / 1000, ...look(Math.round(t * 1000) / 1000) });
  return looks;
};

describe('evaluateGate with evidence: watched time', () => {
  it('passes once looks every 0.5 s have watched the whole bake', () => {
    const results = run(every(10.5, 15, 0.5));
    expect(results.slice(0, -1).every((r) => r.verdict === 'wait')).toBe(true);
    const last = results.at(-1)!;
    expect(last.verdict).toBe('pass');
    expect(last.reason).toBe(`2 updated pods ready, baked 5s watched (5s), every declared probe probed by the gate since ${iso(10)}`);
  });

  it.each([
    ['a dead worker (no look for 8 s)', 12, 20],
    ['an apiserver outage (no look for 30 s)', 11, 41],
  ])('%s: the gap does not count, the bake is extended by it and the reason says so', (_what, lastBefore, firstAfter) => {
    const looks = [...every(10.5, lastBefore, 0.5), ...every(firstAfter, firstAfter + 6, 0.5)];
    const results = run(looks);
    const passAt = looks[results.findIndex((r) => r.verdict === 'pass')]!.at;
    // 5 s of watched time: (lastBefore - 10) before the gap, the rest after it.
    expect(passAt).toBeCloseTo(firstAfter + (5 - (lastBefore - 10)), 5);
    const pass = results.find((r) => r.verdict === 'pass')!;
    expect(pass.reason).toContain(
      `bake extended by ${firstAfter - lastBefore}s the gate could not watch (longest: ${iso(lastBefore)} to ${iso(firstAfter)})`,
    );
    const waiting = results[looks.findIndex((l) => l.at === firstAfter)]!;
    expect(waiting.verdict).toBe('wait');
    expect(waiting.reason).toMatch(/^baking: \ds of 5s left; bake extended by/);
  });

  it('a first look long after the bake began does not count the time before it', () => {
    const [first, second] = run([{ at: 30 }, { at: 30.5 }]);
    expect(first!.verdict).toBe('wait');
    expect(first!.memory.watch).toMatchObject({ watchedMs: 0, unwatchedMs: 20_000 });
    expect(second!.memory.watch).toMatchObject({ watchedMs: 500 });
  });

  it('gaps up to the bound count; longer ones do not', () => {
    expect(accountWatch(undefined, 0, 2000, true, 2000)).toMatchObject({ watchedMs: 2000, unwatchedMs: 0 });
    expect(accountWatch(undefined, 0, 2001, true, 2000)).toMatchObject({ watchedMs: 0, unwatchedMs: 2001 });
  });

  it('an incomplete look credits nothing and the gap runs on to the next complete one', () => {
    const w1 = accountWatch(undefined, 0, 1000, true, 2000);
    const w2 = accountWatch(w1, 0, 2000, false, 2000);
    expect(w2).toEqual(w1);
    expect(accountWatch(w2, 0, 3500, true, 2000)).toMatchObject({ watchedMs: 1000, unwatchedMs: 2500 });
  });

  it('carries the watched time across attempts (the memory from the heartbeat)', () => {
    const first = run(every(10.5, 12, 0.5));
    const carried = JSON.parse(JSON.stringify(first.at(-1)!.memory)) as SettleMemory;
    const looks = every(15, 19, 0.5);
    const second = run(looks, {}, carried);
    // 2 s watched before, the 3 s gap not counted, 3 s after.
    expect(looks[second.findIndex((r) => r.verdict === 'pass')]!.at).toBe(18);
    expect(second.find((r) => r.verdict === 'pass')!.reason).toContain(
      `bake extended by 3s the gate could not watch (longest: ${iso(12)} to ${iso(15)})`,
    );
  });

  it('a restarted bake starts its watched time over', () => {
    const looks: Look[] = [
      ...every(10.5, 13, 0.5),
      { at: 13.5, pods: [pod('a'), pod('b', { ready: false, readySince: null })] },
      ...every(14, 19.5, 0.5, (t) => ({ pods: [pod('a'), pod('b', { readySince: iso(14) })], probes: [ok('a', t), ok('b', t)] })),
    ];
    const results = run(looks);
    expect(looks[results.findIndex((r) => r.verdict === 'pass')]!.at).toBe(19);
  });

  it('promote skips the rest of the bake, but not the evidence', () => {
    expect(run([{ at: 10.5 }], { bakeSkipped: true })[0]!.verdict).toBe('pass');
    expect(run([{ at: 10.5, probes: [ok('a', 10.5)] }], { bakeSkipped: true })[0]!.verdict).toBe('wait');
  });
});

describe('evaluateGate with evidence: fresh probe results', () => {
  it.each<[string, (t: number) => GateProbeResult[], GateResult['verdict'], string]>([
    ['every probe fresh', (t) => [ok('a', t), ok('b', t)], 'pass', 'baked 5s watched'],
    ['one pod never probed', (t) => [ok('a', t)], 'wait', "no fresh result of the gate's own probes since"],
    ['one result from before the bake', (t) => [ok('a', t), ok('b', 9)], 'wait', 'b (http), oldest last probed at'],
    ['one result too old (stalled prober)', (t) => [ok('a', t), ok('b', t - 4)], 'wait', 'b (http)'],
    ['a failing result', (t) => [ok('a', t), bad('b', t)], 'fail', 'b (http)'],
  ])('%s → %s', (_what, probes, verdict, reason) => {
    const last = run(every(10.5, 20, 0.5, (t) => ({ probes: probes(t) }))).at(-1)!;
    expect(last.verdict).toBe(verdict);
    expect(last.reason).toContain(reason);
  });

  it('a failing gate probe is an error watchdog of that pod, with its reason', () => {
    const [result] = run([{ at: 11, probes: [ok('a', 11), bad('b', 11)] }]);
    expect(result!.erroring).toEqual([{ pod: 'b', watchdogs: [{ name: 'http', time: iso(11), message: 'probed by the gate: HTTP 500' }] }]);
  });

  it('respects maxErrorPods and gate.watchdogs naming', () => {
    expect(run([{ at: 11, probes: [ok('a', 11), bad('b', 11)] }], { policy: policy({ maxErrorPods: 1 }) })[0]!.verdict).toBe('wait');
    const pods = [pod('a', { probes: ['http', 'disk'] }), pod('b', { probes: ['http', 'disk'] })];
    const probes = [ok('a', 11), ok('b', 11), bad('a', 11, 'disk')];
    expect(run([{ at: 11, pods, probes }], { policy: policy({ watchdogs: ['http'] }) })[0]!.verdict).toBe('wait');
    expect(run([{ at: 11, pods, probes }], { policy: policy({ watchdogs: ['disk'] }) })[0]!.verdict).toBe('fail');
  });

  it('only the named probes need results', () => {
    const pods = [pod('a', { probes: ['http', 'disk'] })];
    const looks = every(10.5, 15, 0.5, (t) => ({ pods, probes: [ok('a', t)] }));
    expect(run(looks, { expectedPods: 1, policy: policy({ watchdogs: ['http'] }) }).at(-1)!.verdict).toBe('pass');
    expect(run(looks, { expectedPods: 1 }).at(-1)!.verdict).toBe('wait');
  });

  it('a status error from the sweep or an app still fails the gate, fresh probes or not', () => {
    const pods = [pod('a', { watchdogs: [{ name: 'http', level: 'error', time: iso(11), message: 'HTTP 500' }] }), pod('b')];
    expect(run([{ at: 11.5, pods }])[0]!.verdict).toBe('fail');
  });

  it('pods without declared probes need no probe results (statuses still count under noData)', () => {
    const pods = [pod('a', { probes: [], watchdogs: [{ name: 'app', level: 'info', time: iso(1) }] })];
    expect(
      run(
        every(10.5, 15, 0.5, () => ({ pods, probes: [] })),
        { expectedPods: 1 },
      ).at(-1)!.verdict,
    ).toBe('pass');
  });

  it('fails once no complete look has been possible for the progress deadline, naming the pods', () => {
    const results = run(every(10.5, 75, 0.5, (t) => ({ probes: t < 12 ? [ok('a', t), ok('b', t)] : [ok('a', t), ok('b', 11.5)] })));
    const fail = results.findIndex((r) => r.verdict === 'fail');
    expect(every(10.5, 75, 0.5)[fail]!.at).toBe(74.5);
    expect(results[fail]!.reason).toBe(
      `stage not watched for 60s since ${iso(14.5)}: no fresh result of the gate's own probes since ${iso(71.5)} for b (http), oldest last probed at ${iso(11.5)}`,
    );
  });

  it('a resumed watch does not fail on the deadline: its first look is complete', () => {
    const before = run(every(10.5, 12, 0.5)).at(-1)!.memory;
    const [resumed] = run([{ at: 200 }], {}, before);
    expect(resumed!.verdict).toBe('wait');
    expect(resumed!.reason).toContain('bake extended by 188s');
  });
});

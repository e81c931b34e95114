import { DataGateMemories } from '../../../activities/data/data-rollout-gate';
import { dataGatePolicy, REFUSED_REQUEST_ERROR, refusedPodObservations } from '../../../domain/data/data-rollout';
import { evaluateGate, isSettleMemory, type GateResult, type PodObservation, type SettleMemory } from '../../../domain/gate/stage-gate';

// The data-rollout probation as the watch evaluates it: looks every 500 ms, at most 2 s apart
// to count (activities/gate/gate-probe.ts MAX_LOOK_GAP_MS), the memory threaded from look to look.

const START = Date.parse('2026-12-08T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const consumer = (name: string): PodObservation => ({ name, ready: true, readySince: iso(START - 60_000), watchdogs: [] });

/** Looks at the given offsets (ms from the probation's start); returns every result. */
function watch(offsets: number[], probationSeconds: number, pods: PodObservation[] = [consumer('web-0')], maxErrorPods = 0): GateResult[] {
  let memory: SettleMemory | null = null;
  return offsets.map((offset) => {
    const result = evaluateGate({
      pods,
      expectedPods: 0,
      policy: dataGatePolicy(probationSeconds, maxErrorPods),
      stageStartedAt: iso(START),
      bakeStartedAt: iso(START),
      bakeSeconds: probationSeconds,
      memory,
      evidence: { probes: [], maxLookGapMs: 2000, maxProbeAgeMs: 3000 },
      now: new Date(START + offset),
    });
    memory = result.memory;
    return result;
  });
}

const every = (from: number, to: number, step = 500) =>
  Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

describe('data-rollout probation: only watched time counts', () => {
  test('watched without a gap: passes once the probation is over, with nothing extended', () => {
    const results = watch(every(500, 4000), 4);
    expect(results.slice(0, -1).every((r) => r.verdict === 'wait')).toBe(true);
    expect(results.at(-1)).toMatchObject({ verdict: 'pass' });
    expect(results.at(-1)!.reason).toContain('baked 4s watched (4s)');
    expect(results.at(-1)!.reason).not.toContain('extended');
  });

  test('a 6 s gap (the worker died, the watch resumed elsewhere) does not count: the probation is extended by it, and the reason says so', () => {
    // Looks to 1.5 s, nothing until 7.5 s, then on.
    const offsets = [...every(500, 1500), ...every(7500, 12_000)];
    const results = watch(offsets, 4);
    const at = (offset: number) => results[offsets.indexOf(offset)]!;
    // Wall time alone would have passed at 4 s, and at the first look after the gap.
    expect(at(7500).verdict).toBe('wait');
    expect(at(7500).reason).toContain(
      'bake extended by 6s the gate could not watch (longest: 2026-12-08T10:00:01.500Z to 2026-12-08T10:00:07.500Z)',
    );
    // 1.5 s watched before the gap, 2.5 s more after it: 10 s.
    expect(at(9500).verdict).toBe('wait');
    expect(at(10_000).verdict).toBe('pass');
    expect(at(10_000).reason).toMatch(/baked 4s watched \(4s\); bake extended by 6s the gate could not watch/);
  });

  test('a first look long after the probation began (its start was not watched) counts nothing before it', () => {
    const results = watch([5000, 5500, 6000], 1);
    expect(results.map((r) => r.verdict)).toEqual(['wait', 'wait', 'pass']);
    expect(results[2]!.reason).toContain('bake extended by 5s');
  });
});

describe('data-rollout probation: a consumer whose request was refused is an erroring pod', () => {
  const refused = [{ pod: 'big', reason: 'too-large, HTTP 422: metadata.annotations: Too long' }];

  test('refused pods not on the version become erroring observations; one the version reached is watched as itself', () => {
    const seen = refusedPodObservations([...refused, { pod: 'web-1', reason: 'x' }], new Set(['web-1']), iso(START));
    expect(seen).toEqual([
      {
        name: 'big',
        ready: true,
        readySince: null,
        watchdogs: [
          {
            name: REFUSED_REQUEST_ERROR,
            level: 'error',
            time: iso(START),
            message: `the apiserver refused its data request: ${refused[0]!.reason}`,
          },
        ],
      },
    ]);
  });

  test('within maxErrorPods the probation passes; a watchdog error beside it is one too many', () => {
    const pods = [consumer('web-0'), ...refusedPodObservations(refused, new Set(['web-0']), iso(START))];
    expect(watch(every(500, 2000), 2, pods, 1).at(-1)!.verdict).toBe('pass');
    const failing = [
      { ...consumer('web-0'), watchdogs: [{ name: 'e2e', level: 'error', time: iso(START), message: 'lookups fail' }] },
      ...pods.slice(1),
    ];
    const [first] = watch([500], 2, failing, 1);
    expect(first).toMatchObject({ verdict: 'fail' });
    expect(first!.reason).toContain(`big (${REFUSED_REQUEST_ERROR})`);
    // Without the refused pod, the same watchdog error was within the limit.
    expect(watch([500], 2, failing.slice(0, 1), 1)[0]!.verdict).not.toBe('fail');
  });
});

describe("the probation's memory across attempts", () => {
  const memory: SettleMemory = {
    settledSince: iso(START),
    lastSettledAt: iso(START + 1500),
    watch: { cleanSince: iso(START), lastLookAt: iso(START + 1500), watchedMs: 1500, unwatchedMs: 0 },
  };
  const key = DataGateMemories.key({
    namespace: 'shop',
    source: 'prices',
    target: { version: { id: 'v2' } },
    probationStartedAt: iso(START),
  });

  test('read back from heartbeat details only when well formed', () => {
    expect(isSettleMemory(memory)).toBe(true);
    expect(isSettleMemory({ ...memory, watch: { watchedMs: 'lots' } })).toBe(false);
    expect(isSettleMemory({ settledSince: 3 })).toBe(false);
    expect(isSettleMemory(null)).toBe(false);
  });

  test("a retried attempt starts from its previous attempt's heartbeat, else from this worker's memory of the stage, else from nothing", () => {
    const memories = new DataGateMemories(2);
    expect(memories.initial(key, undefined)).toBeNull();
    memories.remember(key, memory);
    expect(memories.initial(key, { step: 'probation' })).toEqual(memory);
    const later = { ...memory, lastSettledAt: iso(START + 3000) };
    expect(memories.initial(key, { step: 'probation', gate: later })).toEqual(later);
    expect(memories.initial(key, { gate: 'garbage' })).toEqual(memory);
    // Bounded: the oldest stage is forgotten.
    memories.remember('b', memory);
    memories.remember('c', memory);
    expect(memories.initial(key, undefined)).toBeNull();
  });
});

import type { HttpProber, HttpProbeResult } from '../../../activities/watchdog/http-prober';
import { GateProber, type ProbedPod } from '../../../activities/gate/gate-probe';

/** A stub of the HTTP prober (the I/O): answers per URL, counts requests. */
function stubProber(answer: (url: string) => Partial<HttpProbeResult> = () => ({ healthy: true })) {
  const calls: string[] = [];
  const prober: HttpProber = {
    probe: async (url) => {
      calls.push(url);
      return { healthy: true, message: 'ok', durationMs: 1, outcome: 'ok', ...answer(url) } as HttpProbeResult;
    },
    probeAll: async () => new Map(),
    close: () => undefined,
  };
  return { prober, calls };
}

const pod = (name: string, over: { ready?: boolean; ip?: string | null; probes?: Record<string, string> } = {}): ProbedPod => ({
  metadata: {
    name,
    uid: `uid-${name}`,
    annotations: Object.fromEntries(
      Object.entries(over.probes ?? { http: 'POD_IP:8080/healthz' }).map(([k, v]) => [`probe.autocrane.io/${k}`, v]),
    ),
  },
  status: {
    phase: 'Running',
    ...(over.ip === null ? {} : { podIP: over.ip ?? '127.1.0.5' }),
    conditions: [{ type: 'Ready', status: over.ready === false ? 'False' : 'True' }],
  },
});

describe('GateProber', () => {
  it('probes every declared probe of ready pods and waits for the first results', async () => {
    const { prober, calls } = stubProber((url) => (url.includes('bad') ? { healthy: false, message: 'HTTP 500' } : {}));
    const gate = new GateProber(() => prober, 5000);
    const results = await gate.look([
      pod('a', { probes: { http: 'POD_IP:8080/ok', disk: 'POD_IP:8080/bad' } }),
      pod('b', { ready: false }),
    ]);
    expect(calls.sort()).toEqual(['http://127.1.0.5:8080/bad', 'http://127.1.0.5:8080/ok']);
    expect(results.map(({ pod: p, probe, ok, reason }) => ({ p, probe, ok, reason }))).toEqual([
      { p: 'a', probe: 'disk', ok: false, reason: 'HTTP 500' },
      { p: 'a', probe: 'http', ok: true, reason: undefined },
    ]);
  });

  it('probes a pod and probe at most once per interval, and at once when its result predates freshSince', async () => {
    const { prober, calls } = stubProber();
    const gate = new GateProber(() => prober, 5000, 60_000);
    await gate.look([pod('a')]);
    await gate.look([pod('a')]);
    expect(calls).toHaveLength(1);
    const [fresh] = await gate.look([pod('a')], Date.now() + 1);
    expect(calls).toHaveLength(2);
    expect(Date.parse(fresh!.at)).toBeGreaterThan(0);
  });

  it('records a refused declaration and a pod without IP as failures, without a request', async () => {
    const { prober, calls } = stubProber();
    const gate = new GateProber(() => prober, 5000);
    const results = await gate.look([pod('a', { probes: { http: '10.0.0.1:80/x' } }), pod('b', { ip: null })]);
    expect(calls).toEqual([]);
    expect(results.map((r) => [r.pod, r.ok, r.reason])).toEqual([
      ['a', false, expect.stringContaining('host must be the literal POD_IP')],
      ['b', false, 'pod has no IP address to probe'],
    ]);
  });

  it('a replaced pod with the same name starts without results', async () => {
    const { prober, calls } = stubProber();
    const gate = new GateProber(() => prober, 5000, 60_000);
    await gate.look([pod('db-0')]);
    const replaced = { ...pod('db-0'), metadata: { ...pod('db-0').metadata, uid: 'uid-new' } };
    await gate.look([replaced]);
    expect(calls).toHaveLength(2);
  });

  it('withholds a passing result while the probe after it has run longer than the interval, so a hanging version cannot pass on it', async () => {
    let hang: (() => void) | undefined;
    let calls = 0;
    const prober: HttpProber = {
      probe: async () => {
        calls++;
        if (calls > 1) await new Promise<void>((resolve) => (hang = resolve));
        return { healthy: calls === 1, message: calls === 1 ? 'ok' : 'timeout after 5s', durationMs: 1, outcome: 'ok' } as HttpProbeResult;
      },
      probeAll: async () => new Map(),
      close: () => undefined,
    };
    const gate = new GateProber(() => prober, 5000, 50);
    expect((await gate.look([pod('a')])).map((r) => r.ok)).toEqual([true]);
    await new Promise((r) => setTimeout(r, 60));
    // The second probe is sent now and still runs: the first "ok" is younger than the interval.
    expect((await gate.look([pod('a')])).map((r) => r.ok)).toEqual([true]);
    await new Promise((r) => setTimeout(r, 80));
    expect(await gate.look([pod('a')])).toEqual([]);
    hang!();
    await new Promise((r) => setTimeout(r, 5));
    expect((await gate.look([pod('a')])).map((r) => [r.ok, r.reason])).toEqual([[false, 'timeout after 5s']]);
  });

  it('a stale result bound covers the interval and the probe deadline', () => {
    expect(new GateProber(() => stubProber().prober, 5000, 1000).maxProbeAgeMs).toBe(7000);
  });
});

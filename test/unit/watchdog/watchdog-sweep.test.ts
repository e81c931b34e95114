import { ApiException } from '@kubernetes/client-node';
import type { HttpProbeResult, HttpProber, ProbeTargetRequest } from '../../../activities/watchdog/http-prober';
import type { PodStatusApi } from '../../../activities/shared/pod-status';
import { sweepWatchdogs, type SweepProgress } from '../../../activities/watchdog/watchdog-sweep';
import { toSweepPod, type ListSweepPods, type SweepPod, type SweepPodPage } from '../../../activities/watchdog/watchdog-sweep-pods';
import { parseSweepResumePoint } from '../../../activities/watchdog/watchdogs';
import { HEALTH_LABEL } from '../../../domain/shared/keys';

// The sweep's I/O stubbed: pages of pods, a prober answering by URL, and a pod API that records patches.

const time = new Date('2026-12-02T10:00:00Z');

function pod(name: string, over: Partial<SweepPod> = {}): SweepPod {
  const n = Number(name.replace(/\D/g, '')) || 0;
  return {
    name,
    uid: `uid-${name}`,
    resourceVersion: '7',
    podIP: `10.0.${Math.floor(n / 250)}.${(n % 250) + 1}`,
    phase: 'Running',
    containerStatuses: [{ ready: true }],
    deleting: false,
    annotations: { 'probe.autocrane.io/http': 'POD_IP:8080/watchdog' },
    ...over,
  };
}

function withoutIP(p: SweepPod): SweepPod {
  delete p.podIP;
  return p;
}

/** Pages of the given pods, `size` at a time, with tokens "p1", "p2", ... */
function pagesOf(pods: SweepPod[], size: number) {
  const calls: Array<string | undefined> = [];
  const listPods: ListSweepPods = async (_namespace, token) => {
    calls.push(token);
    const start = token === undefined ? 0 : Number(token.slice(1)) * size;
    const page: SweepPodPage = { pods: pods.slice(start, start + size) };
    if (start + size < pods.length) {
      page.continueToken = `p${start / size + 1}`;
      page.remainingItemCount = pods.length - start - size;
    }
    return page;
  };
  return { listPods, calls };
}

function stubProber(answer: (url: string) => Partial<HttpProbeResult> = () => ({})) {
  const batches: string[][] = [];
  const prober: HttpProber = {
    probe: async () => {
      throw new Error('not used by the sweep');
    },
    probeAll: async (targets: ReadonlyArray<ProbeTargetRequest>, onProgress) => {
      batches.push(targets.map((t) => t.url));
      const results = new Map<string, HttpProbeResult>();
      for (const { key, url } of targets) {
        results.set(key, { healthy: true, outcome: 'ok', message: `GET ${url} answered 200`, durationMs: 1, status: 200, ...answer(url) });
      }
      onProgress?.(targets.length);
      return results;
    },
    close: () => undefined,
  };
  return { prober, batches };
}

function stubCore() {
  const patches: Array<{
    name: string;
    body: { metadata: { resourceVersion?: string; annotations: Record<string, string | null>; labels: Record<string, string | null> } };
  }> = [];
  const core = {
    readNamespacedPod: jest.fn(async () => {
      throw new Error('no re-read expected');
    }),
    patchNamespacedPod: jest.fn(async (request: { name: string; body: unknown }) => {
      patches.push(request as (typeof patches)[number]);
      return {};
    }),
  } as unknown as PodStatusApi;
  return { core, patches };
}

const failing = (url: string) =>
  url.includes('10.0.0.3:') ? { healthy: false, outcome: 'http-status' as const, status: 500, message: `GET ${url} answered 500` } : {};

describe('toSweepPod', () => {
  test('keeps only what a decision needs', () => {
    const raw = {
      metadata: {
        name: 'app-1',
        uid: 'u1',
        resourceVersion: '42',
        annotations: {
          'probe.autocrane.io/http': 'POD_IP:8080/w',
          'status.autocrane.io/http': 'error/2026-12-01T00:00:00Z/boom',
          'status.data.autocrane.io/model': 'x',
          'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}',
        },
        labels: { app: 'a', [HEALTH_LABEL]: 'error' },
        managedFields: [{ manager: 'kubectl' }],
      },
      spec: { containers: [{ name: 'app' }] },
      status: { phase: 'Running', podIP: '10.1.2.3', containerStatuses: [{ ready: true }, { ready: false, name: 'x' }] },
    };
    expect(toSweepPod(raw)).toEqual({
      name: 'app-1',
      uid: 'u1',
      resourceVersion: '42',
      podIP: '10.1.2.3',
      phase: 'Running',
      containerStatuses: [{ ready: true }, { ready: false }],
      deleting: false,
      annotations: { 'probe.autocrane.io/http': 'POD_IP:8080/w', 'status.autocrane.io/http': 'error/2026-12-01T00:00:00Z/boom' },
      healthLabel: 'error',
    });
  });

  test('a pod being deleted, a pod without status, an item without a name', () => {
    expect(toSweepPod({ metadata: { name: 'x', deletionTimestamp: '2026-12-02T00:00:00Z' } })).toMatchObject({
      deleting: true,
      containerStatuses: [],
    });
    expect(toSweepPod({ metadata: { name: 'x', annotations: { 'probe.autocrane.io/a': 5 } } })).toEqual({
      name: 'x',
      uid: '',
      containerStatuses: [],
      deleting: false,
      annotations: {},
    });
    expect(toSweepPod({ metadata: {} })).toBeUndefined();
    expect(toSweepPod({})).toBeUndefined();
  });
});

describe('sweepWatchdogs, page by page', () => {
  test('each page is probed on its own, the next page is listed meanwhile, and counters add up', async () => {
    const pods = Array.from({ length: 7 }, (_, i) => pod(`app-${i}`));
    const { listPods, calls } = pagesOf(pods, 3);
    const { prober, batches } = stubProber(failing);
    const { core, patches } = stubCore();
    const order: string[] = [];
    const listing: ListSweepPods = async (ns, token) => {
      order.push(`list ${token ?? 'first'}`);
      return listPods(ns, token);
    };
    const probing: HttpProber = {
      ...prober,
      probeAll: async (targets, onProgress) => {
        order.push(`probe ${targets.length}`);
        return prober.probeAll(targets, onProgress);
      },
    };

    const summary = await sweepWatchdogs({ namespace: 'shop' }, { listPods: listing, core, prober: probing, now: () => time });

    expect(calls).toEqual([undefined, 'p1', 'p2']);
    expect(batches.map((b) => b.length)).toEqual([3, 3, 1]);
    // Page 2 is requested before page 1's probes start.
    expect(order).toEqual(['list first', 'list p1', 'probe 3', 'list p2', 'probe 3', 'probe 1']);
    expect(summary).toMatchObject({
      namespace: 'shop',
      pages: 3,
      pods: 7,
      probedPods: 7,
      probes: 7,
      failedProbes: 1,
      podsWritten: 1,
      podsGone: 0,
      outcomes: { ok: 6, 'http-status': 1 },
      health: { none: 6, error: 1 },
    });
    // Only the failing pod is written: its status key and the label, guarded by its resourceVersion.
    expect(patches).toEqual([
      {
        namespace: 'shop',
        name: 'app-2',
        fieldManager: 'autocrane',
        body: {
          metadata: {
            resourceVersion: '7',
            annotations: { 'status.autocrane.io/http': 'error/2026-12-02T10:00:00Z/GET http://10.0.0.3:8080/watchdog answered 500' },
            labels: { [HEALTH_LABEL]: 'error' },
          },
        },
      },
    ]);
  });

  test('a steady state writes nothing; a recovery writes info once', async () => {
    const erroring = { 'probe.autocrane.io/http': 'POD_IP:8080/watchdog', 'status.autocrane.io/http': 'error/2026-12-01T00:00:00Z/boom' };
    const pods = [pod('app-0'), pod('app-2', { annotations: erroring, healthLabel: 'error' })];
    const { core, patches } = stubCore();

    const still = await sweepWatchdogs(
      { namespace: 'shop' },
      { ...pagesOf(pods, 500), core, prober: stubProber(failing).prober, now: () => time },
    );
    expect(still).toMatchObject({ podsWritten: 0, health: { none: 1, error: 1 } });
    expect(patches).toEqual([]);

    const recovered = await sweepWatchdogs(
      { namespace: 'shop' },
      { ...pagesOf(pods, 500), core, prober: stubProber().prober, now: () => time },
    );
    expect(recovered).toMatchObject({ podsWritten: 1, health: { none: 1, info: 1 } });
    expect(patches.map((p) => p.body.metadata)).toEqual([
      {
        resourceVersion: '7',
        annotations: { 'status.autocrane.io/http': 'info/2026-12-02T10:00:00Z/error cleared' },
        labels: { [HEALTH_LABEL]: 'info' },
      },
    ]);
  });

  test('who is probed: not ready, deleting, no probe, refused target, no IP, a bad IP', async () => {
    const pods = [
      pod('app-0'),
      pod('app-1', { containerStatuses: [{ ready: false }] }),
      pod('app-2', { phase: 'Pending' }),
      pod('app-3', { deleting: true }),
      pod('app-4', { annotations: {} }),
      pod('app-5', { annotations: { 'probe.autocrane.io/http': '10.9.9.9:8080/w' } }),
      withoutIP(pod('app-6')),
      pod('app-7', { podIP: 'not-an-ip' }),
    ];
    const { prober, batches } = stubProber();
    const { core, patches } = stubCore();
    const summary = await sweepWatchdogs({ namespace: 'shop' }, { ...pagesOf(pods, 500), core, prober, now: () => time });
    expect(batches).toEqual([['http://10.0.0.1:8080/watchdog']]);
    expect(summary).toMatchObject({
      pods: 8,
      probedPods: 4,
      probes: 4,
      failedProbes: 3,
      podsWritten: 3,
      outcomes: { ok: 1, 'refused-target': 3 },
    });
    const written = Object.fromEntries(patches.map((p) => [p.name, p.body.metadata.annotations['status.autocrane.io/http']]));
    expect(written['app-5']).toMatch(/host must be the literal POD_IP/);
    expect(written['app-6']).toMatch(/pod has no IP address to probe$/);
    expect(written['app-7']).toMatch(/pod IP 'not-an-ip' is not an IP address$/);

    // With probeNotReadyPods, the not-ready and pending pods are probed too.
    const all = await sweepWatchdogs(
      { namespace: 'shop', probeNotReadyPods: true },
      { ...pagesOf(pods, 500), core, prober: stubProber().prober, now: () => time },
    );
    expect(all.probedPods).toBe(6);
  });

  test('writes within a page are bounded by writeConcurrency', async () => {
    const pods = Array.from({ length: 20 }, (_, i) => pod(`app-${i}`));
    let inFlight = 0;
    let most = 0;
    const core = {
      readNamespacedPod: jest.fn(),
      patchNamespacedPod: jest.fn(async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return {};
      }),
    } as unknown as PodStatusApi;
    const { prober } = stubProber(() => ({ healthy: false, outcome: 'timeout', message: 'timed out' }));
    const summary = await sweepWatchdogs(
      { namespace: 'shop' },
      { ...pagesOf(pods, 500), core, prober, now: () => time, writeConcurrency: 3 },
    );
    expect(summary.podsWritten).toBe(20);
    expect(most).toBe(3);
  });

  test('progress names the page in progress and the counters of the pages done', async () => {
    const pods = Array.from({ length: 5 }, (_, i) => pod(`app-${i}`));
    const progress: SweepProgress[] = [];
    await sweepWatchdogs(
      { namespace: 'shop' },
      { ...pagesOf(pods, 2), core: stubCore().core, prober: stubProber().prober, now: () => time, onProgress: (p) => progress.push(p) },
    );
    const pageStarts = progress.filter((p) => p.page.probesDone === 0 && p.page.probes === 0);
    expect(pageStarts.map((p) => [p.pageToken, p.pagesDone, p.done.pods, p.remainingPods])).toEqual([
      [undefined, 0, 0, 3],
      ['p1', 1, 2, 1],
      ['p2', 2, 4, undefined],
    ]);
    expect(progress.at(-1)?.page).toEqual({ pods: 1, probes: 1, probesDone: 1, writes: 0 });
  });

  test('a retry resumes at the heartbeated page with the counters before it', async () => {
    const pods = Array.from({ length: 5 }, (_, i) => pod(`app-${i}`));
    const { listPods, calls } = pagesOf(pods, 2);
    const { prober, batches } = stubProber();
    const done = {
      pods: 2,
      probedPods: 2,
      probes: 2,
      failedProbes: 0,
      podsWritten: 0,
      podsGone: 0,
      outcomes: { ok: 2 },
      health: { none: 2 },
    };
    const resumeFrom = parseSweepResumePoint({
      pageToken: 'p1',
      pagesDone: 1,
      done,
      page: { pods: 2, probes: 2, probesDone: 1, writes: 0 },
    });
    expect(resumeFrom).toBeDefined();

    const summary = await sweepWatchdogs(
      { namespace: 'shop' },
      { listPods, core: stubCore().core, prober, now: () => time, resumeFrom: resumeFrom! },
    );
    expect(calls).toEqual(['p1', 'p2']);
    expect(batches.flat()).toHaveLength(3);
    expect(summary).toMatchObject({ pages: 3, pods: 5, probedPods: 5, probes: 5, outcomes: { ok: 5 }, health: { none: 5 } });
  });

  test('heartbeat details that are not a resume point are ignored', () => {
    expect(parseSweepResumePoint(undefined)).toBeUndefined();
    expect(parseSweepResumePoint({ phase: 'probing', done: 3, total: 9 })).toBeUndefined();
    // The first page has no token: nothing to skip, start over.
    expect(
      parseSweepResumePoint({
        pagesDone: 0,
        done: { pods: 0, probedPods: 0, probes: 0, failedProbes: 0, podsWritten: 0, podsGone: 0, outcomes: {}, health: {} },
      }),
    ).toBeUndefined();
    expect(parseSweepResumePoint({ pageToken: 'p1', pagesDone: -1, done: {} })).toBeUndefined();
  });

  const expired = (token?: string) =>
    new ApiException(
      410,
      'expired',
      JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', ...(token && { metadata: { continue: token } }) }),
      {},
    );

  test('an expired continue token goes on with the token sent with the 410', async () => {
    const pods = Array.from({ length: 5 }, (_, i) => pod(`app-${i}`));
    const { listPods } = pagesOf(pods, 2);
    const calls: Array<string | undefined> = [];
    const listing: ListSweepPods = async (ns, token) => {
      calls.push(token);
      if (token === 'p1') throw expired('p1-inconsistent');
      return listPods(ns, token === 'p1-inconsistent' ? 'p1' : token);
    };
    const summary = await sweepWatchdogs(
      { namespace: 'shop' },
      { listPods: listing, core: stubCore().core, prober: stubProber().prober, now: () => time },
    );
    expect(calls).toEqual([undefined, 'p1', 'p1-inconsistent', 'p2']);
    expect(summary).toMatchObject({ pages: 3, pods: 5, probedPods: 5 });
  });

  test('a resume point the apiserver no longer knows starts the sweep over', async () => {
    const pods = Array.from({ length: 5 }, (_, i) => pod(`app-${i}`));
    const { listPods } = pagesOf(pods, 2);
    const calls: Array<string | undefined> = [];
    let refused = false;
    const listing: ListSweepPods = async (ns, token) => {
      calls.push(token);
      if (token === 'p2' && !refused) {
        refused = true;
        throw expired();
      }
      return listPods(ns, token);
    };
    const done = {
      pods: 4,
      probedPods: 4,
      probes: 4,
      failedProbes: 0,
      podsWritten: 0,
      podsGone: 0,
      podsRefused: 0,
      podsRefusedSystemic: 0,
      podsBackingOff: 0,
      outcomes: { ok: 4 },
      health: { none: 4 },
    };
    const summary = await sweepWatchdogs(
      { namespace: 'shop' },
      {
        listPods: listing,
        core: stubCore().core,
        prober: stubProber().prober,
        now: () => time,
        resumeFrom: { pageToken: 'p2', pagesDone: 2, done, page: { pods: 0, probes: 0, probesDone: 0, writes: 0 } },
      },
    );
    expect(calls).toEqual(['p2', undefined, 'p1', 'p2']);
    // Counted afresh: the earlier attempt's counters are dropped with its snapshot.
    expect(summary).toMatchObject({ pages: 3, pods: 5, probedPods: 5, outcomes: { ok: 5 } });
  });

  test('a 410 without a token in a fresh sweep fails it (the retry starts over)', async () => {
    const pods = Array.from({ length: 5 }, (_, i) => pod(`app-${i}`));
    const { listPods } = pagesOf(pods, 2);
    const listing: ListSweepPods = async (ns, token) => {
      if (token === 'p1') throw expired();
      return listPods(ns, token);
    };
    await expect(
      sweepWatchdogs({ namespace: 'shop' }, { listPods: listing, core: stubCore().core, prober: stubProber().prober, now: () => time }),
    ).rejects.toMatchObject({ code: 410 });
  });

  test('other list errors fail the sweep, also from a prefetched page', async () => {
    const pods = Array.from({ length: 5 }, (_, i) => pod(`app-${i}`));
    const { listPods } = pagesOf(pods, 2);
    const listing: ListSweepPods = async (ns, token) => {
      if (token === 'p1') throw new ApiException(500, 'boom', '{}', {});
      return listPods(ns, token);
    };
    await expect(
      sweepWatchdogs({ namespace: 'shop' }, { listPods: listing, core: stubCore().core, prober: stubProber().prober, now: () => time }),
    ).rejects.toMatchObject({ code: 500 });
  });
});

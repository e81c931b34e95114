import { ApiException } from '@kubernetes/client-node';
import type { HttpProbeResult, HttpProber, ProbeTargetRequest } from '../../../activities/watchdog/http-prober';
import type { PodStatusApi } from '../../../activities/shared/pod-status';
import { podWriteRefusals } from '../../../activities/shared/pod-write-refusals';
import { sweepWatchdogs } from '../../../activities/watchdog/watchdog-sweep';
import type { SweepPod } from '../../../activities/watchdog/watchdog-sweep-pods';
import { PodBackoff } from '../../../domain/shared/pod-write-refusal';

// One pod's refused write, beside others that go through: recorded for that pod, the sweep goes on.

const time = new Date('2026-12-02T10:00:00Z');

const pod = (name: string, n: number): SweepPod => ({
  name,
  uid: `uid-${name}`,
  resourceVersion: '7',
  podIP: `10.0.0.${n}`,
  phase: 'Running',
  containerStatuses: [{ ready: true }],
  deleting: false,
  annotations: { 'probe.autocrane.io/http': 'POD_IP:8080/watchdog' },
});
const pods = [pod('app-1', 1), pod('big', 2), pod('app-3', 3)];

const failingProber: HttpProber = {
  probe: async () => {
    throw new Error('not used');
  },
  probeAll: async (targets: ReadonlyArray<ProbeTargetRequest>) =>
    new Map<string, HttpProbeResult>(
      targets.map(({ key, url }) => [
        key,
        { healthy: false, outcome: 'http-status', status: 500, durationMs: 1, message: `GET ${url} answered 500 ${'x'.repeat(300)}` },
      ]),
    ),
  close: () => undefined,
};

const status = (code: number, message: string) => new ApiException(code, `HTTP ${code}`, JSON.stringify({ kind: 'Status', message }), {});
const TOO_LONG = 'Pod "big" is invalid: metadata.annotations: Too long: must have at most 262144 bytes';

/** A pod API refusing writes to some pods: `refuse` says with what, given the pod and the patch's status value. */
function core(refuse: (name: string, value: string) => unknown) {
  const written: Record<string, string> = {};
  const api = {
    readNamespacedPod: jest.fn(async () => {
      throw new Error('no re-read expected');
    }),
    patchNamespacedPod: jest.fn(async (request: { name: string; body: { metadata: { annotations: Record<string, string> } } }) => {
      const value = request.body.metadata.annotations['status.autocrane.io/http'] ?? '';
      const error = refuse(request.name, value);
      if (error) throw error;
      written[request.name] = value;
      return {};
    }),
  } as unknown as PodStatusApi;
  return { api, written };
}

function run(api: PodStatusApi, refusals = podWriteRefusals('watchdog-sweep', { now: () => time })) {
  const logged: Array<Record<string, unknown>> = [];
  const summary = sweepWatchdogs(
    { namespace: 'shop' },
    { listPods: async () => ({ pods }), core: api, prober: failingProber, now: () => time, refusals, log: (fields) => logged.push(fields) },
  );
  return { summary, logged };
}

test('a status too long for the pod is written shortened', async () => {
  const { api, written } = core((name, value) => (name === 'big' && value.length > 120 ? status(422, TOO_LONG) : undefined));
  const { summary, logged } = run(api);
  expect(await summary).toMatchObject({ podsWritten: 3, podsRefused: 0 });
  expect(written.big).toMatch(/^error\/2026-12-02T10:00:00Z\/GET .{55,}…$/);
  expect(Array.from(written.big!.split('/').slice(2).join('/')).length).toBe(64);
  expect(written['app-1']!.length).toBeGreaterThan(300);
  expect(logged).toEqual([]);
});

test('a pod refused even shortened is recorded, the others written, and it backs off', async () => {
  let now = time;
  const refusals = podWriteRefusals('watchdog-sweep', {
    now: () => now,
    backoff: new PodBackoff({ baseMs: 60_000, maxMs: 600_000, maxEntries: 100 }),
  });
  const { api, written } = core((name) => (name === 'big' ? status(422, TOO_LONG) : undefined));
  const first = run(api, refusals);
  expect(await first.summary).toMatchObject({ podsWritten: 2, podsRefused: 1, podsBackingOff: 0, health: { error: 2, none: 1 } });
  expect(Object.keys(written).sort()).toEqual(['app-1', 'app-3']);
  expect(first.logged).toEqual([
    expect.objectContaining({
      loop: 'watchdog-sweep',
      namespace: 'shop',
      pod: 'big',
      uid: 'uid-big',
      reason: 'too-large',
      httpStatus: 422,
      attempts: 1,
      retryAt: '2026-12-02T10:01:00.000Z',
    }),
  ]);
  // The whole write and the shortened one: two patches for the pod, no more.
  expect((api.patchNamespacedPod as jest.Mock).mock.calls.filter(([r]) => r.name === 'big')).toHaveLength(2);

  // Within the backoff: not tried again, not logged again.
  (api.patchNamespacedPod as jest.Mock).mockClear();
  const second = run(api, refusals);
  expect(await second.summary).toMatchObject({ podsRefused: 0, podsBackingOff: 1 });
  expect((api.patchNamespacedPod as jest.Mock).mock.calls.filter(([r]) => r.name === 'big')).toHaveLength(0);
  expect(second.logged).toEqual([]);

  // After it: tried again, and the wait doubles.
  now = new Date(time.getTime() + 60_000);
  const third = run(api, refusals);
  expect(await third.summary).toMatchObject({ podsRefused: 1, podsBackingOff: 0 });
  expect(third.logged).toEqual([expect.objectContaining({ pod: 'big', attempts: 2, retryAt: '2026-12-02T10:03:00.000Z' })]);
});

test.each([
  ['a webhook denies every pod', () => status(400, 'admission webhook "deny.example.com" denied the request: frozen')],
  ["every pod's annotations are full", () => status(422, TOO_LONG)],
])('%s: each pod is recorded and the sweep completes', async (_name, error) => {
  const { api } = core(() => error());
  const { summary, logged } = run(api);
  expect(await summary).toMatchObject({ podsWritten: 0, podsRefused: 3 });
  expect(logged.map((l) => l.pod).sort()).toEqual(['app-1', 'app-3', 'big']);
});

test.each([
  ['the apiserver is unreachable', () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' })],
  ['the worker may not patch pods at all', () => status(403, 'pods "x" is forbidden: User "autocrane" cannot patch resource "pods"')],
])('%s: the sweep fails (and is retried)', async (_name, error) => {
  const { api } = core(() => error());
  await expect(run(api).summary).rejects.toThrow();
});

test('unreachable for one pod while the others are written: the sweep completes', async () => {
  const { api } = core((name) => (name === 'big' ? new Error('socket hang up') : undefined));
  const { summary, logged } = run(api);
  expect(await summary).toMatchObject({ podsWritten: 2, podsRefused: 1 });
  // Not the pod's fault: no backoff.
  expect(logged).toEqual([expect.objectContaining({ pod: 'big', reason: 'unavailable' })]);
  expect(logged[0]).not.toHaveProperty('attempts');
});

describe('judged over the whole sweep, not one page', () => {
  const WEBHOOK_FAILED =
    'Internal error occurred: failed calling webhook "one-pod.example.com": failed to call webhook: Post "https://127.0.0.1:1/validate?timeout=5s": dial tcp 127.0.0.1:1: connect: connection refused';
  /** Three pages of one pod each: the only write of page 1 is refused with `error`. */
  function paged(error: () => unknown) {
    const { api, written } = core((name) => (name === 'app-1' ? error() : undefined));
    const listed: Array<string | undefined> = [];
    const pages: Record<string, { pods: SweepPod[]; continueToken?: string }> = {
      first: { pods: [pods[0]!], continueToken: 'p2' },
      p2: { pods: [pods[1]!], continueToken: 'p3' },
      p3: { pods: [pods[2]!] },
    };
    const logged: Array<Record<string, unknown>> = [];
    const summary = sweepWatchdogs(
      { namespace: 'shop' },
      {
        listPods: async (_ns, token) => {
          listed.push(token);
          return pages[token ?? 'first']!;
        },
        core: api,
        prober: failingProber,
        now: () => time,
        refusals: podWriteRefusals('watchdog-sweep', { now: () => time }),
        log: (fields) => logged.push(fields),
      },
    );
    return { summary, written, listed, logged };
  }

  test.each([
    ['a webhook selecting that pod fails closed (500 failed calling webhook)', () => status(500, WEBHOOK_FAILED)],
    ['a 503', () => status(503, 'service unavailable')],
    ['a 429 from priority and fairness', () => status(429, 'Too many requests, please try again later.')],
    ['a timeout', () => Object.assign(new Error('request timed out after 10000 ms'), { code: 'ETIMEDOUT' })],
  ])('the only write of a page refused by %s: the later pages are still probed and written', async (_name, error) => {
    const { summary, written, listed } = paged(error);
    expect(await summary).toMatchObject({ pages: 3, podsWritten: 2, podsRefused: 1 });
    expect(listed).toEqual([undefined, 'p2', 'p3']);
    expect(Object.keys(written).sort()).toEqual(['app-3', 'big']);
  });

  test("a failing webhook is that pod's own refusal: recorded with its reason and backed off", async () => {
    const { summary, logged } = paged(() => status(500, WEBHOOK_FAILED));
    await summary;
    expect(logged).toEqual([expect.objectContaining({ pod: 'app-1', reason: 'webhook-failed', httpStatus: 500, attempts: 1 })]);
  });
});

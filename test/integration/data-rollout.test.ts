import { EventsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { createDataRolloutActivities, type DataRolloutActivities } from '../../activities/data/data-rollout';
import { dataRequestKey, dataStatusKey, parseDataRequest, type DataVersion } from '../../domain/data/data-contract';
import { dataMirrorName, type DataRelease } from '../../domain/data/data-rollout';
import {
  DATA_DEPS_ANNOTATION,
  DATA_LOCATION_ANNOTATION,
  DATA_SOURCES_ANNOTATION,
  WRITE_REFUSED_EVENT_REASON,
} from '../../domain/shared/keys';
import { ANNOTATIONS_TOTAL_LIMIT_BYTES } from '../../domain/shared/pod-write-refusal';
import { createDataPod } from '../support/data-deployers';
import { eventually, freshNamespace, isPodReady, sandboxClients, type KubeClients } from '../support/kube';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function release(n: number): DataRelease {
  const sha256 = String(n).repeat(64);
  const version: DataVersion = {
    id: `2024010${n}T000000Z-${sha256.slice(0, 12)}`,
    sha256,
    size: 10,
    createdAt: `2024-01-0${n}T00:00:00Z`,
    origin: { kind: 'local', ref: `v${n}` },
  };
  return { version, archiveUrl: `http://repo.test/v1/sources/cfg/versions/${version.id}/archive` };
}
const V1 = release(1);
const V2 = release(2);

const requestOf = (annotations: Record<string, string> | undefined) => {
  const text = annotations?.[dataRequestKey('cfg')];
  return text === undefined ? undefined : parseDataRequest(text);
};

/**
 * The pods' data deployers, played by the test: each pod's request is acknowledged by patching
 * its status annotation (or answered with an error for a version in `broken`).
 */
function playDeployers(k: KubeClients, namespace: string, broken: ReadonlySet<string>): { stop(): void } {
  let busy = false;
  async function deployOnce(): Promise<void> {
    for (const pod of (await k.core.listNamespacedPod({ namespace })).items) {
      const parsed = requestOf(pod.metadata?.annotations);
      if (!parsed?.ok) continue;
      const want = parsed.value;
      const status = pod.metadata?.annotations?.[dataStatusKey('cfg')];
      const current = status
        ? (JSON.parse(status) as { version?: string; sha256?: string; activatedAt?: string; error?: { version: string } })
        : {};
      const { error, ...active } = current;
      if (current.version === want.version && error === undefined) continue;
      if (error?.version === want.version) continue;
      const at = new Date().toISOString();
      // Like the real deployer: the previous version stays active on a failure, and a failure is cleared once superseded.
      const next =
        current.version === want.version
          ? active
          : broken.has(want.version)
            ? { ...active, error: { version: want.version, message: 'hash mismatch: got 0000', at } }
            : { version: want.version, sha256: want.sha256, activatedAt: at };
      await k.core.patchNamespacedPod(
        { namespace, name: pod.metadata!.name!, body: { metadata: { annotations: { [dataStatusKey('cfg')]: JSON.stringify(next) } } } },
        mergePatch,
      );
    }
  }

  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    deployOnce()
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, 100);
  return { stop: () => clearInterval(timer) };
}

/**
 * The data-rollout activities against the sandbox apiserver, with the pods' data deployers
 * played by a loop in the test that acknowledges each request by patching the status
 * annotation (or reports an error for a version the test breaks).
 */
describe('data rollout activities on the sandbox cluster', () => {
  let k: KubeClients;
  let namespace: string;
  let activities: DataRolloutActivities;
  const broken = new Set<string>();
  let deployers: { stop(): void } | undefined;

  const pods = async () => (await k.core.listNamespacedPod({ namespace })).items;

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'data-rollout');
    activities = createDataRolloutActivities(k.kc, { autoStart: true, stageShares: [1, '100%'], probationSeconds: 1, pollMs: 100 });
    for (let i = 1; i <= 4; i++) await createDataPod(k.core, namespace, `web-${i}`, '/data', ['cfg', 'other']);
    // A pod that vouches for cfg without consuming it, and one that has nothing to do with it.
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'checker', annotations: { [DATA_DEPS_ANNOTATION]: 'cfg' } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    await k.core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'bystander' }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    });
    await eventually(async () => expect((await pods()).filter(isPodReady)).toHaveLength(6), 60_000);
    deployers = playDeployers(k, namespace, broken);
  });

  afterAll(async () => {
    deployers?.stop();
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  const requests = async () =>
    Object.fromEntries(
      (await pods()).map((p) => [p.metadata!.name!, ((r) => (r?.ok ? r.value.version : undefined))(requestOf(p.metadata?.annotations))]),
    );

  test('tending asks every consumer (only) for the LKG; the requests carry version, hash and URL', async () => {
    const tended = await activities.tendDataConsumers({ namespace, source: 'cfg', lkg: V1, seconds: 0 });
    expect(tended.written).toBe(4);
    expect(await requests()).toEqual({
      'web-1': V1.version.id,
      'web-2': V1.version.id,
      'web-3': V1.version.id,
      'web-4': V1.version.id,
      checker: undefined,
      bystander: undefined,
    });
    const pod = await k.core.readNamespacedPod({ namespace, name: 'web-1' });
    expect(JSON.parse(pod.metadata!.annotations![dataRequestKey('cfg')]!)).toEqual({
      version: V1.version.id,
      sha256: V1.version.sha256,
      url: V1.archiveUrl,
    });
    await eventually(async () =>
      expect((await k.core.readNamespacedPod({ namespace, name: 'web-4' })).metadata?.annotations?.[dataStatusKey('cfg')]).toContain(
        V1.version.id,
      ),
    );
  });

  test('a stage moves its share and returns once each pod acknowledged, with the probation from the activation', async () => {
    const stageStartedAt = new Date().toISOString();
    const outcome = await activities.advanceDataStage({
      namespace,
      source: 'cfg',
      lkg: V1,
      target: V2,
      share: '50%',
      ackTimeoutSeconds: 30,
      maxErrorPods: 0,
      movedBefore: [],
      stageStartedAt,
    });
    if (outcome.outcome !== 'acknowledged') throw new Error(outcome.reason);
    expect(outcome).toMatchObject({ upgraded: ['web-1', 'web-2'], count: 2, consumers: 4, written: 2 });
    const statuses = await Promise.all(
      ['web-1', 'web-2'].map(
        async (name) =>
          JSON.parse((await k.core.readNamespacedPod({ namespace, name })).metadata!.annotations![dataStatusKey('cfg')]!) as {
            activatedAt: string;
          },
      ),
    );
    expect(outcome.probationStartedAt).toBe(
      statuses
        .map((s) => s.activatedAt)
        .sort()
        .at(-1),
    );
    expect(outcome.probationStartedAt >= stageStartedAt).toBe(true);
    expect((await requests())['web-3']).toBe(V1.version.id);

    const gate = await activities.watchDataGate({
      namespace,
      source: 'cfg',
      lkg: V1,
      target: V2,
      probationStartedAt: outcome.probationStartedAt,
      probationSeconds: 1,
      maxErrorPods: 0,
    });
    expect(gate).toMatchObject({ verdict: 'pass', watched: 3, erroring: [] });
  });

  test("the voucher's error watchdog fails the gate; the revert brings every consumer back to the LKG and waits for it", async () => {
    await k.core.patchNamespacedPod(
      {
        namespace,
        name: 'checker',
        body: { metadata: { annotations: { 'status.autocrane.io/e2e': `error/${new Date().toISOString()}/catalog lookups fail` } } },
      },
      mergePatch,
    );
    const gate = await activities.watchDataGate({
      namespace,
      source: 'cfg',
      lkg: V1,
      target: V2,
      probationStartedAt: new Date().toISOString(),
      probationSeconds: 60,
      maxErrorPods: 0,
    });
    expect(gate.verdict).toBe('fail');
    expect(gate.erroring).toEqual(['checker']);
    expect(gate.reason).toContain('checker (e2e)');

    const reverted = await activities.revertData({ namespace, source: 'cfg', lkg: V1, ackTimeoutSeconds: 30 });
    expect(reverted).toEqual({ consumers: 4, written: 2, unacknowledged: [], failed: [] });
    expect(Object.values(await requests()).filter((v) => v !== undefined)).toEqual(Array(4).fill(V1.version.id));
    await k.core.patchNamespacedPod(
      { namespace, name: 'checker', body: { metadata: { annotations: { 'status.autocrane.io/e2e': null } } } },
      mergePatch,
    );
  });

  test("a deployer's error for the version fails the stage with its message", async () => {
    broken.add(V2.version.id);
    const outcome = await activities.advanceDataStage({
      namespace,
      source: 'cfg',
      lkg: V1,
      target: V2,
      share: 1,
      ackTimeoutSeconds: 30,
      maxErrorPods: 0,
      movedBefore: [],
      stageStartedAt: new Date(Date.now() - 1000).toISOString(),
    });
    expect(outcome).toMatchObject({
      outcome: 'failed',
      upgraded: ['web-1'],
      reason: `the data deployer could not activate ${V2.version.id}: web-1: hash mismatch: got 0000`,
    });
    broken.clear();
    expect(await activities.revertData({ namespace, source: 'cfg', lkg: V1, ackTimeoutSeconds: 30 })).toMatchObject({
      unacknowledged: [],
      failed: [],
    });
  });

  test('the ConfigMap mirror is applied with our keys only and read back', async () => {
    await k.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: dataMirrorName('cfg') }, data: { note: 'kept' } } });
    await activities.mirrorDataVersions({ namespace, source: 'cfg', lkg: V1, latest: V2, rollout: `${V2.version.id} Baking stage 1/2` });
    const cm = await k.core.readNamespacedConfigMap({ namespace, name: dataMirrorName('cfg') });
    expect(cm.data).toMatchObject({
      note: 'kept',
      source: 'cfg',
      lkg: V1.version.id,
      latest: V2.version.id,
      rollout: `${V2.version.id} Baking stage 1/2`,
    });
    expect(await activities.readDataMirror({ namespace, source: 'cfg' })).toEqual({
      lkg: V1,
      latest: V2,
      rollout: `${V2.version.id} Baking stage 1/2`,
    });
    expect(await activities.readDataMirror({ namespace, source: 'nothing' })).toBeNull();
  });
});

/**
 * A consumer at the apiserver's 256 KiB annotation limit beside healthy ones, on the real
 * apiserver: its request is refused (422 metadata.annotations: Too long). That is that pod's
 * failure: recorded by an Event on it, the other consumers get their data, and the pod counts
 * as an erroring pod of its stage, in the acknowledgements and in the probation alike.
 */
describe('a data-rollout stage with a consumer at the annotation limit', () => {
  let k: KubeClients;
  let namespace: string;
  let activities: DataRolloutActivities;
  let deployers: { stop(): void } | undefined;
  const healthy = ['web-1', 'web-2', 'web-3'];

  const annotations = async (name: string) => (await k.core.readNamespacedPod({ namespace, name })).metadata?.annotations ?? {};
  const stage = (maxErrorPods: number) =>
    activities.advanceDataStage({
      namespace,
      source: 'cfg',
      lkg: V1,
      target: V2,
      share: '100%',
      ackTimeoutSeconds: 30,
      maxErrorPods,
      movedBefore: [],
      stageStartedAt: new Date().toISOString(),
    });

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'data-fullpod');
    activities = createDataRolloutActivities(k.kc, { autoStart: true, stageShares: ['100%'], probationSeconds: 1, pollMs: 100 });
    for (const name of healthy) await createDataPod(k.core, namespace, name, '/data', ['cfg']);
    // Declares the source like the others, with annotations that leave no room for a request.
    const declared = { [DATA_LOCATION_ANNOTATION]: '/data', [DATA_SOURCES_ANNOTATION]: 'cfg' };
    const used = Object.entries(declared).reduce((n, [key, value]) => n + key.length + value.length, 0) + 'example.com/filler'.length;
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: 'full',
          annotations: { ...declared, 'example.com/filler': 'x'.repeat(ANNOTATIONS_TOTAL_LIMIT_BYTES - used - 20) },
        },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    await eventually(async () => expect((await k.core.listNamespacedPod({ namespace })).items.filter(isPodReady)).toHaveLength(4), 60_000);
    deployers = playDeployers(k, namespace, new Set());
    // The full pod never acknowledges: a short wait for it.
    expect(await activities.revertData({ namespace, source: 'cfg', lkg: V1, ackTimeoutSeconds: 3 })).toMatchObject({
      unacknowledged: ['full'],
      failed: [],
    });
  });

  afterAll(async () => {
    deployers?.stop();
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test('with maxErrorPods 0 the stage fails because of that pod; the others got their request and data; an Event on the pod tells why', async () => {
    const outcome = await stage(0);
    expect(outcome.outcome).toBe('failed');
    expect(outcome.outcome === 'failed' && outcome.reason).toMatch(
      /1 erroring pod\(s\), more than maxErrorPods 0: the apiserver refused the request to full \(too-large, HTTP 422: .*Too long/,
    );
    for (const name of healthy) {
      await eventually(async () =>
        expect({ name, status: (await annotations(name))[dataStatusKey('cfg')] }).toEqual({
          name,
          status: expect.stringContaining(V2.version.id),
        }),
      );
    }
    expect((await annotations('full'))[dataRequestKey('cfg')]).toBeUndefined();
    const events = (await k.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace })).items.filter(
      (e) => e.reason === WRITE_REFUSED_EVENT_REASON,
    );
    expect(events.map((e) => [e.regarding?.name, e.type])).toEqual([['full', 'Warning']]);
    expect(events[0]!.note).toMatch(/^AutoCrane data-rollout could not write its cfg data request \(too-large, HTTP 422\)/);
    // The full pod never acknowledges: a short wait for it.
    expect(await activities.revertData({ namespace, source: 'cfg', lkg: V1, ackTimeoutSeconds: 3 })).toMatchObject({
      unacknowledged: ['full'],
      failed: [],
    });
  });

  test('within maxErrorPods the stage goes on without it, and its probation counts it: one watchdog error more fails the gate', async () => {
    const outcome = await stage(1);
    if (outcome.outcome !== 'acknowledged') throw new Error(outcome.reason);
    expect(outcome.refused?.map((r) => r.pod)).toEqual(['full']);
    const gate = (probationSeconds: number) =>
      activities.watchDataGate({
        namespace,
        source: 'cfg',
        lkg: V1,
        target: V2,
        probationStartedAt: new Date().toISOString(),
        probationSeconds,
        maxErrorPods: 1,
        ...(outcome.refused && { refused: outcome.refused }),
      });
    // Alone, the refused pod is within the limit: the others pass their probation.
    expect(await gate(1)).toMatchObject({ verdict: 'pass', erroring: ['full'] });
    // A watchdog error on a healthy pod is the second erroring pod: the silence of the refused one is no evidence.
    await k.core.patchNamespacedPod(
      {
        namespace,
        name: 'web-2',
        body: { metadata: { annotations: { 'status.autocrane.io/e2e': `error/${new Date().toISOString()}/lookups fail` } } },
      },
      mergePatch,
    );
    const failed = await gate(60);
    expect(failed.verdict).toBe('fail');
    expect(failed.erroring.sort()).toEqual(['full', 'web-2']);
    expect(failed.reason).toContain('full (data-request-refused)');
  });
});

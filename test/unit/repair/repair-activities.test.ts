import { ApiException, type V1Pod } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { Registry } from 'prom-client';
import { countPods, listFailingPods, type RepairKube } from '../../../activities/repair/repair';
import { classifyEvictionError, evictionEventName, evictionEventNote, evictPods } from '../../../activities/repair/repair-eviction';
import { createPodWriteRefusalMetrics, podWriteRefusals } from '../../../activities/shared/pod-write-refusals';
import { createRepairMetrics } from '../../../activities/repair/repair-metrics';
import type { EvictionOutcome, EvictionRequest } from '../../../domain/repair/repair-types';

const apiError = (code: number, status?: object) => new ApiException(code, `HTTP-Code: ${code}`, status ? JSON.stringify(status) : '', {});
const status = (code: number, reason: string, message: string, causes: object[] = []) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
  details: { causes },
});

describe('classifyEvictionError', () => {
  test('404: the pod is gone', () => {
    expect(classifyEvictionError(apiError(404, status(404, 'NotFound', 'pods "web-1" not found')))).toEqual({
      result: 'gone',
      httpStatus: 404,
      message: 'pod not found: pods "web-1" not found',
    });
  });

  test('409 from the UID precondition: the name belongs to a replacement, so ours is gone', () => {
    const error = apiError(
      409,
      status(
        409,
        'Conflict',
        'Operation cannot be fulfilled on Pod "db-0": Precondition failed: UID in precondition: 1111, UID in object meta: 2222',
      ),
    );
    expect(classifyEvictionError(error)).toMatchObject({ result: 'gone', httpStatus: 409 });
    expect(classifyEvictionError(error).message).toContain('UID in precondition: 1111');
  });

  test('another 409 is a failure, not a gone pod', () => {
    expect(classifyEvictionError(apiError(409, status(409, 'Conflict', 'the object has been modified')))).toMatchObject({
      result: 'failed',
      httpStatus: 409,
      message: 'apiserver answered HTTP 409: the object has been modified',
    });
  });

  test("429: refused, with the apiserver's message and the budget's reason", () => {
    const error = apiError(
      429,
      status(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", [
        { reason: 'DisruptionBudget', message: 'The disruption budget web needs 3 healthy pods and has 3 currently' },
      ]),
    );
    expect(classifyEvictionError(error)).toEqual({
      result: 'refused',
      httpStatus: 429,
      message:
        "Cannot evict pod as it would violate the pod's disruption budget.; The disruption budget web needs 3 healthy pods and has 3 currently",
    });
  });

  test.each([401, 403, 500, 503])('HTTP %i: failed, with the status and the message', (code) => {
    expect(classifyEvictionError(apiError(code, status(code, 'X', 'no way')))).toEqual({
      result: 'failed',
      httpStatus: code,
      message: `apiserver answered HTTP ${code}: no way`,
    });
  });

  test('a body that is no Status still gives a message; a network error has no HTTP status', () => {
    expect(classifyEvictionError(new ApiException(502, 'x', '<html>bad gateway</html>', {}))).toEqual({
      result: 'failed',
      httpStatus: 502,
      message: 'apiserver answered HTTP 502: HTTP 502',
    });
    expect(classifyEvictionError(new Error('connect ECONNREFUSED 127.0.0.1:6443'))).toEqual({
      result: 'failed',
      message: 'eviction request failed: connect ECONNREFUSED 127.0.0.1:6443',
    });
  });
});

describe('the eviction Event', () => {
  const request: EvictionRequest = {
    uid: 'AB12-cd',
    name: 'web-7d9f-x2x',
    workload: { kind: 'Deployment', name: 'web' },
    watchdogs: [
      { name: 'db', since: '2026-11-22T05:00:00Z', message: 'HTTP 500' },
      { name: 'cache', since: null, message: '' },
    ],
    failingSweeps: 3,
    failingSince: '2026-11-22T05:01:00Z',
  };

  test('its name is the pod name and UID: the same for every attempt, another for a replacement', () => {
    expect(evictionEventName('web-7d9f-x2x', 'AB12-cd')).toBe('web-7d9f-x2x.evicted.ab12-cd');
    expect(evictionEventName('web-7d9f-x2x', 'ef34')).not.toBe(evictionEventName('web-7d9f-x2x', 'AB12-cd'));
  });

  test('a long pod name is cut so the name stays a DNS subdomain of at most 253 characters', () => {
    const uid = '0e5d7a4c-1c7b-4c1e-9d7e-0123456789ab';
    const name = evictionEventName(`${'a'.repeat(206)}-b`.padEnd(253, 'c'), uid);
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
    expect(name.endsWith(`.evicted.${uid}`)).toBe(true);
  });

  test('its note says which watchdogs, since when, and after how many sweeps', () => {
    expect(evictionEventNote(request)).toBe(
      'Evicted by AutoCrane repair after 3 consecutive failing sweeps (failing since 2026-11-22T05:01:00Z): ' +
        'watchdogs db in error since 2026-11-22T05:00:00Z (HTTP 500); cache in error since an unknown time',
    );
  });

  test('its note is cut to the 1 KiB the apiserver accepts, on a character boundary', () => {
    const note = evictionEventNote({ ...request, watchdogs: [{ name: 'db', since: null, message: 'é'.repeat(2000) }] });
    expect(Buffer.byteLength(note)).toBeLessThanOrEqual(1024);
    expect(note.endsWith('…')).toBe(true);
    expect(note).not.toContain('\uFFFD');
  });
});

/** A stand-in apiserver for evictions: answers per pod name. */
function evictionKube(answers: Record<string, () => unknown>, eventAnswer: () => unknown = () => ({})) {
  const evictions: unknown[] = [];
  const events: unknown[] = [];
  const kube = {
    core: {
      createNamespacedPodEvictionWithHttpInfo: async (param: { name: string }) => {
        evictions.push(param);
        const answer = answers[param.name]!();
        if (answer instanceof Error) throw answer;
        return { httpStatusCode: 201, data: {} };
      },
    },
    events: {
      createNamespacedEvent: async (param: unknown) => {
        events.push(param);
        const answer = eventAnswer();
        if (answer instanceof Error) throw answer;
        return answer;
      },
    },
  } as unknown as RepairKube;
  return { kube, evictions, events };
}

const evictionRequest = (name: string): EvictionRequest => ({
  uid: `uid-${name}`,
  name,
  workload: { kind: 'Deployment', name: 'web' },
  watchdogs: [{ name: 'db', since: '2026-11-22T05:00:00Z', message: 'down' }],
  failingSweeps: 3,
  failingSince: '2026-11-22T05:01:00Z',
});

describe('evictPods', () => {
  const now = () => new Date('2026-11-22T06:00:00.123Z');
  const input = (...names: string[]) => ({
    namespace: 'shop',
    gracePeriodSeconds: 30,
    evictions: names.map(evictionRequest),
    heldBack: {},
  });

  test('each pod through the Eviction API with its grace period and UID precondition; one outcome per pod, in order', async () => {
    const { kube, evictions, events } = evictionKube({
      a: () => ({}),
      b: () => apiError(404, status(404, 'NotFound', 'pods "b" not found')),
      c: () => apiError(429, status(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.")),
      d: () => apiError(500, status(500, 'InternalError', 'etcd timeout')),
    });
    const outcomes = await evictPods(input('a', 'b', 'c', 'd'), kube, { now, reportingInstance: 'worker-1' });
    expect(outcomes.map((o) => [o.name, o.result, o.httpStatus])).toEqual([
      ['a', 'evicted', 201],
      ['b', 'gone', 404],
      ['c', 'refused', 429],
      ['d', 'failed', 500],
    ]);
    expect(outcomes[0]).toEqual({
      uid: 'uid-a',
      name: 'a',
      result: 'evicted',
      httpStatus: 201,
      message: 'evicted',
      at: '2026-11-22T06:00:00.123Z',
    });
    expect(evictions[0]).toEqual({
      name: 'a',
      namespace: 'shop',
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: 'a', namespace: 'shop' },
        deleteOptions: { gracePeriodSeconds: 30, preconditions: { uid: 'uid-a' } },
      },
      fieldManager: 'autocrane',
    });
    // An Event for the evicted pod only.
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      namespace: 'shop',
      fieldManager: 'autocrane',
      body: {
        metadata: { name: 'a.evicted.uid-a', namespace: 'shop' },
        reason: 'AutoCraneEvicted',
        type: 'Warning',
        action: 'Evict',
        reportingController: 'autocrane.io/repair',
        reportingInstance: 'worker-1',
        regarding: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'a', uid: 'uid-a' },
      },
    });
    expect(JSON.parse(JSON.stringify(events[0])).body.eventTime).toBe('2026-11-22T06:00:00.123000Z');
  });

  test('a refused eviction is recorded for its pod: log with pod and reason, metric, Event AutoCraneWriteRefused', async () => {
    const { kube, events } = evictionKube({
      a: () => ({}),
      c: () => apiError(429, status(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.")),
    });
    const registry = new Registry();
    const refusals = podWriteRefusals('repair', {
      events: kube.events,
      metrics: createPodWriteRefusalMetrics(registry),
      now,
      reportingInstance: 'worker-1',
    });
    const logged: Array<Record<string, unknown>> = [];
    const outcomes = await evictPods(input('a', 'c'), kube, {
      now,
      reportingInstance: 'worker-1',
      refusals,
      log: (fields) => logged.push(fields),
    });
    expect(outcomes.map((o) => o.result)).toEqual(['evicted', 'refused']);
    expect(logged).toEqual([
      expect.objectContaining({ loop: 'repair', namespace: 'shop', pod: 'c', uid: 'uid-c', reason: 'disruption-budget', httpStatus: 429 }),
    ]);
    expect(await registry.getSingleMetricAsString('autocrane_pod_write_refusals_total')).toContain(
      'autocrane_pod_write_refusals_total{loop="repair",namespace="shop",reason="disruption-budget"} 1',
    );
    expect(events.map((e) => (e as { body: { reason: string; regarding: { name: string } } }).body)).toEqual([
      expect.objectContaining({ reason: 'AutoCraneEvicted', regarding: expect.objectContaining({ name: 'a' }) }),
      expect.objectContaining({
        reason: 'AutoCraneWriteRefused',
        type: 'Warning',
        regarding: expect.objectContaining({ name: 'c', uid: 'uid-c' }),
        note: expect.stringMatching(/^AutoCrane repair could not evict the pod \(disruption-budget, HTTP 429\): Cannot evict pod/),
      }),
    ]);
  });

  test('an Event that exists already (a retried attempt) is success; another Event failure is noted, the eviction stands', async () => {
    const conflict = evictionKube({ a: () => ({}) }, () => apiError(409, status(409, 'AlreadyExists', 'exists')));
    expect((await evictPods(input('a'), conflict.kube, { now }))[0]).toMatchObject({ result: 'evicted', message: 'evicted' });

    const forbidden = evictionKube({ a: () => ({}) }, () => apiError(403, status(403, 'Forbidden', 'events is forbidden')));
    expect((await evictPods(input('a'), forbidden.kube, { now }))[0]).toMatchObject({
      result: 'evicted',
      message: 'evicted; the Event was not recorded: HTTP 403: events is forbidden',
    });
  });

  test('at most a few evictions are in flight at once', async () => {
    let inFlight = 0;
    let most = 0;
    const names = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const answers = Object.fromEntries(names.map((n) => [n, () => ({})]));
    const { kube } = evictionKube(answers);
    const evict = kube.core.createNamespacedPodEvictionWithHttpInfo.bind(kube.core);
    (kube.core as { createNamespacedPodEvictionWithHttpInfo: unknown }).createNamespacedPodEvictionWithHttpInfo = async (p: never) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return evict(p);
    };
    const outcomes = await evictPods(input(...names), kube, { now });
    expect(outcomes.map((o) => o.name)).toEqual(names);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
  });

  test('when every request is refused for credentials or permission, the activity fails, not retryable', async () => {
    const denied = () => apiError(403, status(403, 'Forbidden', 'pods "x" is forbidden: cannot create pods/eviction'));
    const { kube } = evictionKube({ a: denied, b: denied });
    const failure = await evictPods(input('a', 'b'), kube, { now }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
    expect((failure as ApplicationFailure).message).toContain('evict 2 pod(s) in namespace shop: apiserver answered HTTP 403');
  });

  test('an unreachable apiserver for every request fails the activity, retryable', async () => {
    const { kube } = evictionKube({ a: () => new Error('connect ECONNREFUSED 127.0.0.1:6443') });
    const failure = await evictPods(input('a'), kube, { now }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
  });

  test('a 403 for one pod among others that succeed is an outcome, not a failure of the activity', async () => {
    const { kube } = evictionKube({ a: () => ({}), b: () => apiError(403, status(403, 'Forbidden', 'denied by admission webhook')) });
    const outcomes = await evictPods(input('a', 'b'), kube, { now });
    expect(outcomes.map((o) => o.result)).toEqual(['evicted', 'failed']);
  });

  test('nothing to evict: no request, no outcome', async () => {
    const { kube, evictions } = evictionKube({});
    await expect(evictPods(input(), kube, { now })).resolves.toEqual([]);
    expect(evictions).toHaveLength(0);
  });
});

describe('repair metrics', () => {
  const outcome = (result: EvictionOutcome['result']): EvictionOutcome => ({ uid: 'u', name: 'n', result, message: '', at: '' });

  test('evictions by result; holds by reason, with 429s as pdb and failures as error', async () => {
    const registry = new Registry();
    const metrics = createRepairMetrics(registry);
    metrics.record('shop', [outcome('evicted'), outcome('refused'), outcome('failed'), outcome('gone'), outcome('evicted')], {
      'workload-limit': 2,
      rollout: 1,
      paused: 0,
    });
    const text = await registry.metrics();
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="evicted"} 2');
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="refused"} 1');
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="gone"} 1');
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="failed"} 1');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="pdb"} 1');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="error"} 1');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="workload-limit"} 2');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="rollout"} 1');
    expect(text).not.toContain('reason="paused"');
  });

  test('created once per registry: a second call returns the same metrics instead of throwing', () => {
    const registry = new Registry();
    expect(createRepairMetrics(registry)).toBe(createRepairMetrics(registry));
    expect(createRepairMetrics(new Registry())).not.toBe(createRepairMetrics(registry));
  });
});

describe('listFailingPods against a stand-in apiserver', () => {
  const pod = (
    name: string,
    owner: { kind: string; name: string; apiVersion?: string } | null,
    extra: Partial<V1Pod['metadata']> = {},
  ): V1Pod => ({
    metadata: {
      name,
      uid: `uid-${name}`,
      labels: { app: 'web', 'status.autocrane.io/health': 'error' },
      annotations: {
        'status.autocrane.io/db': 'error/2026-11-22T05:00:00Z/HTTP 500',
        'status.autocrane.io/cpu': 'info/2026-11-22T05:00:00Z/ok',
      },
      ownerReferences: owner
        ? [{ apiVersion: owner.apiVersion ?? 'apps/v1', kind: owner.kind, name: owner.name, uid: `uid-${owner.name}`, controller: true }]
        : undefined,
      ...extra,
    },
  });

  const objects: Record<string, object> = {
    'ReplicaSet/web-1': {
      kind: 'ReplicaSet',
      metadata: {
        uid: 'uid-web-1',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true }],
      },
      spec: { replicas: 6 },
    },
    'Deployment/web': {
      kind: 'Deployment',
      metadata: { uid: 'uid-web', annotations: { 'rollout.autocrane.io/id': 'r-42' } },
      spec: { replicas: 6 },
    },
    'ReplicaSet/orphan-rs': { kind: 'ReplicaSet', metadata: { uid: 'uid-orphan-rs' }, spec: { replicas: 2 } },
    'DaemonSet/agent': { kind: 'DaemonSet', metadata: { uid: 'uid-agent' }, spec: {}, status: { desiredNumberScheduled: 3 } },
    'StatefulSet/db': { kind: 'StatefulSet', metadata: { uid: 'uid-other' }, spec: { replicas: 3 } },
  };

  function listKube(pods: V1Pod[], podTotal: { items: number; remaining?: number; pages?: number }) {
    const reads: string[] = [];
    const kube = {
      core: {
        listNamespacedPod: async (p: { labelSelector?: string; limit?: number; _continue?: string }) => {
          if (p.labelSelector) return { items: pods, metadata: {} };
          if (p.limit === 1) {
            const more = podTotal.pages !== undefined || podTotal.remaining !== undefined;
            return {
              items: Array.from({ length: Math.min(1, podTotal.items) }, () => ({})),
              metadata: { _continue: more ? 'page-2' : undefined, remainingItemCount: podTotal.remaining },
            };
          }
          return { items: Array.from({ length: podTotal.items - 1 }, () => ({})), metadata: {} };
        },
      },
      policy: {
        listNamespacedPodDisruptionBudget: async () => ({
          items: [
            { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } } } },
            { metadata: { name: 'all' }, spec: { selector: {} } },
            { metadata: { name: 'none' }, spec: {} },
            { metadata: { name: 'other' }, spec: { selector: { matchLabels: { app: 'api' } } } },
          ],
        }),
      },
      objects: {
        read: async (spec: { kind: string; metadata: { name: string } }) => {
          const key = `${spec.kind}/${spec.metadata.name}`;
          reads.push(key);
          const object = objects[key];
          if (!object) throw apiError(404, status(404, 'NotFound', `${key} not found`));
          return object;
        },
      },
    } as unknown as RepairKube;
    return { kube, reads };
  }

  test('workloads resolved through ReplicaSets, read once per sweep; PDBs, rollout, watchdogs; terminating pods skipped', async () => {
    const { kube, reads } = listKube(
      [
        pod('web-1-a', { kind: 'ReplicaSet', name: 'web-1' }),
        pod('web-1-b', { kind: 'ReplicaSet', name: 'web-1' }),
        pod('web-1-c', { kind: 'ReplicaSet', name: 'web-1' }, { deletionTimestamp: new Date() }),
        pod('orphan-rs-a', { kind: 'ReplicaSet', name: 'orphan-rs' }),
        pod('agent-a', { kind: 'DaemonSet', name: 'agent' }),
        pod('db-0', { kind: 'StatefulSet', name: 'db' }),
        pod('bare', null),
        pod('lost-a', { kind: 'ReplicaSet', name: 'lost' }),
      ],
      { items: 40, remaining: 39 },
    );
    const observation = await listFailingPods('shop', kube, { now: () => new Date('2026-11-22T06:00:00Z') });
    expect(observation.namespace).toBe('shop');
    expect(observation.observedAt).toBe('2026-11-22T06:00:00.000Z');
    expect(observation.podCount).toBe(40);
    const byName = Object.fromEntries(observation.failing.map((f) => [f.name, f]));
    expect(Object.keys(byName)).toEqual(['web-1-a', 'web-1-b', 'orphan-rs-a', 'agent-a', 'db-0', 'bare', 'lost-a']);
    expect(byName['web-1-a']).toEqual({
      uid: 'uid-web-1-a',
      name: 'web-1-a',
      workload: { kind: 'Deployment', name: 'web' },
      workloadReplicas: 6,
      pdbs: ['all', 'web'],
      rolloutId: 'r-42',
      errorWatchdogs: [{ name: 'db', since: '2026-11-22T05:00:00Z', message: 'HTTP 500' }],
    });
    expect(byName['orphan-rs-a']).toMatchObject({
      workload: { kind: 'ReplicaSet', name: 'orphan-rs' },
      workloadReplicas: 2,
      rolloutId: null,
    });
    expect(byName['agent-a']).toMatchObject({ workload: { kind: 'DaemonSet', name: 'agent' }, workloadReplicas: 3 });
    // A StatefulSet recreated under the same name (another UID) will not replace this pod.
    expect(byName['db-0']).toMatchObject({ workload: null, workloadReplicas: 0 });
    expect(byName['bare']).toMatchObject({ workload: null, workloadReplicas: 0, rolloutId: null, pdbs: ['all', 'web'] });
    expect(byName['lost-a']).toMatchObject({ workload: null });
    expect(reads.filter((r) => r === 'ReplicaSet/web-1')).toHaveLength(1);
    expect(reads.filter((r) => r === 'Deployment/web')).toHaveLength(1);
  });

  test('a garbled time keeps the watchdog with since null; warnings are not error watchdogs', async () => {
    const { kube } = listKube(
      [
        pod('bare', null, {
          annotations: { 'status.autocrane.io/db': 'Error/yesterday', 'status.autocrane.io/x': 'warning/2026-11-22T05:00:00Z/slow' },
        }),
      ],
      { items: 1 },
    );
    const [failing] = (await listFailingPods('shop', kube)).failing;
    expect(failing!.errorWatchdogs).toEqual([{ name: 'db', since: null, message: 'yesterday' }]);
  });

  test('permission to read an owner refused: the sweep fails with what it tried to read', async () => {
    const { kube } = listKube([pod('x', { kind: 'Job', name: 'batch', apiVersion: 'batch/v1' })], { items: 1 });
    kube.objects.read = async () => {
      throw apiError(403, status(403, 'Forbidden', 'jobs.batch "batch" is forbidden'));
    };
    await expect(listFailingPods('shop', kube)).rejects.toThrow(
      "read Job shop/batch (batch/v1), a pod's controller: apiserver answered HTTP 403",
    );
  });

  test('podCount without remainingItemCount counts page by page; a namespace of one pod needs one request', async () => {
    expect(await countPods(listKube([], { items: 700, pages: 2 }).kube.core, 'shop')).toBe(700);
    expect(await countPods(listKube([], { items: 1 }).kube.core, 'shop')).toBe(1);
    expect(await countPods(listKube([], { items: 0 }).kube.core, 'shop')).toBe(0);
  });

  test('no failing pod: no PodDisruptionBudget list, no owner read', async () => {
    const { kube, reads } = listKube([], { items: 5, remaining: 4 });
    const pdbs = jest.spyOn(kube.policy, 'listNamespacedPodDisruptionBudget');
    expect(await listFailingPods('shop', kube)).toMatchObject({ podCount: 5, failing: [] });
    expect(pdbs).not.toHaveBeenCalled();
    expect(reads).toEqual([]);
  });
});

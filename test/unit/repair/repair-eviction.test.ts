import { ApiException } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { Registry } from 'prom-client';
import type { RepairKube } from '../../../activities/repair/repair-kube';
import { classifyEvictionError, evictionEventName, evictionEventNote, evictPods } from '../../../activities/repair/repair-eviction';
import { createPodWriteRefusalMetrics, podWriteRefusals } from '../../../activities/shared/pod-write-refusals';
import type { EvictionRequest } from '../../../domain/repair/repair-types';
import { apiError, status } from '../../support/kube-api-errors';

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

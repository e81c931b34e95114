import type { V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../../api/app';
import { createAuthorizer, type ClusterAuth, type ReviewedUser } from '../../../api/auth';
import type { PodAccessor } from '../../../api/watchdog/watchdogs';
import { HEALTH_LABEL } from '../../../domain/shared/keys';
import { createMetricsRegistry } from '../../../platform/metrics';

const EMBEDDED = 'embedded-secret-token';
const NOW = new Date('2026-11-22T05:06:07.890Z');

/** An in-memory pod store with the two calls the API makes; patches are JSON merge patches of metadata. */
function fakePods(initial: Record<string, V1Pod>) {
  const pods = new Map(Object.entries(initial).map(([key, pod]) => [key, structuredClone(pod)]));
  const notFound = () => Object.assign(new Error('not found'), { code: 404 });
  const patches: unknown[] = [];
  const accessor = {
    readNamespacedPod: ({ namespace, name }: { namespace: string; name: string }) => {
      const pod = pods.get(`${namespace}/${name}`);
      return pod ? Promise.resolve(structuredClone(pod)) : Promise.reject(notFound());
    },
    patchNamespacedPod: ({
      namespace,
      name,
      body,
    }: {
      namespace: string;
      name: string;
      body: { metadata: Record<string, Record<string, string | null>> };
    }) => {
      const pod = pods.get(`${namespace}/${name}`);
      if (!pod) return Promise.reject(notFound());
      patches.push(body);
      const metadata = (pod.metadata ??= {});
      for (const field of ['annotations', 'labels'] as const) {
        const target = (metadata[field] ??= {});
        for (const [k, v] of Object.entries(body.metadata[field] ?? {})) {
          if (v === null) delete target[k];
          else target[k] = v;
        }
      }
      metadata.resourceVersion = String(Number(metadata.resourceVersion ?? '1') + 1);
      return Promise.resolve(structuredClone(pod));
    },
  };
  return { accessor: accessor as unknown as PodAccessor, pods, patches };
}

const admin: ReviewedUser = { username: 'admin', groups: ['system:masters'], extra: {} };
const reader: ReviewedUser = { username: 'reader', groups: [], extra: {} };
const nobody: ReviewedUser = { username: 'nobody', groups: [], extra: {} };
const podSa: ReviewedUser = {
  username: 'system:serviceaccount:shop:web',
  uid: 'u-1',
  groups: ['system:serviceaccounts'],
  extra: { 'authentication.kubernetes.io/pod-name': ['web-0'], 'authentication.kubernetes.io/pod-uid': ['p-1'] },
};

function setup(options: { clusterDown?: boolean } = {}) {
  const store = fakePods({
    'shop/web-0': {
      metadata: {
        name: 'web-0',
        namespace: 'shop',
        resourceVersion: '1',
        annotations: { 'team.example.com/owner': 'payments', 'status.autocrane.io/disk': 'warning/2026-11-22T05:00:00Z/80% full' },
        labels: { app: 'web', [HEALTH_LABEL]: 'warning' },
      },
    },
    'shop/web-1': { metadata: { name: 'web-1', namespace: 'shop', resourceVersion: '1' } },
  });
  const users: Record<string, ReviewedUser> = { 'admin-token': admin, 'reader-token': reader, 'nobody-token': nobody, 'pod-token': podSa };
  const sars: Array<{ user: string; verb: string; namespace: string }> = [];
  const cluster: ClusterAuth = {
    reviewToken: (token) => (options.clusterDown ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve(users[token] ?? null)),
    canAccess: (user, { verb, namespace, resource }) => {
      expect(resource).toBe('pods');
      sars.push({ user: user.username, verb, namespace });
      return Promise.resolve(user === admin || (user === reader && verb === 'get'));
    },
  };
  const app = createApp({
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry(),
    checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    watchdogs: { pods: store.accessor, authorizer: createAuthorizer({ cluster, embeddedToken: EMBEDDED }), now: () => NOW },
  });
  return { app, store, sars };
}

const putPath = (name = 'latency', ns = 'shop', pod = 'web-0') => `/v1/namespaces/${ns}/pods/${pod}/watchdogs/${name}`;
const getPath = (ns = 'shop', pod = 'web-0') => `/v1/namespaces/${ns}/pods/${pod}/watchdogs`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('watchdog API: PUT', () => {
  it('writes the status with the server time, keeps foreign annotations, recomputes the label and answers the watchdog', async () => {
    const { app, store } = setup();
    const res = await request(app).put(putPath()).set(bearer('admin-token')).send({ level: 'error', message: 'p99 is 2s / too slow' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      namespace: 'shop',
      pod: 'web-0',
      watchdog: { name: 'latency', level: 'error', time: '2026-11-22T05:06:07Z', message: 'p99 is 2s / too slow' },
      aggregate: 'error',
    });
    const pod = store.pods.get('shop/web-0')!;
    expect(pod.metadata?.annotations).toEqual({
      'team.example.com/owner': 'payments',
      'status.autocrane.io/disk': 'warning/2026-11-22T05:00:00Z/80% full',
      'status.autocrane.io/latency': 'error/2026-11-22T05:06:07Z/p99 is 2s / too slow',
    });
    expect(pod.metadata?.labels).toEqual({ app: 'web', [HEALTH_LABEL]: 'error' });
    // Only our key and the label are named, guarded by resourceVersion.
    expect(store.patches).toEqual([
      {
        metadata: {
          resourceVersion: '1',
          annotations: { 'status.autocrane.io/latency': 'error/2026-11-22T05:06:07Z/p99 is 2s / too slow' },
          labels: { [HEALTH_LABEL]: 'error' },
        },
      },
    ]);
  });

  it('accepts a level in any case and a missing message', async () => {
    const { app } = setup();
    const res = await request(app)
      .put(putPath('ready', 'shop', 'web-1'))
      .set(bearer(EMBEDDED))
      .send({ level: 'Info' });
    expect(res.status).toBe(200);
    expect(res.body.watchdog).toEqual({ name: 'ready', level: 'info', time: '2026-11-22T05:06:07Z', message: '' });
    expect(res.body.aggregate).toBe('info');
  });

  it.each([
    ['a bad level', putPath(), { level: 'fatal', message: 'x' }, 'level', /expected one of info, warning, error/],
    ['a missing level', putPath(), { message: 'x' }, 'level', /required/],
    ['a non-string message', putPath(), { level: 'info', message: 42 }, 'message', /expected a string/],
    ['a long message', putPath(), { level: 'info', message: 'x'.repeat(1025) }, 'message', /at most 1024/],
    ['a message with a newline', putPath(), { level: 'info', message: 'a\nb' }, 'message', /control characters/],
    ['an unknown field', putPath(), { level: 'info', colour: 'red' }, 'colour', /unknown field/],
    ['a bad name', putPath('-bad-'), { level: 'info' }, 'name', /watchdog name '-bad-'/],
    ['a bad namespace', putPath('ok', 'Shop'), { level: 'info' }, 'namespace', /not a namespace name/],
    ['a bad pod name', putPath('ok', 'shop', 'Web_0'), { level: 'info' }, 'pod', /not a pod name/],
  ])('answers 400 naming the field for %s', async (_what, path, body, field, message) => {
    const { app, store } = setup();
    const res = await request(app).put(path).set(bearer('admin-token')).send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toContain(field);
    expect(res.body.details).toEqual([{ field, message: expect.stringMatching(message) }]);
    expect(store.patches).toEqual([]);
  });

  it('answers 400 for a missing body and for JSON that is not an object', async () => {
    const { app } = setup();
    const missing = await request(app).put(putPath()).set(bearer('admin-token'));
    expect(missing.status).toBe(400);
    expect(missing.body.details).toEqual([{ field: 'body', message: expect.stringMatching(/JSON object/) }]);
    const bad = await request(app).put(putPath()).set(bearer('admin-token')).set('Content-Type', 'application/json').send('{"level":');
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe('body');
  });

  it('answers 413 for a body over 16 KiB', async () => {
    const { app } = setup();
    const res = await request(app)
      .put(putPath())
      .set(bearer('admin-token'))
      .send({ level: 'info', message: 'x'.repeat(20_000) });
    expect(res.status).toBe(413);
    expect(res.body.details[0].field).toBe('body');
  });

  it('answers 401 without credentials, with a bad scheme, and with a token the cluster rejects', async () => {
    const { app } = setup();
    const none = await request(app).put(putPath()).send({ level: 'info' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.body.error).toMatch(/no credentials/);
    expect((await request(app).put(putPath()).set('Authorization', 'Basic YTpi').send({ level: 'info' })).status).toBe(401);
    expect((await request(app).put(putPath()).set(bearer('forged')).send({ level: 'info' })).status).toBe(401);
  });

  it('answers 403 when the caller may not patch pods there, without touching the pod', async () => {
    const { app, store, sars } = setup();
    for (const token of ['nobody-token', 'reader-token']) {
      const res = await request(app).put(putPath()).set(bearer(token)).send({ level: 'error' });
      expect(res.status).toBe(403);
      expect(res.body.error).toMatch(/not allowed to write watchdogs of pod shop\/web-0/);
    }
    expect(sars).toEqual([
      { user: 'nobody', verb: 'patch', namespace: 'shop' },
      { user: 'reader', verb: 'patch', namespace: 'shop' },
    ]);
    expect(store.patches).toEqual([]);
  });

  it("lets a pod's own service-account token write that pod only", async () => {
    const { app, sars } = setup();
    const own = await request(app).put(putPath()).set(bearer('pod-token')).send({ level: 'warning', message: 'warming up' });
    expect(own.status).toBe(200);
    expect(sars).toEqual([]); // no SubjectAccessReview needed
    const other = await request(app)
      .put(putPath('latency', 'shop', 'web-1'))
      .set(bearer('pod-token'))
      .send({ level: 'info' });
    expect(other.status).toBe(403);
    const otherNamespace = await request(app)
      .put(putPath('latency', 'other', 'web-0'))
      .set(bearer('pod-token'))
      .send({ level: 'info' });
    expect(otherNamespace.status).toBe(403);
  });

  it('answers 404 for an unknown pod (to an allowed caller)', async () => {
    const { app } = setup();
    const res = await request(app)
      .put(putPath('latency', 'shop', 'web-9'))
      .set(bearer('admin-token'))
      .send({ level: 'info' });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'pod shop/web-9 not found', details: [] });
  });

  it('answers 503 when the cluster cannot review the token', async () => {
    const { app } = setup({ clusterDown: true });
    const res = await request(app).put(putPath()).set(bearer('admin-token')).send({ level: 'info' });
    expect(res.status).toBe(503);
    expect(res.body.error).toMatch(/TokenReview/);
    // The embedded token needs no cluster call.
    expect((await request(app).put(putPath()).set(bearer(EMBEDDED)).send({ level: 'info' })).status).toBe(200);
  });
});

describe('watchdog API: GET', () => {
  it('lists the watchdogs, sorted, with RFC 3339 times and the aggregate', async () => {
    const { app } = setup();
    await request(app).put(putPath('a-first')).set(bearer(EMBEDDED)).send({ level: 'info', message: 'fine' });
    const res = await request(app).get(getPath()).set(bearer('reader-token'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      namespace: 'shop',
      pod: 'web-0',
      watchdogs: [
        { name: 'a-first', level: 'info', time: '2026-11-22T05:06:07Z', message: 'fine' },
        { name: 'disk', level: 'warning', time: '2026-11-22T05:00:00Z', message: '80% full' },
      ],
      aggregate: 'warning',
    });
  });

  it('lists an empty pod with aggregate unknown', async () => {
    const { app } = setup();
    const res = await request(app).get(getPath('shop', 'web-1')).set(bearer('admin-token'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ namespace: 'shop', pod: 'web-1', watchdogs: [], aggregate: 'unknown' });
  });

  it('answers 401, 403 (no get on pods, even for the pod itself), 404 and 400', async () => {
    const { app } = setup();
    expect((await request(app).get(getPath())).status).toBe(401);
    expect((await request(app).get(getPath()).set(bearer('nobody-token'))).status).toBe(403);
    expect((await request(app).get(getPath('shop', 'nope')).set(bearer('reader-token'))).status).toBe(404);
    const bad = await request(app).get(getPath('-x-')).set(bearer('reader-token'));
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe('namespace');
  });
});

describe('createApp without watchdog dependencies', () => {
  it('does not serve the watchdog routes', async () => {
    const app = createApp({
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry(),
      checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    });
    expect((await request(app).get(getPath())).status).toBe(404);
  });
});

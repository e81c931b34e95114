import { ApiException, type V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import request from 'supertest';
import { listRoutes } from '../../api/allowed-methods';
import { createApp } from '../../api/app';
import { createAuthorizer, type ClusterAuth } from '../../api/auth';
import type { DataRolloutWorkflows } from '../../api/data/data-rollout-workflows';
import type { RepairControl } from '../../api/repair/repair';
import type { RolloutWorkflows } from '../../api/rollout/rollout-workflows';
import type { WorkloadReader } from '../../api/rollout/rollout-workloads';
import type { PodAccessor } from '../../api/watchdog/watchdogs';
import { createMetricsRegistry } from '../../platform/metrics';

const TOKEN = 'embedded-token';
const bearer = { Authorization: `Bearer ${TOKEN}` };
const unused = () => Promise.reject(new Error('not called in these tests'));

const tooLong = JSON.stringify({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message: 'Pod "web-0" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes',
  reason: 'Invalid',
  // As the apiserver sends it: the same cause more than once.
  details: {
    name: 'web-0',
    kind: 'Pod',
    causes: Array.from({ length: 3 }, () => ({
      reason: 'FieldValueTooLong',
      message: 'Too long: may not be more than 262144 bytes',
      field: 'metadata.annotations',
    })),
  },
  code: 422,
});

/** Every router, with stubs: these tests are about the HTTP layer, not what the routes do. */
function setup(patchFailure?: unknown) {
  const pod: V1Pod = { metadata: { name: 'web-0', namespace: 'shop', resourceVersion: '1', annotations: {} } };
  const pods = {
    readNamespacedPod: () => Promise.resolve(structuredClone(pod)),
    patchNamespacedPod: () => (patchFailure === undefined ? Promise.resolve(structuredClone(pod)) : Promise.reject(patchFailure)),
  } as unknown as PodAccessor;
  const cluster: ClusterAuth = { reviewToken: () => Promise.resolve(null), canAccess: () => Promise.resolve(false) };
  const authorizer = createAuthorizer({ cluster, embeddedToken: TOKEN });
  const repairControl: RepairControl = { state: unused, pause: unused, resume: unused };
  const dataRolloutWorkflows: DataRolloutWorkflows = { status: unused, start: unused, control: unused };
  const rolloutWorkflows = { find: () => Promise.resolve(null) } as unknown as RolloutWorkflows;
  const workloads = { read: unused } as unknown as WorkloadReader;
  return createApp({
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry(),
    checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    watchdogs: { pods, authorizer },
    repair: { control: repairControl, authorizer },
    dataRollouts: { workflows: dataRolloutWorkflows, authorizer },
    rollouts: { workflows: rolloutWorkflows, workloads, authorizer },
  });
}

describe('HTTP conventions', () => {
  it.each([
    ['delete', '/v1/namespaces/shop/pods/web-0/watchdogs/disk', 'PUT'],
    ['post', '/v1/namespaces/shop/pods/web-0/watchdogs', 'GET, HEAD'],
    ['put', '/v1/namespaces/shop/repair', 'GET, HEAD'],
    ['get', '/v1/namespaces/shop/repair/pause', 'POST'],
    ['delete', '/v1/namespaces/shop/data/catalog', 'GET, HEAD'],
    ['get', '/v1/namespaces/shop/data/catalog/start', 'POST'],
    ['patch', '/v1/rollouts', 'GET, HEAD, POST'],
    ['delete', '/v1/rollouts/abc123', 'GET, HEAD'],
    ['get', '/v1/rollouts/abc123/pause', 'POST'],
    ['post', '/healthz', 'GET, HEAD'],
    ['put', '/openapi.json', 'GET, HEAD'],
    ['options', '/v1/rollouts', 'GET, HEAD, POST'],
  ] as const)('%s %s is 405 with Allow: %s', async (method, path, allow) => {
    const res = await request(setup())[method](path).set(bearer);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.body).toEqual({
      error: `${method.toUpperCase()} is not allowed on ${path}; allowed: ${allow}`,
      details: [{ field: 'method', message: `expected one of ${allow}` }],
    });
  });

  it('an unknown path is still 404, whatever the method', async () => {
    const app = setup();
    expect((await request(app).delete('/v1/nothing')).status).toBe(404);
    expect((await request(app).options('/v1/nothing')).status).toBe(404);
  });

  it.each([
    ['put', '/v1/namespaces/shop/pods/web-0/watchdogs/disk'],
    ['post', '/v1/namespaces/shop/repair/pause'],
    ['post', '/v1/namespaces/shop/data/catalog/start'],
    ['post', '/v1/namespaces/shop/data/catalog/pause'],
    ['post', '/v1/rollouts'],
    ['post', '/v1/rollouts/abc123/abort'],
  ] as const)('%s %s answers 415 for a body that is not JSON', async (method, path) => {
    const app = setup();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const res = await request(app)[method](path).set(bearer).set('Content-Type', type).send('level=info');
      expect(res.status).toBe(415);
      expect(res.body).toEqual({
        error: `the body must be JSON (Content-Type: application/json), not ${type}`,
        details: [{ field: 'Content-Type', message: 'expected application/json' }],
      });
    }
    // A JSON type with parameters, or a +json type, is JSON.
    const jsonCall = request(app)[method](path);
    const json = await jsonCall.set(bearer).set('Content-Type', 'application/merge-patch+json; charset=utf-8').send('{"x":');
    expect(json.status).toBe(400);
  });

  it('a body-less control with any Content-Type is not refused as 415', async () => {
    const res = await request(setup()).post('/v1/rollouts/abc123/abort').set(bearer).set('Content-Type', 'text/plain');
    expect(res.status).toBe(404);
  });

  it('spells nested field paths as stages[0].pods in every error', async () => {
    const app = setup();
    const data = await request(app)
      .post('/v1/namespaces/shop/data/catalog/start')
      .set(bearer)
      .send({ stages: [{ pods: '0%', probationSeconds: 1, colour: 'red' }] });
    expect(data.status).toBe(400);
    expect(data.body.details.map((d: { field: string }) => d.field).sort()).toEqual(['stages[0].colour', 'stages[0].pods']);
    const rollout = await request(app)
      .post('/v1/rollouts')
      .set(bearer)
      .send({ stages: [{ replicas: 0, bakeSeconds: 1, colour: 'red' }] });
    expect(rollout.status).toBe(400);
    expect(rollout.body.details.map((d: { field: string }) => d.field)).toEqual(
      expect.arrayContaining(['stages[0].replicas', 'stages[0].colour']),
    );
  });

  it("passes an apiserver 422 on as 422 with the apiserver's message and field, not 500", async () => {
    const refusal = new ApiException(422, 'Unknown API Status Code!', tooLong, {});
    const res = await request(setup(refusal))
      .put('/v1/namespaces/shop/pods/web-0/watchdogs/disk')
      .set(bearer)
      .send({ level: 'info', message: 'x' });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error:
        'the Kubernetes apiserver refused the request (Invalid): Pod "web-0" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes',
      details: [{ field: 'metadata.annotations', message: 'Too long: may not be more than 262144 bytes' }],
    });
  });

  it('passes other apiserver 4xx on (403 as 403, 429 with Retry-After), and its own 401 as 502', async () => {
    const forbidden = JSON.stringify({
      kind: 'Status',
      status: 'Failure',
      message: 'pods "web-0" is forbidden: denied by webhook',
      reason: 'Forbidden',
      code: 403,
    });
    const denied = await request(setup(new ApiException(403, 'x', forbidden, {})))
      .put('/v1/namespaces/shop/pods/web-0/watchdogs/disk')
      .set(bearer)
      .send({ level: 'info' });
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      error: 'the Kubernetes apiserver refused the request (Forbidden): pods "web-0" is forbidden: denied by webhook',
      details: [],
    });

    const busy = JSON.stringify({ kind: 'Status', status: 'Failure', message: 'too many requests', reason: 'TooManyRequests', code: 429 });
    const throttled = await request(setup(new ApiException(429, 'x', busy, { 'retry-after': '3' })))
      .put('/v1/namespaces/shop/pods/web-0/watchdogs/disk')
      .set(bearer)
      .send({ level: 'info' });
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('3');

    const unauthorized = await request(setup(new ApiException(401, 'Unauthorized', undefined, {})))
      .put('/v1/namespaces/shop/pods/web-0/watchdogs/disk')
      .set(bearer)
      .send({ level: 'info' });
    expect(unauthorized.status).toBe(502);
    expect(unauthorized.body.error).toBe('the Kubernetes apiserver refused the request: HTTP 401');
  });

  it('an apiserver 5xx or a plain error stays a bare 500', async () => {
    const res = await request(setup(new ApiException(500, 'x', '{"kind":"Status","message":"etcd"}', {})))
      .put('/v1/namespaces/shop/pods/web-0/watchdogs/disk')
      .set(bearer)
      .send({ level: 'info' });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'internal error', details: [] });
  });
});

describe('the OpenAPI document', () => {
  it('documents exactly the routes the app serves', async () => {
    const app = setup();
    const doc = (await request(app).get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      )
      .sort();
    expect(documented).toEqual(listRoutes(app));
    expect(documented).toEqual(
      expect.arrayContaining([
        'PUT /v1/namespaces/:namespace/pods/:pod/watchdogs/:name',
        'POST /v1/namespaces/:namespace/repair/pause',
        'POST /v1/namespaces/:namespace/data/:source/start',
        'GET /readyz',
      ]),
    );
  });

  it('states the name, image and container rules the server enforces', async () => {
    const doc = (await request(setup()).get('/openapi.json')).body as {
      components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> };
    };
    const { RolloutTarget, RolloutChange } = doc.components.schemas;
    expect(RolloutTarget?.properties.namespace).toMatchObject({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', minLength: 1, maxLength: 63 });
    expect(RolloutTarget?.properties.name).toMatchObject({ minLength: 1, maxLength: 253 });
    expect(RolloutChange?.properties.images).toMatchObject({
      propertyNames: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
      additionalProperties: { maxLength: 1024 },
    });
    expect(String((RolloutChange?.properties.images?.additionalProperties as { pattern: string }).pattern)).toContain('[a-z0-9]+');
  });
});

import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../../api/app';
import { createAuthorizer, type ClusterAuth, type ResourceAction, type ReviewedUser } from '../../../api/auth';
import { DataRolloutRefusedError, DataRolloutUnavailableError, type DataRolloutWorkflows } from '../../../api/data/data-rollout-workflows';
import { createMetricsRegistry } from '../../../platform/metrics';
import type { DataControlRequest, DataRolloutStatus, DataStartRequest } from '../../../contracts/data-rollout-messages';

const operator: ReviewedUser = { username: 'operator', groups: [], extra: {} };
const viewer: ReviewedUser = { username: 'viewer', groups: [], extra: {} };

const statusOf = (namespace: string, source: string): DataRolloutStatus => ({
  workflowId: `data-rollout/${namespace}/${source}`,
  namespace,
  source,
  lkg: null,
  latest: null,
  settings: { autoStart: true, stages: [{ pods: 1, probationSeconds: 300 }] },
  rollout: null,
  recent: [],
  decisions: [],
  decisionsDropped: 0,
});

function setup() {
  const calls: { what: string; namespace: string; source: string; request?: DataStartRequest | DataControlRequest }[] = [];
  const sars: ResourceAction[] = [];
  const lookup = (namespace: string, source: string) => {
    if (source === 'missing')
      throw new DataRolloutUnavailableError(`no data rollout workflow for source missing in namespace ${namespace}`);
    return statusOf(namespace, source);
  };
  const control: DataRolloutWorkflows = {
    status: (ns, src) => Promise.resolve().then(() => lookup(ns, src)),
    start: (ns, src, req) =>
      Promise.resolve().then(() => {
        calls.push({ what: 'start', namespace: ns, source: src, request: req });
        if (req.version === '20240101T000000Z-111111111111')
          throw new DataRolloutRefusedError('start: 20240101T000000Z-111111111111 is already the known-good version');
        return lookup(ns, src);
      }),
    control: (ns, src, name, req) =>
      Promise.resolve().then(() => {
        calls.push({ what: name, namespace: ns, source: src, request: req });
        if (name === 'resume') throw new DataRolloutRefusedError('resume: rollout is not paused or frozen (state Baking)');
        return lookup(ns, src);
      }),
  };
  const cluster: ClusterAuth = {
    reviewToken: (token) =>
      Promise.resolve(({ 'operator-token': operator, 'viewer-token': viewer } as Record<string, ReviewedUser>)[token] ?? null),
    canAccess: (user, action) => {
      sars.push(action);
      return Promise.resolve(user === operator || (user === viewer && action.verb === 'get'));
    },
  };
  const app = createApp({
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry(),
    checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    dataRollouts: {
      workflows: control,
      authorizer: createAuthorizer({ cluster, embeddedToken: 'embedded' }),
      temporalUi: { url: 'http://ui:8233', namespace: 'default' },
    },
  });
  return { app, calls, sars };
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('data rollout API', () => {
  it('GET answers the status with its Temporal UI link; reading needs get on pods', async () => {
    const { app, sars } = setup();
    const res = await request(app).get('/v1/namespaces/shop/data/catalog').set(bearer('viewer-token'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      workflowId: 'data-rollout/shop/catalog',
      temporalUiUrl: 'http://ui:8233/namespaces/default/workflows/data-rollout%2Fshop%2Fcatalog',
      lkg: null,
      rollout: null,
    });
    expect(sars).toEqual([{ verb: 'get', group: '', resource: 'pods', namespace: 'shop' }]);
  });

  it('a source without a workflow is 404; bad names are 400 naming the field', async () => {
    const { app } = setup();
    const missing = await request(app).get('/v1/namespaces/shop/data/missing').set(bearer('viewer-token'));
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('no data rollout workflow for source missing in namespace shop');
    const bad = await request(app).get('/v1/namespaces/shop/data/Bad_Name').set(bearer('viewer-token'));
    expect(bad.status).toBe(400);
    expect(bad.body.details[0]).toMatchObject({ field: 'source', message: expect.stringContaining("'Bad_Name' is not a source name") });
  });

  it('start passes the body and the caller; steering needs patch on pods', async () => {
    const { app, calls, sars } = setup();
    const denied = await request(app).post('/v1/namespaces/shop/data/catalog/start').set(bearer('viewer-token')).send({});
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe(
      'not allowed to start a data rollout of catalog in namespace shop (needs patch on pods in namespace shop)',
    );
    expect(sars).toEqual([{ verb: 'patch', group: '', resource: 'pods', namespace: 'shop' }]);

    const body = {
      version: '20240102T000000Z-222222222222',
      stages: [
        { pods: 1, probationSeconds: 60 },
        { pods: '100%', probationSeconds: 0 },
      ],
      reason: 'fix',
    };
    const ok = await request(app).post('/v1/namespaces/shop/data/catalog/start').set(bearer('operator-token')).send(body);
    expect(ok.status).toBe(200);
    expect(calls.at(-1)).toEqual({ what: 'start', namespace: 'shop', source: 'catalog', request: { ...body, by: 'operator' } });

    const empty = await request(app).post('/v1/namespaces/shop/data/catalog/start').set(bearer('operator-token'));
    expect(empty.status).toBe(200);
    expect(calls.at(-1)?.request).toEqual({ by: 'operator' });
  });

  it('start refuses bad stages and unknown fields with every offending path, before calling the workflow', async () => {
    const { app, calls } = setup();
    const res = await request(app)
      .post('/v1/namespaces/shop/data/catalog/start')
      .set(bearer('operator-token'))
      .send({ stages: [{ pods: '0%', probationSeconds: -1 }], maxErrorPods: 1.5, color: 'red' });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual(
      expect.arrayContaining([
        { field: 'stages[0].pods', message: "'0%' is not a share (expected a count like 1 or a percentage like 25%)" },
        { field: 'stages[0].probationSeconds', message: 'expected a whole number from 0 to 86400' },
        { field: 'maxErrorPods', message: 'expected a whole number from 0 to 1000' },
        { field: 'color', message: 'unknown field, expected version, stages, maxErrorPods, ackTimeoutSeconds, reason' },
      ]),
    );
    expect(calls).toEqual([]);
  });

  it("a refused start or control is 409 with the workflow's reason", async () => {
    const { app } = setup();
    const start = await request(app)
      .post('/v1/namespaces/shop/data/catalog/start')
      .set(bearer('operator-token'))
      .send({ version: '20240101T000000Z-111111111111' });
    expect(start.status).toBe(409);
    expect(start.body).toEqual({ error: 'start: 20240101T000000Z-111111111111 is already the known-good version', details: [] });
    const resume = await request(app).post('/v1/namespaces/shop/data/catalog/resume').set(bearer('operator-token'));
    expect(resume.status).toBe(409);
    expect(resume.body.error).toBe('resume: rollout is not paused or frozen (state Baking)');
  });

  it.each(['pause', 'abort'] as const)('%s passes the reason and the caller', async (name) => {
    const { app, calls } = setup();
    const res = await request(app)
      .post(`/v1/namespaces/shop/data/catalog/${name}`)
      .set(bearer('operator-token'))
      .send({ reason: 'incident 7' });
    expect(res.status).toBe(200);
    expect(calls).toEqual([{ what: name, namespace: 'shop', source: 'catalog', request: { reason: 'incident 7', by: 'operator' } }]);
    const long = await request(app)
      .post(`/v1/namespaces/shop/data/catalog/${name}`)
      .set(bearer('operator-token'))
      .send({ reason: 'x'.repeat(300) });
    expect(long.status).toBe(400);
    expect(long.body.details).toEqual([{ field: 'reason', message: 'at most 256 characters' }]);
  });
});

import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../../api/app';
import { createAuthorizer, type ClusterAuth, type ResourceAction, type ReviewedUser } from '../../../api/auth';
import { RepairUnavailableError, type RepairControl } from '../../../api/repair/repair';
import { initialRepairState, repairView, type RepairView } from '../../../domain/repair/repair';
import { createMetricsRegistry } from '../../../platform/metrics';
import { repairPolicy } from '../../fixtures/repair';

const EMBEDDED = 'embedded-secret-token';
const operator: ReviewedUser = { username: 'operator', groups: [], extra: {} };
const viewer: ReviewedUser = { username: 'viewer', groups: [], extra: {} };

function setup() {
  const calls: string[] = [];
  const sars: ResourceAction[] = [];
  const views = new Map<string, RepairView>([['shop', repairView(initialRepairState('shop'), repairPolicy())]]);
  const lookup = (namespace: string): RepairView => {
    if (namespace === 'stopped') throw new RepairUnavailableError('stopped', 'the repair workflow of namespace stopped is not running');
    const view = views.get(namespace);
    if (!view) throw new RepairUnavailableError('missing', `no repair workflow for namespace ${namespace}`);
    return view;
  };
  const control: RepairControl = {
    state: (ns) => Promise.resolve().then(() => lookup(ns)),
    pause: (ns, reason) =>
      Promise.resolve().then(() => {
        calls.push(`pause ${ns} ${String(reason)}`);
        return { ...lookup(ns), paused: true, pauseReason: reason ?? null };
      }),
    resume: (ns) =>
      Promise.resolve().then(() => {
        calls.push(`resume ${ns}`);
        return { ...lookup(ns), paused: false };
      }),
  };
  const cluster: ClusterAuth = {
    reviewToken: (token) =>
      Promise.resolve(({ 'operator-token': operator, 'viewer-token': viewer } as Record<string, ReviewedUser>)[token] ?? null),
    canAccess: (user, action) => {
      sars.push(action);
      return Promise.resolve(user === operator || (user === viewer && action.verb === 'list'));
    },
  };
  const app = createApp({
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry(),
    checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    repair: {
      control,
      authorizer: createAuthorizer({ cluster, embeddedToken: EMBEDDED }),
      temporalUi: { url: 'http://ui:8233', namespace: 'default' },
    },
  });
  return { app, calls, sars };
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('repair API', () => {
  it('GET answers the state, the workflow ID and its Temporal UI link', async () => {
    const { app, sars } = setup();
    const res = await request(app).get('/v1/namespaces/shop/repair').set(bearer('viewer-token'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      workflowId: 'repair/shop',
      temporalUiUrl: 'http://ui:8233/namespaces/default/workflows/repair%2Fshop',
      namespace: 'shop',
      paused: false,
      failing: [],
      recentEvictions: [],
      refusals: [],
      heldBack: [],
      policy: { failingSweeps: 3, workloadLimit: '10' },
    });
    expect(sars).toEqual([{ verb: 'list', group: '', resource: 'pods', namespace: 'shop' }]);
  });

  it('pause passes the reason; it needs create on pods/eviction', async () => {
    const { app, calls, sars } = setup();
    const denied = await request(app).post('/v1/namespaces/shop/repair/pause').set(bearer('viewer-token')).send({ reason: 'incident' });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe('not allowed to pause repair in namespace shop (needs create on pods/eviction in namespace shop)');
    expect(sars).toEqual([{ verb: 'create', group: '', resource: 'pods', subresource: 'eviction', namespace: 'shop' }]);

    const res = await request(app).post('/v1/namespaces/shop/repair/pause').set(bearer('operator-token')).send({ reason: 'incident' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ paused: true, pauseReason: 'incident' });
    expect(calls).toEqual(['pause shop incident']);
  });

  it('pause without a body and resume work with the embedded token', async () => {
    const { app, calls } = setup();
    expect((await request(app).post('/v1/namespaces/shop/repair/pause').set(bearer(EMBEDDED))).status).toBe(200);
    const res = await request(app).post('/v1/namespaces/shop/repair/resume').set(bearer(EMBEDDED));
    expect(res.status).toBe(200);
    expect(res.body.paused).toBe(false);
    expect(calls).toEqual(['pause shop undefined', 'resume shop']);
  });

  it.each([
    ['GET', '/v1/namespaces/shop/repair'],
    ['POST', '/v1/namespaces/shop/repair/pause'],
    ['POST', '/v1/namespaces/shop/repair/resume'],
  ])('%s %s without credentials is 401', async (method, path) => {
    const { app, calls } = setup();
    const res = await (method === 'GET' ? request(app).get(path) : request(app).post(path));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(calls).toEqual([]);
  });

  it.each([
    ['/v1/namespaces/Shop/repair', 'namespace'],
    ['/v1/namespaces/a_b/repair', 'namespace'],
  ])('GET %s is 400 naming the %s', async (path, field) => {
    const { app } = setup();
    const res = await request(app).get(path).set(bearer(EMBEDDED));
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([expect.objectContaining({ field })]);
  });

  it.each([
    [{ reason: 7 }, 'reason', 'expected a string'],
    [{ reason: 'x'.repeat(257) }, 'reason', 'at most 256 characters'],
    [{ why: 'x' }, 'why', 'unknown field, expected reason'],
    [[1], 'body', 'expected a JSON object {reason?}'],
  ])('pause body #%# is 400 naming %s and changes nothing', async (payload, field, message) => {
    const { app, calls } = setup();
    const res = await request(app).post('/v1/namespaces/shop/repair/pause').set(bearer(EMBEDDED)).send(payload);
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field, message }]);
    expect(calls).toEqual([]);
  });

  it('a body over the limit is 413', async () => {
    const { app, calls } = setup();
    const res = await request(app)
      .post('/v1/namespaces/shop/repair/pause')
      .set(bearer(EMBEDDED))
      .send({ reason: 'x'.repeat(10_000) });
    expect(res.status).toBe(413);
    expect(calls).toEqual([]);
  });

  it('a namespace without a repair workflow is 404; a stopped one is 409', async () => {
    const { app } = setup();
    const missing = await request(app).get('/v1/namespaces/other/repair').set(bearer(EMBEDDED));
    expect(missing.status).toBe(404);
    expect(missing.body.error).toContain('no repair workflow for namespace other');
    const stopped = await request(app).post('/v1/namespaces/stopped/repair/resume').set(bearer(EMBEDDED));
    expect(stopped.status).toBe(409);
    expect(stopped.body.error).toContain('not running');
  });
});

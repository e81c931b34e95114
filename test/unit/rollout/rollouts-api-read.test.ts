import request from 'supertest';
import { EMBEDDED, bearer, WEB, record, setup } from '../../support/rollouts-api-setup';

describe('GET /v1/rollouts/{id}', () => {
  it('200: the status with its links; get on the workload is enough', async () => {
    const { app, rollouts, sars } = setup();
    rollouts.push(record());
    const res = await request(app).get('/v1/rollouts/aaaaaaaaaaaa').set(bearer('viewer-token'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      rolloutId: 'aaaaaaaaaaaa',
      state: 'Baking',
      runId: 'run-1',
      statusUrl: '/v1/rollouts/aaaaaaaaaaaa',
      temporalUiUrl: 'http://ui:8233/namespaces/default/workflows/rollout%2Fshop%2FDeployment%2Fweb/run-1',
      pods: { updated: 1, ready: 0, erroring: [] },
      podsLive: false,
      decisions: [{ kind: 'started' }],
    });
    expect(sars).toEqual([{ verb: 'get', group: 'apps', resource: 'deployments', namespace: 'shop', name: 'web' }]);
  });

  it("pods come from the running bake's heartbeat when there is one", async () => {
    const { app, rollouts, setLivePods } = setup();
    rollouts.push(record());
    setLivePods({ updated: 2, ready: 2, erroring: ['web-2'] });
    const res = await request(app).get('/v1/rollouts/aaaaaaaaaaaa').set(bearer(EMBEDDED));
    expect(res.body).toMatchObject({ pods: { updated: 2, ready: 2, erroring: ['web-2'] }, podsLive: true });
  });

  it('404 for an unknown ID; 400 for one that cannot be an ID; 401 without a token; 403 without get', async () => {
    const { app, rollouts } = setup();
    const unknown = await request(app).get('/v1/rollouts/bbbbbbbbbbbb').set(bearer(EMBEDDED));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'no rollout bbbbbbbbbbbb', details: [{ field: 'id', message: 'no rollout has this ID' }] });
    const malformed = await request(app)
      .get(`/v1/rollouts/${encodeURIComponent("x' OR '1'='1")}`)
      .set(bearer(EMBEDDED));
    expect(malformed.status).toBe(400);
    expect(malformed.body.details).toEqual([{ field: 'id', message: expect.stringContaining('expected a rollout ID') }]);
    rollouts.push(record());
    expect((await request(app).get('/v1/rollouts/aaaaaaaaaaaa')).status).toBe(401);
    const stranger = await request(app).get('/v1/rollouts/aaaaaaaaaaaa').set(bearer('nobody-token'));
    expect(stranger.status).toBe(403);
    expect(stranger.body.error).toBe(
      'not allowed to read rollout aaaaaaaaaaaa of Deployment shop/web (needs get on deployments.apps web in namespace shop)',
    );
  });
});

describe('GET /v1/rollouts', () => {
  it('lists from visibility with the filters; list on deployments in the namespace', async () => {
    const { app, rollouts, lists, sars } = setup();
    rollouts.push(
      record(),
      record({
        rolloutId: 'cccccccccccc',
        target: { namespace: 'other', kind: 'StatefulSet', name: 'db' },
        state: 'Succeeded',
        running: false,
      }),
    );
    const res = await request(app).get('/v1/rollouts?namespace=shop&state=Baking').set(bearer('viewer-token'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      rollouts: [
        {
          rolloutId: 'aaaaaaaaaaaa',
          workflowId: 'rollout/shop/Deployment/web',
          runId: 'run-1',
          target: WEB,
          state: 'Baking',
          stage: 0,
          executionStatus: 'RUNNING',
          summary: expect.stringContaining('Deployment shop/web'),
          startedAt: '2026-11-22T08:00:00.000Z',
          closedAt: null,
        },
      ],
      truncated: false,
    });
    expect(lists).toEqual([{ namespace: 'shop', state: 'Baking' }]);
    expect(sars).toEqual([{ verb: 'list', group: 'apps', resource: 'deployments', namespace: 'shop' }]);

    const all = await request(app).get('/v1/rollouts').set(bearer('viewer-token'));
    expect(all.body.rollouts.map((r: { rolloutId: string }) => r.rolloutId)).toEqual(['aaaaaaaaaaaa', 'cccccccccccc']);
    expect(sars[1]).toEqual({ verb: 'list', group: 'apps', resource: 'deployments', namespace: '' });
  });

  it.each([
    ['namespace=Shop', 'namespace', "'Shop' is not a namespace name"],
    ['state=Running', 'state', 'expected one of Pending, Progressing'],
    ['state=Baking&state=Paused', 'state', 'expected one of'],
    ['kind=Deployment', 'kind', 'unknown field, expected namespace, state'],
  ])('400 for ?%s naming %s', async (query, field, message) => {
    const { app, lists } = setup();
    const res = await request(app).get(`/v1/rollouts?${query}`).set(bearer(EMBEDDED));
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field, message: expect.stringContaining(message) }]);
    expect(lists).toEqual([]);
  });

  it('401 without a token; 403 without list, in the namespace or cluster-wide', async () => {
    const { app, lists } = setup();
    expect((await request(app).get('/v1/rollouts?namespace=shop')).status).toBe(401);
    const denied = await request(app).get('/v1/rollouts?namespace=shop').set(bearer('nobody-token'));
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe('not allowed to list rollouts in namespace shop (needs list on deployments.apps in namespace shop)');
    const everywhere = await request(app).get('/v1/rollouts').set(bearer('nobody-token'));
    expect(everywhere.status).toBe(403);
    expect(everywhere.body.error).toMatch(/^not allowed to list rollouts in every namespace/);
    expect(lists).toEqual([]);
  });
});

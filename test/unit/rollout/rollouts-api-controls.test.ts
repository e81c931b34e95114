import request from 'supertest';
import { EMBEDDED, operator, bearer, record, setup } from '../../support/rollouts-api-setup';

describe('POST /v1/rollouts/{id}/{control}', () => {
  it.each(['pause', 'resume', 'approve', 'abort', 'promote'] as const)(
    '%s: 200 with the status after it; patch on the workload',
    async (action) => {
      const { app, rollouts, calls, sars } = setup();
      rollouts.push(record());
      const res = await request(app)
        .post(`/v1/rollouts/aaaaaaaaaaaa/${action}`)
        .set(bearer('operator-token'))
        .send({ reason: 'looks good' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ rolloutId: 'aaaaaaaaaaaa', statusUrl: '/v1/rollouts/aaaaaaaaaaaa', podsLive: false });
      // The decision records who asked: the reviewed user's name.
      expect(calls).toEqual([`${action} aaaaaaaaaaaa looks good by ${operator.username}`]);
      expect(sars).toEqual([{ verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'shop', name: 'web' }]);
    },
  );

  it('without a body, the reason is undefined; the embedded token is named api-token', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record());
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/pause').set(bearer(EMBEDDED));
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('Paused');
    expect(calls).toEqual(['pause aaaaaaaaaaaa undefined by api-token']);
  });

  it("409 when the workflow refuses, with the workflow's reason", async () => {
    const { app, rollouts, refuse } = setup();
    rollouts.push(record());
    refuse('approve: the rollout is not awaiting approval (state Baking)');
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/approve').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      error: 'approve: the rollout is not awaiting approval (state Baking)',
      details: [{ field: 'action', message: 'approve: the rollout is not awaiting approval (state Baking)' }],
    });
  });

  it('409 for an ended rollout, naming its state, without sending the control', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record({ running: false, state: 'RolledBack', executionStatus: 'COMPLETED' }));
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/abort').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('cannot abort rollout aaaaaaaaaaaa: it has ended (RolledBack)');
    expect(calls).toEqual([]);
  });

  it('409 for a superseding rollout still waiting for the rollback of the one it replaced, without sending the control to that one', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record({ rolloutId: 'bbbbbbbbbbbb', state: 'Pending', stage: null, waitsFor: 'aaaaaaaaaaaa' }));
    const res = await request(app).post('/v1/rollouts/bbbbbbbbbbbb/abort').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe(
      'cannot abort rollout bbbbbbbbbbbb: it has not started; it waits for rollout aaaaaaaaaaaa, which it superseded, to roll back',
    );
    expect(calls).toEqual([]);
  });

  it('409 naming the state when the rollout ends while the control is on its way', async () => {
    const { app, rollouts, endBeforeControl } = setup();
    rollouts.push(record());
    endBeforeControl();
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/promote').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('cannot promote rollout aaaaaaaaaaaa: it has ended (RolledBack)');
  });

  it('400 for a bad reason, 401 without a token, 403 without patch, 404 for an unknown ID, 413 for a huge body, 404 for an unknown control', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record());
    const long = await request(app)
      .post('/v1/rollouts/aaaaaaaaaaaa/pause')
      .set(bearer(EMBEDDED))
      .send({ reason: 'x'.repeat(257) });
    expect(long.status).toBe(400);
    expect(long.body.details).toEqual([{ field: 'reason', message: 'at most 256 characters' }]);
    const extra = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/pause').set(bearer(EMBEDDED)).send({ reason: 'x', force: true });
    expect(extra.body.details).toEqual([{ field: 'force', message: 'unknown field, expected reason' }]);
    expect((await request(app).post('/v1/rollouts/aaaaaaaaaaaa/pause')).status).toBe(401);
    const denied = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/abort').set(bearer('viewer-token'));
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe(
      'not allowed to abort rollout aaaaaaaaaaaa of Deployment shop/web (needs patch on deployments.apps web in namespace shop)',
    );
    expect((await request(app).post('/v1/rollouts/bbbbbbbbbbbb/pause').set(bearer(EMBEDDED))).status).toBe(404);
    expect(
      (
        await request(app)
          .post('/v1/rollouts/aaaaaaaaaaaa/pause')
          .set(bearer(EMBEDDED))
          .send({ reason: 'x'.repeat(10_000) })
      ).status,
    ).toBe(413);
    expect((await request(app).post('/v1/rollouts/aaaaaaaaaaaa/restart').set(bearer(EMBEDDED))).status).toBe(404);
    expect(calls).toEqual([]);
  });
});

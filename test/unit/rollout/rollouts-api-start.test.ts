import request from 'supertest';
import { requestRolloutId } from '../../../api/rollout/rollouts';
import { differingFields, sameRolloutRequest, specJson } from '../../../domain/rollout/rollout-request';
import { parseRolloutSpec, type RolloutSpec, type RolloutSpecInput } from '../../../domain/rollout/rollout-spec';
import { EMBEDDED, bearer, startRollout, WEB, spec, record, setup } from '../../support/rollouts-api-setup';

describe('POST /v1/rollouts', () => {
  it('202: starts the rollout with its defaults applied and answers its ID, status URL and Temporal UI link', async () => {
    const { app, started, sars } = setup();
    const res = await startRollout(app, 'operator-token', spec());
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      rolloutId: expect.stringMatching(/^[0-9a-f]{12}$/),
      workflowId: 'rollout/shop/Deployment/web',
      statusUrl: `/v1/rollouts/${res.body.rolloutId}`,
      temporalUiUrl: 'http://ui:8233/namespaces/default/workflows/rollout%2Fshop%2FDeployment%2Fweb/run-1',
      existing: false,
    });
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({
      rolloutId: res.body.rolloutId,
      spec: { gate: { maxErrorPods: 0, noData: 'wait' }, rollback: 'automatic', supersede: false },
    });
    expect(sars).toEqual([{ verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'shop', name: 'web' }]);
  });

  it('random IDs differ between starts without a request ID', async () => {
    const { app } = setup();
    const a = await startRollout(app, EMBEDDED, spec());
    const b = await startRollout(app, EMBEDDED, spec({ target: { namespace: 'shop', kind: 'StatefulSet', name: 'db' } }));
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.rolloutId).not.toBe(b.body.rolloutId);
  });

  it('200: the same request ID again answers the original rollout, running or ended, without starting another', async () => {
    const { app, started, rollouts } = setup();
    const first = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-42' }));
    expect(first.status).toBe(202);
    expect(first.body.rolloutId).toBe(requestRolloutId(WEB, 'deploy-42'));

    const again = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-42' }));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, existing: true });

    Object.assign(rollouts[0]!, { running: false, state: 'Succeeded', executionStatus: 'COMPLETED' });
    const afterEnd = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-42' }));
    expect(afterEnd.status).toBe(200);
    expect(afterEnd.body.rolloutId).toBe(first.body.rolloutId);
    expect(started).toHaveLength(1);
  });

  it('200 also when visibility has not caught up yet: the running rollout is the same one', async () => {
    const { app, control, started } = setup();
    await startRollout(app, EMBEDDED, spec({ requestId: 'r1' }));
    const find = control.find;
    control.find = () => Promise.resolve(null);
    const res = await startRollout(app, EMBEDDED, spec({ requestId: 'r1' }));
    control.find = find;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rolloutId: requestRolloutId(WEB, 'r1'), existing: true });
    expect(started).toHaveLength(1);
  });

  describe('the same request ID with a different spec', () => {
    const parsed = (input: RolloutSpecInput): RolloutSpec => {
      const result = parseRolloutSpec(input);
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return result.spec;
    };

    it('422 naming requestId when a retry changed the image but kept the ID; nothing starts', async () => {
      const { app, started } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-77' }));
      expect(first.status).toBe(202);
      const bumped = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-77', change: { images: { web: 'shop/web:3' } } }));
      expect(bumped.status).toBe(422);
      expect(bumped.body).toEqual({
        error: `request ID "ci-77" already started rollout ${first.body.rolloutId} on Deployment shop/web with a different spec; send a new request ID to roll out this one`,
        details: [{ field: 'requestId', message: `already used by rollout ${first.body.rolloutId} with a different spec (change differ)` }],
      });
      expect(started).toHaveLength(1);
    });

    it.each<[string, Partial<RolloutSpecInput>, string]>([
      [
        'stages',
        {
          stages: [
            { replicas: '50%', bakeSeconds: 60 },
            { replicas: '100%', bakeSeconds: 0 },
          ],
        },
        'stages',
      ],
      ['gate', { gate: { maxErrorPods: 1 } }, 'gate'],
      ['rollback', { rollback: 'freeze' }, 'rollback'],
      ['change and stages', { change: { env: { web: { MODE: 'b' } } }, stages: [{ replicas: 1, bakeSeconds: 5 }] }, 'change, stages'],
    ])('422 when only %s differ', async (_what, over, fields) => {
      const { app } = setup();
      await startRollout(app, EMBEDDED, spec({ requestId: 'ci-78' }));
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-78', ...over }));
      expect(res.status).toBe(422);
      expect(res.body.details).toEqual([{ field: 'requestId', message: expect.stringContaining(`(${fields} differ)`) }]);
    });

    it('422 after the rollout ended too', async () => {
      const { app, rollouts } = setup();
      await startRollout(app, EMBEDDED, spec({ requestId: 'ci-79' }));
      Object.assign(rollouts[0]!, { running: false, state: 'Succeeded', executionStatus: 'COMPLETED' });
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-79', change: { images: { web: 'shop/web:3' } } }));
      expect(res.status).toBe(422);
    });

    it('200 for the same spec written otherwise: defaults spelled out, keys in another order, supersede added', async () => {
      const { app, specReads } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-80' }));
      const same = {
        supersede: true,
        rollback: 'automatic',
        gate: { noData: 'wait', maxErrorPods: 0 },
        stages: spec().stages,
        change: { images: { web: 'shop/web:2' } },
        target: { name: 'web', kind: 'Deployment', namespace: 'shop' },
        requestId: 'ci-80',
      };
      const res = await startRollout(app, EMBEDDED, same);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ rolloutId: first.body.rolloutId, existing: true });
      expect(specReads).toEqual([
        expect.objectContaining({ rolloutId: first.body.rolloutId, workflowId: 'rollout/shop/Deployment/web', runId: 'run-1' }),
      ]);
    });

    it('422 also when visibility has not caught up (the start finds the running rollout is this one)', async () => {
      const { app, control, specReads } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-81' }));
      control.find = () => Promise.resolve(null);
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-81', change: { images: { web: 'shop/web:3' } } }));
      expect(res.status).toBe(422);
      expect(specReads).toEqual([{ rolloutId: first.body.rolloutId, workflowId: 'rollout/shop/Deployment/web', runId: 'run-1' }]);
    });

    it('a rollout Pending after a supersede is compared with the spec of its supersede (read from the run it waits for)', async () => {
      const { app, rollouts, specs, specReads } = setup();
      const rolloutId = requestRolloutId(WEB, 'deploy-8');
      rollouts.push(record({ rolloutId, state: 'Pending', stage: null, summary: null, waitsFor: 'aaaaaaaaaaaa' }));
      specs.set(rolloutId, parsed(spec({ requestId: 'deploy-8', supersede: true })));
      const same = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-8', supersede: true }));
      expect(same.status).toBe(200);
      const other = await startRollout(
        app,
        EMBEDDED,
        spec({ requestId: 'deploy-8', supersede: true, stages: [{ replicas: 1, bakeSeconds: 1 }] }),
      );
      expect(other.status).toBe(422);
      expect(specReads[0]).toMatchObject({ rolloutId, waitsFor: 'aaaaaaaaaaaa', runId: 'run-1' });
    });

    it("200 when the existing rollout's spec cannot be read back (answered as the same, as before)", async () => {
      const { app, specs } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-82' }));
      specs.clear();
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-82', change: { images: { web: 'shop/web:3' } } }));
      expect(res.status).toBe(200);
      expect(res.body.rolloutId).toBe(first.body.rolloutId);
    });

    it('specJson sorts keys at every level, drops undefined members and keeps array order', () => {
      expect(specJson({ b: 1, a: { d: [2, 1], c: undefined, e: null } })).toBe('{"a":{"d":[2,1],"e":null},"b":1}');
      expect(specJson({ a: 1, b: 2 })).toBe(specJson({ b: 2, a: 1 }));
      expect(specJson([1, undefined, 'x'])).toBe('[1,null,"x"]');
      // A null env value removes the variable: it is not the same as leaving it out.
      expect(specJson({ env: { X: null } })).not.toBe(specJson({ env: {} }));
      expect(specJson('é"')).toBe(JSON.stringify('é"'));
    });

    it('sameRolloutRequest ignores supersede only; differingFields names the top-level fields', () => {
      const a = parsed(spec({ requestId: 'r' }));
      expect(sameRolloutRequest(a, { ...a, supersede: !a.supersede })).toBe(true);
      expect(sameRolloutRequest(a, parsed(spec({ requestId: 'r2' })))).toBe(false);
      const b = parsed(spec({ requestId: 'r', gate: { minReadySeconds: 5 } }));
      expect(sameRolloutRequest(a, b)).toBe(false);
      expect(differingFields(a, b)).toEqual(['gate']);
    });
  });

  it('the request ID is scoped to the target', () => {
    expect(requestRolloutId(WEB, 'x')).not.toBe(requestRolloutId({ ...WEB, name: 'api' }, 'x'));
    expect(requestRolloutId(WEB, 'x')).toBe(requestRolloutId({ ...WEB }, 'x'));
  });

  it('409: a second rollout on a running target names the running rollout', async () => {
    const { app, started } = setup();
    const first = await startRollout(app, EMBEDDED, spec());
    const second = await startRollout(app, EMBEDDED, spec({ change: { images: { web: 'shop/web:3' } } }));
    expect(second.status).toBe(409);
    expect(second.body).toEqual({
      error: `a rollout is already running on Deployment shop/web: ${first.body.rolloutId}`,
      details: [{ field: 'target', message: expect.stringContaining('supersede: true') }],
      runningRolloutId: first.body.rolloutId,
    });
    expect(started).toHaveLength(1);
  });

  it('202 with supersede: the new rollout replaces the running one', async () => {
    const { app, started } = setup();
    const first = await startRollout(app, EMBEDDED, spec());
    const second = await startRollout(app, EMBEDDED, spec({ change: { images: { web: 'shop/web:3' } }, supersede: true }));
    expect(second.status).toBe(202);
    expect(second.body).toMatchObject({
      supersededRolloutId: first.body.rolloutId,
      existing: false,
      workflowId: 'rollout/shop/Deployment/web',
    });
    expect(second.body.rolloutId).not.toBe(first.body.rolloutId);
    // The new run's ID is not known when the update is accepted: the link is to the workflow.
    expect(second.body.temporalUiUrl).toBe('http://ui:8233/namespaces/default/workflows/rollout%2Fshop%2FDeployment%2Fweb');
    expect(started.map((s) => s.spec.change.images?.web)).toEqual(['shop/web:2', 'shop/web:3']);
  });

  it('200 existing for a superseding start repeated while the rollout it replaced rolls back (found Pending in that run)', async () => {
    const { app, rollouts, started } = setup();
    const rolloutId = requestRolloutId(WEB, 'deploy-7');
    rollouts.push(record({ rolloutId, state: 'Pending', stage: null, summary: null, waitsFor: 'aaaaaaaaaaaa' }));
    const res = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-7', supersede: true }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rolloutId, existing: true, statusUrl: `/v1/rollouts/${rolloutId}` });
    expect(started).toEqual([]);
  });

  it('409 when the running rollout refuses to be superseded, with its reason', async () => {
    const { app, refuse } = setup();
    await startRollout(app, EMBEDDED, spec());
    refuse('supersede: the rollout is already rolling back');
    const res = await startRollout(app, EMBEDDED, spec({ supersede: true }));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('the running rollout refused to be superseded: supersede: the rollout is already rolling back');
  });

  it('400: every problem of the spec, each with its field path; nothing is started', async () => {
    const { app, started, sars } = setup();
    const res = await startRollout(app, EMBEDDED, {
      target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
      change: { images: { web: 'shop/Web:2' } },
      stages: [
        { replicas: '50%', bakeSeconds: 10 },
        { replicas: '25%', bakeSeconds: -1 },
      ],
      color: 'blue',
    });
    expect(res.status).toBe(400);
    const fields = res.body.details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['change.images.web', 'stages[1].replicas', 'stages[1].bakeSeconds', 'color']));
    expect(res.body.details.find((d: { field: string }) => d.field === 'stages[1].replicas').message).toContain('shares must not decrease');
    expect(started).toEqual([]);
    expect(sars).toEqual([]);
  });

  it.each([
    [{}, ['target', 'change', 'stages']],
    [[1, 2], ['body']],
  ])('400 for body %j names %j', async (body, fields) => {
    const { app } = setup();
    const res = await startRollout(app, EMBEDDED, body);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual(fields);
  });

  it('400 for a body that is not JSON', async () => {
    const { app } = setup();
    const res = await request(app).post('/v1/rollouts').set(bearer(EMBEDDED)).set('content-type', 'application/json').send('{"target":');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^invalid JSON body/);
  });

  it('401 without a token, 401 with a token the cluster refuses', async () => {
    const { app, started } = setup();
    const none = await request(app).post('/v1/rollouts').send(spec());
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const bad = await startRollout(app, 'stolen', spec());
    expect(bad.status).toBe(401);
    expect(started).toEqual([]);
  });

  it('403 without patch on the workload, naming the permission; a StatefulSet needs it on statefulsets', async () => {
    const { app, started, sars } = setup();
    const res = await startRollout(app, 'viewer-token', spec({ target: { namespace: 'shop', kind: 'StatefulSet', name: 'db' } }));
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('not allowed to roll out StatefulSet shop/db (needs patch on statefulsets.apps db in namespace shop)');
    expect(sars).toEqual([{ verb: 'patch', group: 'apps', resource: 'statefulsets', namespace: 'shop', name: 'db' }]);
    expect(started).toEqual([]);
  });

  it('413 beyond 256 KiB; a large body under the limit is read', async () => {
    const { app, started } = setup();
    const tooLarge = await startRollout(app, EMBEDDED, spec({ requestId: 'x'.repeat(270 * 1024) }));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.details).toEqual([{ field: 'body', message: expect.any(String) }]);
    const large = await startRollout(app, EMBEDDED, { ...spec(), padding: 'x'.repeat(200 * 1024) });
    expect(large.status).toBe(400); // read and validated: `padding` is an unknown field
    expect(large.body.details).toEqual([{ field: 'padding', message: 'unknown field' }]);
    expect(started).toEqual([]);
  });

  it('422 when the target workload does not exist, naming it', async () => {
    const { app, started } = setup();
    const res = await startRollout(app, EMBEDDED, spec({ target: { namespace: 'shop', kind: 'Deployment', name: 'gone' } }));
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error: 'Deployment shop/gone does not exist',
      details: [{ field: 'target', message: 'no Deployment named gone in namespace shop' }],
    });
    expect(started).toEqual([]);
  });
});

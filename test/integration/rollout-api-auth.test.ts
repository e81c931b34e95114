import request from 'supertest';
import type { Express } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { V1Deployment } from '@kubernetes/client-node';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import { MAX_SPEC_BODY } from '../../api/rollout/rollouts';
import { CANARY_SUFFIX, ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import type { rolloutWorkflow } from '../../workflows';
import { ROLLOUT_CONTROLS } from '../../domain/gate/stage-controls';
import { rolloutStatusQuery, rolloutWorkflowId } from '../../contracts/rollout-messages';
import { apiStatus, eventually } from '../support/kube';
import { awaitAccess, grantRole, serviceAccountToken } from '../support/rbac';
import { rolloutApiApp } from '../support/rollout-app';
import { IMAGE_V1, IMAGE_V2, probedDeployment } from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { livePods, readyPods } from '../support/workloads';

/**
 * Authorization: the rollout routes as the API serves them in a cluster (no
 * embedded token), every caller checked by a real TokenReview and SubjectAccessReview against
 * the sandbox apiserver's RBAC. The rules (api/rollout/rollouts.ts): start and steer need `patch` on
 * the target Deployment, read one needs `get` on it, list needs `list` on deployments in the
 * namespace asked for (in every namespace without one).
 */
describe('rollout API authorization with real SubjectAccessReviews', () => {
  let sandbox: SandboxWorker;
  let app: Express;
  let ns: string;
  let otherNs: string;
  const tokens: Record<'admin' | 'nobody' | 'reader' | 'deployer' | 'elsewhere' | 'otherName', string> = {} as never;
  let before: V1Deployment;
  let rolloutId: string;

  const as = (who: keyof typeof tokens) => ({ Authorization: `Bearer ${tokens[who]}` });
  const target = () => ({ namespace: ns, kind: 'Deployment', name: 'web' });
  const spec = () => ({ target: target(), change: { images: { app: IMAGE_V2 } }, stages: [{ replicas: 1, bakeSeconds: 600 }] });
  const deploymentAction = (verb: string, namespace: string, name?: string) => ({
    verb,
    group: 'apps',
    resource: 'deployments',
    namespace,
    ...(name ? { name } : {}),
  });
  const handle = () =>
    sandbox.temporal.client.workflow.getHandle<typeof rolloutWorkflow>(
      rolloutWorkflowId({ namespace: ns, kind: 'Deployment', name: 'web' }),
    );

  /** The target as it was before any rollout: same template, same generation, no rollout annotation, no canary. */
  async function expectTargetUntouched() {
    const now = await sandbox.k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
    expect(now.spec?.template).toEqual(before.spec?.template);
    expect(now.metadata?.generation).toBe(before.metadata?.generation);
    expect(now.metadata?.annotations?.[ROLLOUT_ANNOTATION]).toBeUndefined();
    expect(
      await sandbox.k.apps.readNamespacedDeployment({ namespace: ns, name: `web${CANARY_SUFFIX}` }).catch((e: unknown) => apiStatus(e)),
    ).toBe(404);
    expect((await livePods(sandbox.k.core, ns, 'web')).map((p) => p.spec?.containers[0]?.image)).toEqual([IMAGE_V1, IMAGE_V1]);
  }

  async function expectNoWorkflow() {
    await expect(handle().describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  }

  beforeAll(async () => {
    sandbox = await startSandboxWorker('rollout-api-auth');
    const { k } = sandbox;
    // In-cluster mode: no embedded token, so every token goes through TokenReview and SubjectAccessReview.
    app = rolloutApiApp(sandbox, createAuthorizer({ cluster: kubernetesClusterAuth(k.kc) }));
    [ns, otherNs] = await Promise.all([sandbox.namespace('ro-auth'), sandbox.namespace('ro-auth-other')]);
    await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 2) });

    // The sandbox's admin (system:masters), through the same TokenReview as everyone else.
    tokens.admin = k.kc.getCurrentUser()!.token!;
    for (const who of ['nobody', 'reader', 'deployer', 'elsewhere', 'otherName'] as const)
      tokens[who] = await serviceAccountToken(k, ns, who.toLowerCase());
    const sa = (name: string) => ({ namespace: ns, name: name.toLowerCase() });
    // Reads rollouts: get and list deployments in ns, no patch.
    await grantRole(k, ns, 'reader', [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] }], sa('reader'));
    // Starts and steers rollouts: patch deployments in ns, and nothing else (patch does not imply get).
    await grantRole(k, ns, 'deployer', [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] }], sa('deployer'));
    // Everything on deployments, but in the other namespace only.
    await grantRole(
      k,
      otherNs,
      'elsewhere',
      [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'patch'] }],
      sa('elsewhere'),
    );
    // patch, but on another Deployment of ns only.
    await grantRole(
      k,
      ns,
      'other-name',
      [{ apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['api'], verbs: ['get', 'patch'] }],
      sa('otherName'),
    );
    await Promise.all([
      awaitAccess(k, tokens.reader, deploymentAction('get', ns, 'web')),
      awaitAccess(k, tokens.deployer, deploymentAction('patch', ns, 'web')),
      awaitAccess(k, tokens.elsewhere, deploymentAction('patch', otherNs, 'web')),
      awaitAccess(k, tokens.otherName, deploymentAction('patch', ns, 'api')),
    ]);
    await readyPods(k.core, ns, 'web', 2, eventually);
    before = await k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
  });
  afterAll(async () => sandbox?.close());

  test('no token, or one the cluster does not accept → 401 JSON {error, details} on every rollout route, before any body is read', async () => {
    const routes = [
      request(app).post('/v1/rollouts').send(spec()),
      request(app).get('/v1/rollouts?namespace=x'),
      request(app).get('/v1/rollouts/0123456789ab'),
      ...ROLLOUT_CONTROLS.map((c) => request(app).post(`/v1/rollouts/0123456789ab/${c}`).send({})),
      // Not even a body too large for the route is read first.
      request(app)
        .post('/v1/rollouts')
        .set('Content-Type', 'application/json')
        .send('x'.repeat(300 * 1024)),
      request(app).post('/v1/rollouts').set('Authorization', 'Bearer not-a-token-the-cluster-made').send(spec()),
      request(app).get('/v1/rollouts/0123456789ab').set('Authorization', 'Basic YWRtaW46YWRtaW4='),
    ];
    for (const res of await Promise.all(routes)) {
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.body).toEqual({ error: expect.any(String), details: expect.any(Array) });
    }
    await expectNoWorkflow();
    await expectTargetUntouched();
  });

  test('no patch on the target → 403 naming the permission; nothing starts and the Deployment is left as it was', async () => {
    for (const who of ['nobody', 'reader', 'elsewhere', 'otherName'] as const) {
      const res = await request(app).post('/v1/rollouts').set(as(who)).send(spec());
      expect([who, res.status]).toEqual([who, 403]);
      expect(res.body).toEqual({
        error: `not allowed to roll out Deployment ${ns}/web (needs patch on deployments.apps web in namespace ${ns})`,
        details: [],
      });
    }
    // The other namespace's permission is real: there, the start gets past authorization (to the 422 of a missing target).
    const there = await request(app)
      .post('/v1/rollouts')
      .set(as('elsewhere'))
      .send({ ...spec(), target: { namespace: otherNs, kind: 'Deployment', name: 'web' } });
    expect(there.status).toBe(422);
    await expectNoWorkflow();
    await expectTargetUntouched();
  });

  test(`a body over the limit (${MAX_SPEC_BODY} for a spec, 4kb for a control) → 413 JSON; nothing starts`, async () => {
    const huge = { ...spec(), change: { images: { app: IMAGE_V2 }, env: { app: { PADDING: 'x'.repeat(300 * 1024) } } } };
    const res = await request(app).post('/v1/rollouts').set(as('deployer')).send(huge);
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: expect.stringContaining('too large'), details: [{ field: 'body', message: expect.any(String) }] });
    const control = await request(app)
      .post('/v1/rollouts/0123456789ab/pause')
      .set(as('deployer'))
      .send({ reason: 'x'.repeat(5000) });
    expect(control.status).toBe(413);
    await expectNoWorkflow();
    await expectTargetUntouched();
  });

  test('patch on deployments in the namespace → 202, and the rollout runs', async () => {
    const res = await request(app).post('/v1/rollouts').set(as('deployer')).send(spec());
    expect(res.status).toBe(202);
    rolloutId = res.body.rolloutId as string;
    expect(res.body.statusUrl).toBe(`/v1/rollouts/${rolloutId}`);
    const baking = await eventually(async () => {
      const status = await handle().query(rolloutStatusQuery);
      if (status.state !== 'Baking') throw new Error(`state ${status.state}`);
      return status;
    }, 60_000);
    expect(baking.rolloutId).toBe(rolloutId);
    const images = (await livePods(sandbox.k.core, ns, 'web')).map((p) => p.spec?.containers[0]?.image).sort();
    expect(images).toEqual([IMAGE_V1, IMAGE_V2]);
  });

  test('controls need patch on the target: 403 for every control without it, and the rollout is untouched', async () => {
    const status = await handle().query(rolloutStatusQuery);
    for (const who of ['nobody', 'reader', 'elsewhere', 'otherName'] as const) {
      for (const control of ROLLOUT_CONTROLS) {
        const res = await request(app).post(`/v1/rollouts/${rolloutId}/${control}`).set(as(who)).send({ reason: 'not mine' });
        expect([who, control, res.status]).toEqual([who, control, 403]);
        expect(res.body).toEqual({
          error: `not allowed to ${control} rollout ${rolloutId} of Deployment ${ns}/web (needs patch on deployments.apps web in namespace ${ns})`,
          details: [],
        });
      }
    }
    const after = await handle().query(rolloutStatusQuery);
    expect(after.state).toBe('Baking');
    expect(after.decisions).toEqual(status.decisions);
    // The one allowed to patch may: pause and resume are accepted.
    const paused = await request(app).post(`/v1/rollouts/${rolloutId}/pause`).set(as('deployer')).send({ reason: 'auth test' });
    expect(paused.status).toBe(200);
    expect(paused.body.state).toBe('Paused');
    const resumed = await request(app).post(`/v1/rollouts/${rolloutId}/resume`).set(as('deployer')).send({});
    expect([resumed.status, resumed.body.state]).toEqual([200, 'Baking']);
    // Each decision names who asked: the user the apiserver's TokenReview answered.
    const decisions = (await handle().query(rolloutStatusQuery)).decisions;
    expect(decisions.find((d) => d.kind === 'paused')).toMatchObject({
      by: `system:serviceaccount:${ns}:deployer`,
      reason: expect.stringContaining('auth test'),
    });
    expect(decisions.find((d) => d.kind === 'resumed')).toMatchObject({ by: `system:serviceaccount:${ns}:deployer` });
  });

  test('reading a rollout needs get on its target; listing needs list on deployments in the namespace', async () => {
    const read = await request(app).get(`/v1/rollouts/${rolloutId}`).set(as('reader'));
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ rolloutId, state: 'Baking', target: target() });
    // patch does not imply get: the deployer may steer the rollout but not read it.
    for (const who of ['nobody', 'deployer', 'elsewhere'] as const) {
      const res = await request(app).get(`/v1/rollouts/${rolloutId}`).set(as(who));
      expect([who, res.status]).toEqual([who, 403]);
      expect(res.body).toEqual({
        error: `not allowed to read rollout ${rolloutId} of Deployment ${ns}/web (needs get on deployments.apps web in namespace ${ns})`,
        details: [],
      });
    }
    // A resourceNames rule for another Deployment grants get on that one only.
    expect((await request(app).get(`/v1/rollouts/${rolloutId}`).set(as('otherName'))).status).toBe(403);

    const listed = await eventually(async () => {
      const res = await request(app).get(`/v1/rollouts?namespace=${ns}`).set(as('reader'));
      expect(res.status).toBe(200);
      expect(res.body.rollouts.map((r: { rolloutId: string }) => r.rolloutId)).toEqual([rolloutId]);
      return res;
    }, 15_000);
    expect(listed.body.truncated).toBe(false);
    for (const [who, query] of [
      ['nobody', `namespace=${ns}`],
      ['deployer', `namespace=${ns}`],
      ['elsewhere', `namespace=${ns}`],
      // list in one namespace is not list in every namespace.
      ['reader', ''],
    ] as const) {
      const res = await request(app).get(`/v1/rollouts?${query}`).set(as(who));
      expect([who, query, res.status]).toEqual([who, query, 403]);
    }
    // The other namespace's reader lists there (and sees nothing of ns).
    const there = await request(app).get(`/v1/rollouts?namespace=${otherNs}`).set(as('elsewhere'));
    expect([there.status, there.body.rollouts]).toEqual([200, []]);
  });

  test('an unknown rollout ID → 404 JSON, on reads and controls', async () => {
    for (const who of ['admin', 'reader', 'deployer'] as const) {
      const read = await request(app).get('/v1/rollouts/0123456789ab').set(as(who));
      expect([who, read.status]).toEqual([who, 404]);
      expect(read.body).toEqual({ error: 'no rollout 0123456789ab', details: [{ field: 'id', message: 'no rollout has this ID' }] });
      for (const control of ROLLOUT_CONTROLS) {
        const res = await request(app).post(`/v1/rollouts/0123456789ab/${control}`).set(as(who)).send({});
        expect([who, control, res.status]).toEqual([who, control, 404]);
      }
    }
  });

  test('the deployer promotes: the rollout completes with every pod on the new template', async () => {
    const promoted = await request(app).post(`/v1/rollouts/${rolloutId}/promote`).set(as('deployer')).send({ reason: 'auth test done' });
    expect(promoted.status).toBe(200);
    const result = await handle().result();
    expect(result.state).toBe('Succeeded');
    expect(result.decisions.map((d) => d.kind)).toEqual(expect.arrayContaining(['paused', 'resumed', 'bakeSkipped', 'succeeded']));
    const pods = await readyPods(sandbox.k.core, ns, 'web', 2, eventually);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual([IMAGE_V2, IMAGE_V2]);
    // Ended: a control is now 409 for the deployer, still 403 for one without patch.
    expect((await request(app).post(`/v1/rollouts/${rolloutId}/abort`).set(as('deployer')).send({})).status).toBe(409);
    expect((await request(app).post(`/v1/rollouts/${rolloutId}/abort`).set(as('nobody')).send({})).status).toBe(403);
  });
});

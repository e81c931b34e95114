import request from 'supertest';
import type { Express } from 'express';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import { eventually } from '../support/kube';
import { rolloutApiApp, withCli } from '../support/rollout-app';
import { IMAGE_V1, probedDeployment, recordHistory } from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { livePods, readyPods } from '../support/workloads';

const TOKEN = 'rollout-api-test-token';
const auth = { Authorization: `Bearer ${TOKEN}` };

/** The rollout REST API on the real workflow, Temporal and sandbox cluster. */
describe('rollout REST API on the sandbox', () => {
  let sandbox: SandboxWorker;
  let app: Express;
  let ns: string;

  beforeAll(async () => {
    sandbox = await startSandboxWorker('rollout-api');
    app = rolloutApiApp(sandbox, createAuthorizer({ cluster: kubernetesClusterAuth(sandbox.k.kc), embeddedToken: TOKEN }));
    ns = await sandbox.namespace('ro-api');
    await sandbox.k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 2) });
    await readyPods(sandbox.k.core, ns, 'web', 2, eventually);
  });
  afterAll(async () => sandbox.close());

  /** Records the history of a rollout started through the API, as the replay test reads it. */
  const recordRollout = async (id: string, scenario: string) => {
    const status = await request(app).get(`/v1/rollouts/${id}`).set(auth);
    await recordHistory(
      sandbox.temporal.client.workflow.getHandle(status.body.workflowId as string, status.body.runId as string),
      scenario,
    );
  };

  const spec = (overrides: Record<string, unknown> = {}) => ({
    target: { namespace: ns, kind: 'Deployment', name: 'web' },
    change: { images: { app: 'example.invalid/app:2' } },
    stages: [{ replicas: 1, bakeSeconds: 600 }],
    ...overrides,
  });

  test('an invalid spec gets 400 naming each field path; nothing starts', async () => {
    const res = await request(app)
      .post('/v1/rollouts')
      .set(auth)
      .send(spec({ stages: [{ replicas: '150%', bakeSeconds: -1 }], rollback: 'sometimes' }));
    expect(res.status).toBe(400);
    const fields = (res.body.details as { field: string }[]).map((d) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['stages[0].replicas', 'stages[0].bakeSeconds', 'rollback']));
    const list = await request(app).get(`/v1/rollouts?namespace=${ns}`).set(auth);
    expect(list.body.rollouts).toEqual([]);
  });

  test('a target that does not exist gets 422', async () => {
    const res = await request(app)
      .post('/v1/rollouts')
      .set(auth)
      .send(spec({ target: { namespace: ns, kind: 'Deployment', name: 'nope' } }));
    expect(res.status).toBe(422);
    expect(res.body.error).toContain('nope');
  });

  test('a change invalid against the live template gets 422 naming the field; nothing starts', async () => {
    const live = await sandbox.k.apps.readNamespacedDeployment({ name: 'web', namespace: ns });
    const relabelled = { ...live.spec!.template, metadata: { ...live.spec!.template.metadata, labels: { app: 'other' } } };
    const cases: [Record<string, unknown>, string][] = [
      [{ images: { nope: 'example.invalid/nope:2' } }, 'change.images.nope'],
      [{ env: { nope: { MODE: 'b' } } }, 'change.env.nope'],
      [{ images: { app: IMAGE_V1 } }, 'change'],
      // The live template itself, as the Kubernetes client reads it: a change that alters nothing.
      [{ template: live.spec!.template }, 'change'],
      [{ template: relabelled }, 'change.template.metadata.labels'],
    ];
    for (const [change, field] of cases) {
      const res = await request(app).post('/v1/rollouts').set(auth).send(spec({ change }));
      expect({ change, status: res.status, fields: (res.body.details as { field: string }[]).map((d) => d.field) }).toEqual({
        change,
        status: 422,
        fields: [field],
      });
    }
    const list = await request(app).get(`/v1/rollouts?namespace=${ns}`).set(auth);
    expect(list.body.rollouts).toEqual([]);
  });

  test('two concurrent starts: one 202, one 409 with the running rollout ID; then abort through the API rolls back', async () => {
    const [a, b] = await Promise.all([
      request(app).post('/v1/rollouts').set(auth).send(spec()),
      request(app).post('/v1/rollouts').set(auth).send(spec()),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([202, 409]);
    const started = a.status === 202 ? a : b;
    const refused = a.status === 202 ? b : a;
    expect(refused.body.runningRolloutId).toBe(started.body.rolloutId);
    expect(started.body.statusUrl).toBe(`/v1/rollouts/${started.body.rolloutId}`);

    const id = started.body.rolloutId as string;
    await eventually(async () => {
      const status = await request(app).get(`/v1/rollouts/${id}`).set(auth);
      expect(status.body.state).toBe('Baking');
    }, 60_000);
    const listed = await request(app).get(`/v1/rollouts?namespace=${ns}&state=Baking`).set(auth);
    expect(listed.body.rollouts.map((r: { rolloutId: string }) => r.rolloutId)).toContain(id);

    const refusedControl = await request(app).post(`/v1/rollouts/${id}/approve`).set(auth).send({});
    expect(refusedControl.status).toBe(409);
    expect(refusedControl.body.error).toContain('not awaiting approval');

    const abort = await request(app).post(`/v1/rollouts/${id}/abort`).set(auth).send({ reason: 'api test' });
    expect(abort.status).toBe(200);
    expect(abort.body.state).toBe('RollingBack');
    await eventually(async () => {
      const status = await request(app).get(`/v1/rollouts/${id}`).set(auth);
      expect(status.body.state).toBe('RolledBack');
    }, 60_000);
    await recordRollout(id, 'api-abort');
  });

  test('the same request ID twice starts one rollout', async () => {
    const body = spec({ requestId: 'deploy-1234', stages: [{ replicas: 1, bakeSeconds: 0 }] });
    const first = await request(app).post('/v1/rollouts').set(auth).send(body);
    expect(first.status).toBe(202);
    const again = await request(app).post('/v1/rollouts').set(auth).send(body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ rolloutId: first.body.rolloutId, existing: true });
    // A CI retry that bumped the image but kept the ID: refused, read back from the run's history.
    const bumped = await request(app)
      .post('/v1/rollouts')
      .set(auth)
      .send({ ...body, change: { images: { app: 'example.invalid/app:9' } } });
    expect(bumped.status).toBe(422);
    expect(bumped.body.details).toEqual([
      { field: 'requestId', message: `already used by rollout ${first.body.rolloutId} with a different spec (change differ)` },
    ]);
    await eventually(async () => {
      const status = await request(app).get(`/v1/rollouts/${first.body.rolloutId}`).set(auth);
      expect(status.body.state).toBe('Succeeded');
    }, 60_000);
    await recordRollout(first.body.rolloutId as string, 'api-request-id');
  });

  test('the CLI steers a rollout through the real API: start, pause (listed as Paused), resume, promote, status', async () => {
    await withCli(app, TOKEN, async ({ run: cli, err }) => {
      const run = (...args: string[]) => cli('rollout', ...args);
      const statusOf = async (id: string) =>
        JSON.parse(await run('status', id, '--json')) as { state: string; decisions: { kind: string; reason: string }[] };
      const started = JSON.parse(
        await run('start', '--target', `${ns}/Deployment/web`, '--image', 'app=example.invalid/app:3', '--stage', '1:10m', '--json'),
      ) as { rolloutId: string };
      const id = started.rolloutId;
      await eventually(async () => expect((await statusOf(id)).state).toBe('Baking'), 60_000);
      expect(JSON.parse(await run('pause', id, '--reason', 'cli test', '--json')).state).toBe('Paused');
      // The list comes from visibility: the state search attribute followed the pause.
      await eventually(async () => expect(await run('list', '--namespace', ns, '--state', 'Paused')).toContain(id), 30_000);
      expect(JSON.parse(await run('resume', id, '--json')).state).toBe('Baking');
      await run('promote', id, '--reason', 'enough', '--json');
      await eventually(async () => expect((await statusOf(id)).state).toBe('Succeeded'), 60_000);
      const kinds = (await statusOf(id)).decisions.map((d) => d.kind);
      expect(kinds).toEqual(expect.arrayContaining(['paused', 'resumed', 'bakeSkipped', 'succeeded']));
      expect(kinds.indexOf('paused')).toBeLessThan(kinds.indexOf('bakeSkipped'));
      await eventually(
        async () =>
          expect((await livePods(sandbox.k.core, ns, 'web')).map((p) => p.spec?.containers[0]?.image)).toEqual([
            'example.invalid/app:3',
            'example.invalid/app:3',
          ]),
        60_000,
      );
      expect(process.exitCode ?? 0).toBe(0);
      await recordRollout(id, 'cli-pause-resume-promote');
      // (The in-process worker logs to stderr too: only the CLI's own error lines count.)
      expect(err.join('')).not.toMatch(/^error:/m);
    });
  });

  test('/openapi.json describes the rollout routes', async () => {
    const res = await request(app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/v1/rollouts', '/v1/rollouts/{id}']));
  });
});

import { Watch, type V1Pod } from '@kubernetes/client-node';
import request from 'supertest';
import type { Express } from 'express';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import { CANARY_SUFFIX, ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import { apiStatus, eventually, isPodReady } from '../support/kube';
import { rolloutApiApp, withCli } from '../support/rollout-app';
import { IMAGE_V1, IMAGE_V2, probedDeployment, recordHistory } from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { livePods, readyPods } from '../support/workloads';

const TOKEN = 'rollout-supersede-test-token';
const auth = { Authorization: `Bearer ${TOKEN}` };
const IMAGE_V3 = 'example.invalid/app:3';

interface Decision {
  at: string;
  kind: string;
  reason: string;
}
interface StatusBody {
  rolloutId: string;
  runId: string;
  workflowId: string;
  state: string;
  supersededBy: string | null;
  decisions: Decision[];
}

/** Every pod event of an app, with when the test saw it: what ran when, throughout a supersede. */
async function recordPods(kc: SandboxWorker['k']['kc'], namespace: string, app: string) {
  const events: { at: number; type: string; uid: string; image: string | undefined; live: boolean; ready: boolean }[] = [];
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { labelSelector: `app=${app}` },
    (type: string, pod: V1Pod) => {
      events.push({
        at: Date.now(),
        type,
        uid: String(pod.metadata?.uid),
        image: pod.spec?.containers[0]?.image,
        live: type !== 'DELETED' && !pod.metadata?.deletionTimestamp,
        ready: isPodReady(pod),
      });
    },
    () => undefined,
  );
  return {
    /**
     * Until the first pod with `image` appeared: when that was, the live pods at each change
     * before it, and the live pods then.
     */
    untilFirst(image: string) {
      const pods = new Map<string, { image: string | undefined; ready: boolean }>();
      const moments: { image: string | undefined; ready: boolean }[][] = [];
      for (const event of events) {
        if (event.image === image) return { at: event.at, moments, pods: [...pods.values()] };
        if (event.live) pods.set(event.uid, { image: event.image, ready: event.ready });
        else pods.delete(event.uid);
        moments.push([...pods.values()]);
      }
      return null;
    },
    stop: () => controller.abort(),
  };
}

/**
 * A start with supersede: true replaces the running rollout: the old one rolls
 * its change back and ends Superseded, then the new one runs, on the real API, workflow,
 * Temporal and sandbox cluster.
 */
describe('rollout supersede on the sandbox', () => {
  let sandbox: SandboxWorker;
  let app: Express;

  beforeAll(async () => {
    sandbox = await startSandboxWorker('rollout-supersede');
    app = rolloutApiApp(sandbox, createAuthorizer({ cluster: kubernetesClusterAuth(sandbox.k.kc), embeddedToken: TOKEN }));
  });
  afterAll(async () => sandbox.close());

  async function deploymentOf(prefix: string, replicas: number): Promise<string> {
    const ns = await sandbox.namespace(prefix);
    await sandbox.k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', replicas) });
    await readyPods(sandbox.k.core, ns, 'web', replicas, eventually);
    return ns;
  }

  const spec = (ns: string, overrides: Record<string, unknown> = {}) => ({
    target: { namespace: ns, kind: 'Deployment', name: 'web' },
    change: { images: { app: IMAGE_V2 } },
    stages: [{ replicas: 2, bakeSeconds: 600 }],
    ...overrides,
  });
  const post = (body: unknown) =>
    request(app)
      .post('/v1/rollouts')
      .set(auth)
      .send(body as object);
  const get = (id: string) => request(app).get(`/v1/rollouts/${id}`).set(auth);
  const statusOf = async (id: string): Promise<StatusBody> => {
    const res = await get(id);
    expect(res.status).toBe(200);
    return res.body as StatusBody;
  };
  const waitState = (id: string, state: string, ms = 60_000) => eventually(async () => expect((await statusOf(id)).state).toBe(state), ms);

  async function expectAllOn(ns: string, image: string, replicas: number) {
    const pods = await readyPods(sandbox.k.core, ns, 'web', replicas, eventually);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual(Array(replicas).fill(image));
    const canary = await sandbox.k.apps
      .readNamespacedDeployment({ namespace: ns, name: `web${CANARY_SUFFIX}` })
      .catch((e: unknown) => apiStatus(e));
    expect(canary).toBe(404);
    const stable = await sandbox.k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
    expect(stable.spec?.template.spec?.containers[0]?.image).toBe(image);
    expect(stable.metadata?.annotations?.[ROLLOUT_ANNOTATION]).toBeUndefined();
  }

  const handleOf = (body: StatusBody) => sandbox.temporal.client.workflow.getHandle(body.workflowId, body.runId);

  test('supersede during a bake: the old rollout rolls back and ends Superseded, then the new one runs; its status URL answers throughout; a repeat is idempotent', async () => {
    const replicas = 6;
    const ns = await deploymentOf('ro-sup-bake', replicas);
    const first = await post(spec(ns, { stages: [{ replicas: 3, bakeSeconds: 600 }] }));
    expect(first.status).toBe(202);
    const oldId = first.body.rolloutId as string;
    await waitState(oldId, 'Baking');
    await eventually(
      async () =>
        expect(
          (await livePods(sandbox.k.core, ns, 'web')).filter((p) => p.spec?.containers[0]?.image === IMAGE_V2 && isPodReady(p)),
        ).toHaveLength(3),
      60_000,
    );

    const pods = await recordPods(sandbox.k.kc, ns, 'web');
    try {
      const next = spec(ns, {
        change: { images: { app: IMAGE_V3 } },
        stages: [
          { replicas: 2, bakeSeconds: 0 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
        supersede: true,
        requestId: 'supersede-1',
      });
      const superseding = await post(next);
      expect(superseding.status).toBe(202);
      expect(superseding.body.supersededRolloutId).toBe(oldId);
      const newId = superseding.body.rolloutId as string;
      expect(superseding.body.statusUrl).toBe(`/v1/rollouts/${newId}`);

      // Follow the new status URL (and the old rollout) until the new rollout ends; the same
      // start again while the old one rolls back answers the new rollout, not a conflict.
      const answers: { status: number; state?: string; reasons?: string[] }[] = [];
      const oldStates = new Set<string>();
      let repeat: request.Response | undefined;
      await eventually(
        async () => {
          const res = await request(app)
            .get(superseding.body.statusUrl as string)
            .set(auth);
          const body = res.body as StatusBody;
          answers.push({ status: res.status, state: body.state, reasons: body.decisions?.map((d) => d.reason) });
          const old = (await get(oldId)).body as StatusBody;
          oldStates.add(old.state);
          if (old.state === 'RollingBack' && repeat === undefined) repeat = await post(next);
          if (body.state !== 'Succeeded') throw new Error(`new rollout ${res.status} ${body.state}`);
        },
        120_000,
        100,
      );
      expect(oldStates).toContain('RollingBack');
      // One look at both: the status URL never missed, and the repeat during the rollback was the same rollout.
      expect({ notFound: answers.filter((a) => a.status !== 200).length, repeat: repeat?.status }).toEqual({ notFound: 0, repeat: 200 });
      // While the old rollout rolled back, the new one said it was waiting for it.
      const waiting = answers.find((a) => a.state === 'Pending');
      expect(waiting?.reasons?.join('\n')).toContain(oldId);

      expect(repeat?.status).toBe(200);
      expect(repeat?.body).toMatchObject({ rolloutId: newId, existing: true });

      // The old rollout ended Superseded, every pod back on the old template before the new one changed any.
      const old = await statusOf(oldId);
      expect(old).toMatchObject({ state: 'Superseded', supersededBy: newId });
      const rolledBack = Date.parse(old.decisions.find((d) => d.kind === 'rolledBack')!.at);
      const done = await statusOf(newId);
      expect(done).toMatchObject({ rolloutId: newId, state: 'Succeeded', supersededBy: null });
      const newStarted = Date.parse(done.decisions[0]!.at);
      expect(newStarted).toBeGreaterThanOrEqual(rolledBack);
      const beforeNew = pods.untilFirst(IMAGE_V3);
      expect(beforeNew).not.toBeNull();
      expect(beforeNew!.at).toBeGreaterThanOrEqual(newStarted);
      // Every pod was back on the old template, ready, with no pod of the old rollout left, at
      // some moment before the new rollout's first pod (its stable scale-down may come first).
      const allOld = JSON.stringify(Array(replicas).fill({ image: IMAGE_V1, ready: true }));
      const { moments } = beforeNew!;
      const lastWithOldRollout = moments.reduce((last, m, i) => (m.some((p) => p.image === IMAGE_V2) ? i : last), -1);
      expect(lastWithOldRollout).toBeGreaterThanOrEqual(0);
      expect(moments.slice(lastWithOldRollout + 1).some((m) => JSON.stringify(m) === allOld)).toBe(true);
      await expectAllOn(ns, IMAGE_V3, replicas);

      // After the end, the same start still answers the same rollout.
      const again = await post(next);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ rolloutId: newId, existing: true });

      await recordHistory(handleOf(old), 'supersede-bake-old');
      await recordHistory(handleOf(done), 'supersede-bake-new');
    } finally {
      pods.stop();
    }
  });

  test('supersede of a paused rollout and of one awaiting approval rolls each back first', async () => {
    const ns = await deploymentOf('ro-sup-held', 4);
    const paused = await post(spec(ns));
    expect(paused.status).toBe(202);
    const pausedId = paused.body.rolloutId as string;
    await waitState(pausedId, 'Baking');
    expect((await request(app).post(`/v1/rollouts/${pausedId}/pause`).set(auth).send({})).body.state).toBe('Paused');

    const approving = await post(
      spec(ns, {
        stages: [
          { replicas: 1, bakeSeconds: 0, approval: { timeoutSeconds: 600, onTimeout: 'rollback' } },
          { replicas: '100%', bakeSeconds: 0 },
        ],
        supersede: true,
      }),
    );
    expect(approving.status).toBe(202);
    expect(approving.body.supersededRolloutId).toBe(pausedId);
    const approvingId = approving.body.rolloutId as string;
    await waitState(approvingId, 'AwaitingApproval');
    expect((await statusOf(pausedId)).state).toBe('Superseded');

    const last = await post(
      spec(ns, { change: { images: { app: IMAGE_V3 } }, stages: [{ replicas: '100%', bakeSeconds: 0 }], supersede: true }),
    );
    expect(last.status).toBe(202);
    expect(last.body.supersededRolloutId).toBe(approvingId);
    const lastId = last.body.rolloutId as string;
    await waitState(lastId, 'Succeeded');
    const approvingEnd = await statusOf(approvingId);
    expect(approvingEnd).toMatchObject({ state: 'Superseded', supersededBy: lastId });
    expect(approvingEnd.decisions.map((d) => d.kind).slice(-3)).toEqual(['superseded', 'rollbackStarted', 'rolledBack']);
    await expectAllOn(ns, IMAGE_V3, 4);

    await recordHistory(handleOf(await statusOf(pausedId)), 'supersede-paused');
    await recordHistory(handleOf(approvingEnd), 'supersede-awaiting-approval');
  });

  test('supersede when the last rollout has ended just starts the new one', async () => {
    const ns = await deploymentOf('ro-sup-ended', 2);
    const first = await post(spec(ns, { stages: [{ replicas: '100%', bakeSeconds: 0 }] }));
    await waitState(first.body.rolloutId as string, 'Succeeded');
    const next = await post(
      spec(ns, { change: { images: { app: IMAGE_V3 } }, stages: [{ replicas: '100%', bakeSeconds: 0 }], supersede: true }),
    );
    expect(next.status).toBe(202);
    expect(next.body.supersededRolloutId).toBeUndefined();
    await waitState(next.body.rolloutId as string, 'Succeeded');
    await expectAllOn(ns, IMAGE_V3, 2);
  });

  test('the CLI: rollout start --supersede --watch follows the old rollback, then the new rollout, and exits 0', async () => {
    const ns = await deploymentOf('ro-sup-cli', 4);
    const first = await post(spec(ns));
    const oldId = first.body.rolloutId as string;
    await waitState(oldId, 'Baking');

    let code: number | string | undefined;
    const { text, errors } = await withCli(app, TOKEN, async ({ run, err }) => {
      process.exitCode = undefined;
      const target = `${ns}/Deployment/web`;
      const printed = await run(
        'rollout',
        'start',
        '--target',
        target,
        '--image',
        `app=${IMAGE_V3}`,
        '--stage',
        '2:0',
        '--stage',
        '100%:0',
        '--supersede',
        '--watch',
      );
      code = process.exitCode;
      return { text: printed, errors: err.join('') };
    });
    expect(errors).not.toMatch(/^(error:|autocrane:)/m);
    expect(code ?? 0).toBe(0);
    expect(text).toContain(`Rolling back ${oldId} first`);
    expect(text).toMatch(/ended: Succeeded/);
    const newId = /Following ([0-9a-f]+):/.exec(text)?.[1];
    expect(newId).toBeDefined();
    expect(text).not.toContain('cannot follow');
    // The old rollout's rollback to its end, then the new rollout's decisions to its success.
    expect(text.indexOf('rolledBack:')).toBeGreaterThan(text.indexOf(`Rolling back ${oldId} first`));
    expect(text.indexOf('rolledBack:')).toBeLessThan(text.indexOf(`Following ${newId}`));
    expect(text.lastIndexOf('succeeded:')).toBeGreaterThan(text.indexOf(`Following ${newId}`));
    expect((await statusOf(oldId)).state).toBe('Superseded');
    expect((await statusOf(newId!)).state).toBe('Succeeded');
    await expectAllOn(ns, IMAGE_V3, 4);
  });
});

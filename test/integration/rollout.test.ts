import type { WorkflowHandle } from '@temporalio/client';
import { CANARY_SUFFIX, ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import type { RolloutSpec } from '../../domain/rollout/rollout-spec';
import { rolloutWorkflow } from '../../workflows';
import { abortRolloutUpdate, approveRolloutUpdate, rolloutWorkflowId, type RolloutStatus } from '../../contracts/rollout-messages';
import { apiStatus, eventually, type KubeClients } from '../support/kube';
import {
  IMAGE_V1,
  IMAGE_V2,
  newRolloutId,
  probedDeployment,
  probedStatefulSet,
  recordHistory,
  rolloutSpec,
  waitForState,
} from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import type { TemporalClients } from '../support/temporal';
import { livePods, markPodError, readyPods, watchAvailability } from '../support/workloads';

/** Rollouts on the sandbox cluster, with the real activities and the real dev server. */
describe('rollouts on the sandbox cluster', () => {
  let sandbox: SandboxWorker;
  let k: KubeClients;
  let temporal: TemporalClients;
  let taskQueue: string;

  beforeAll(async () => {
    sandbox = await startSandboxWorker('rollout');
    ({ k, temporal, taskQueue } = sandbox);
  });

  afterAll(async () => {
    await sandbox.close();
  });

  const namespace = (prefix: string) => sandbox.namespace(prefix);

  async function start(spec: RolloutSpec): Promise<WorkflowHandle<typeof rolloutWorkflow>> {
    return temporal.client.workflow.start(rolloutWorkflow, {
      taskQueue,
      workflowId: rolloutWorkflowId(spec.target),
      args: [{ rolloutId: newRolloutId(), spec }],
    });
  }

  const images = async (ns: string, app: string) => (await livePods(k.core, ns, app)).map((p) => p.spec?.containers[0]?.image).sort();

  async function expectCleanDeployment(ns: string, name: string, image: string, replicas: number) {
    const pods = await readyPods(k.core, ns, name, replicas, eventually);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual(Array(replicas).fill(image));
    const canary = await k.apps
      .readNamespacedDeployment({ namespace: ns, name: `${name}${CANARY_SUFFIX}` })
      .catch((e: unknown) => apiStatus(e));
    expect(canary).toBe(404);
    const stable = await k.apps.readNamespacedDeployment({ namespace: ns, name });
    expect(stable.spec?.template.spec?.containers[0]?.image).toBe(image);
    expect(stable.metadata?.annotations?.[ROLLOUT_ANNOTATION]).toBeUndefined();
  }

  const decisionKinds = (s: RolloutStatus) => s.decisions.map((d) => d.kind);

  test('Deployment happy path: 3 stages, then every pod runs the new template and the canary is gone', async () => {
    const ns = await namespace('ro-happy');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 4) });
    await readyPods(k.core, ns, 'web', 4, eventually);
    const availability = await watchAvailability(k.kc, ns, 'web');
    try {
      await availability.arm(4, eventually);
      const handle = await start(
        rolloutSpec({
          target: { namespace: ns, kind: 'Deployment', name: 'web' },
          stages: [
            { replicas: '25%', bakeSeconds: 1 },
            { replicas: '50%', bakeSeconds: 1 },
            { replicas: '100%', bakeSeconds: 1 },
          ],
        }),
      );
      const result = await handle.result();
      expect(result.state).toBe('Succeeded');
      expect(result.stages.map((s) => [s.count, s.result])).toEqual([
        [1, 'promoted'],
        [2, 'promoted'],
        [4, 'promoted'],
      ]);
      expect(decisionKinds(result)).toEqual(
        expect.arrayContaining(['started', 'stageStarted', 'stageScaled', 'gatePassed', 'promotionStarted', 'succeeded']),
      );
      await expectCleanDeployment(ns, 'web', IMAGE_V2, 4);
      // Promotion started no pod: the stable Deployment adopted the canary's ReplicaSet, pods and all.
      const promoted = Date.parse(result.decisions.find((d) => d.kind === 'promotionStarted')!.at);
      const pods = await livePods(k.core, ns, 'web');
      expect(pods.map((p) => p.metadata?.name)).toEqual(pods.map(() => expect.stringMatching(/^web-canary-/)));
      expect(pods.filter((p) => (availability.firstSeen(p.metadata!.uid!) ?? Infinity) >= promoted)).toEqual([]);
      const stable = await k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
      expect(stable.spec?.paused ?? false).toBe(false);
      // The stable Deployment's own maxUnavailable is 1: at least 3 of 4 ready throughout.
      expect(availability.minimum).toBeGreaterThanOrEqual(3);
      const history = await handle.fetchHistory();
      expect(history.events?.length).toBeLessThanOrEqual(200);
      await recordHistory(handle, 'deployment-happy-path');
    } finally {
      availability.stop();
    }
  });

  test('StatefulSet happy path: partitions by stage, every pod on the new revision', async () => {
    const ns = await namespace('ro-sts');
    await k.apps.createNamespacedStatefulSet({ namespace: ns, body: probedStatefulSet('db', 3) });
    await readyPods(k.core, ns, 'db', 3, eventually);
    const handle = await start(
      rolloutSpec({
        target: { namespace: ns, kind: 'StatefulSet', name: 'db' },
        stages: [
          { replicas: 1, bakeSeconds: 1 },
          { replicas: 2, bakeSeconds: 1 },
        ],
      }),
    );
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    const sts = await k.apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
    expect(sts.spec?.template.spec?.containers[0]?.image).toBe(IMAGE_V2);
    expect(sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0).toBe(0);
    await eventually(async () => expect(await images(ns, 'db')).toEqual([IMAGE_V2, IMAGE_V2, IMAGE_V2]), 60_000);
    await recordHistory(handle, 'statefulset-happy-path');
  });

  test('StatefulSet OnDelete: stages by deleting pods, every pod on the new revision, the strategy kept', async () => {
    const ns = await namespace('ro-sts-ondelete');
    await k.apps.createNamespacedStatefulSet({ namespace: ns, body: probedStatefulSet('db', 3, { type: 'OnDelete' }) });
    await readyPods(k.core, ns, 'db', 3, eventually);
    const handle = await start(
      rolloutSpec({
        target: { namespace: ns, kind: 'StatefulSet', name: 'db' },
        stages: [
          { replicas: 1, bakeSeconds: 1 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      }),
    );
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    const sts = await k.apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
    expect(sts.spec?.updateStrategy?.type).toBe('OnDelete');
    expect(sts.spec?.template.spec?.containers[0]?.image).toBe(IMAGE_V2);
    await eventually(async () => expect(await images(ns, 'db')).toEqual([IMAGE_V2, IMAGE_V2, IMAGE_V2]), 60_000);
    await readyPods(k.core, ns, 'db', 3, eventually);
    await recordHistory(handle, 'statefulset-ondelete');
  });

  test('StatefulSet: an error watchdog in stage 2 rolls every pod back to the old template, availability held', async () => {
    const ns = await namespace('ro-sts-fail');
    await k.apps.createNamespacedStatefulSet({ namespace: ns, body: probedStatefulSet('db', 3) });
    await readyPods(k.core, ns, 'db', 3, eventually);
    const availability = await watchAvailability(k.kc, ns, 'db');
    try {
      await availability.arm(3, eventually);
      const handle = await start(
        rolloutSpec({
          target: { namespace: ns, kind: 'StatefulSet', name: 'db' },
          stages: [
            { replicas: 1, bakeSeconds: 1 },
            { replicas: 2, bakeSeconds: 60 },
            { replicas: '100%', bakeSeconds: 1 },
          ],
        }),
      );
      await waitForState(handle, (s) => s.stage === 1 && s.state === 'Baking');
      const updated = (await livePods(k.core, ns, 'db')).find((p) => p.spec?.containers[0]?.image === IMAGE_V2);
      await markPodError(k.core, ns, updated!.metadata!.name!, 'http', 'HTTP 500');
      const result = await handle.result();
      expect(result.state).toBe('RolledBack');
      expect(result.decisions.find((d) => d.kind === 'rollbackStarted')?.reason).toContain(updated!.metadata!.name!);
      const sts = await k.apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
      expect(sts.spec?.template.spec?.containers[0]?.image).toBe(IMAGE_V1);
      expect(sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0).toBe(0);
      await eventually(async () => expect(await images(ns, 'db')).toEqual([IMAGE_V1, IMAGE_V1, IMAGE_V1]), 60_000);
      await readyPods(k.core, ns, 'db', 3, eventually);
      // The StatefulSet's own maxUnavailable: 1 of 3.
      expect(availability.minimum).toBeGreaterThanOrEqual(2);
      await recordHistory(handle, 'statefulset-stage2-failure');
    } finally {
      availability.stop();
    }
  });

  test('an error watchdog in stage 2 rolls everything back within 2 s, availability held', async () => {
    const ns = await namespace('ro-fail');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 4) });
    await readyPods(k.core, ns, 'web', 4, eventually);
    const availability = await watchAvailability(k.kc, ns, 'web');
    try {
      await availability.arm(4, eventually);
      const handle = await start(
        rolloutSpec({
          target: { namespace: ns, kind: 'Deployment', name: 'web' },
          stages: [
            { replicas: 1, bakeSeconds: 1 },
            { replicas: 2, bakeSeconds: 60 },
            { replicas: '100%', bakeSeconds: 1 },
          ],
        }),
      );
      await waitForState(handle, (s) => s.stage === 1 && s.state === 'Baking');
      const canary = (await livePods(k.core, ns, 'web')).find((p) => p.metadata?.name?.startsWith(`web${CANARY_SUFFIX}`));
      const posted = Date.now();
      await markPodError(k.core, ns, canary!.metadata!.name!, 'http', 'HTTP 500');
      const result = await handle.result();
      expect(result.state).toBe('RolledBack');
      const started = result.decisions.find((d) => d.kind === 'rollbackStarted');
      expect(started?.reason).toContain(canary!.metadata!.name!);
      expect(Date.parse(started!.at) - posted).toBeLessThan(2000);
      expect(result.stages[1]?.result).toBe('failed');
      await expectCleanDeployment(ns, 'web', IMAGE_V1, 4);
      expect(availability.minimum).toBeGreaterThanOrEqual(3);
      await recordHistory(handle, 'deployment-stage2-failure');
    } finally {
      availability.stop();
    }
  });

  test('an approval that times out takes its default action (rollback)', async () => {
    const ns = await namespace('ro-approval');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 2) });
    await readyPods(k.core, ns, 'web', 2, eventually);
    const handle = await start(
      rolloutSpec({
        target: { namespace: ns, kind: 'Deployment', name: 'web' },
        stages: [{ replicas: 1, bakeSeconds: 0, approval: { timeoutSeconds: 3 } }],
      }),
    );
    const waiting = await waitForState(handle, (s) => s.state === 'AwaitingApproval');
    expect(decisionKinds(waiting)).toContain('approvalRequested');
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    expect(decisionKinds(result)).toContain('approvalTimedOut');
    await expectCleanDeployment(ns, 'web', IMAGE_V1, 2);
    await recordHistory(handle, 'approval-timeout');
  });

  test('approve goes on; an approval with onTimeout proceed would too', async () => {
    const ns = await namespace('ro-approve');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 2) });
    await readyPods(k.core, ns, 'web', 2, eventually);
    const handle = await start(
      rolloutSpec({
        target: { namespace: ns, kind: 'Deployment', name: 'web' },
        stages: [
          { replicas: 1, bakeSeconds: 0, approval: { timeoutSeconds: 600 } },
          { replicas: 2, bakeSeconds: 0, approval: { timeoutSeconds: 2, onTimeout: 'proceed' } },
        ],
      }),
    );
    await waitForState(handle, (s) => s.state === 'AwaitingApproval' && s.stage === 0);
    await expect(handle.executeUpdate(approveRolloutUpdate, { args: [{ reason: 'looks good', by: 'alice' }] })).resolves.toMatchObject({
      stage: 0,
    });
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(result.decisions.find((d) => d.kind === 'approved')).toMatchObject({
      by: 'alice',
      reason: expect.stringContaining('looks good'),
    });
    expect(decisionKinds(result)).toContain('approvalTimedOut');
    await expectCleanDeployment(ns, 'web', IMAGE_V2, 2);
    await recordHistory(handle, 'approve-then-proceed-on-timeout');
  });

  test('abort during a bake rolls back; a control that makes no sense is refused with a reason', async () => {
    const ns = await namespace('ro-abort');
    await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 3) });
    await readyPods(k.core, ns, 'web', 3, eventually);
    const handle = await start(
      rolloutSpec({ target: { namespace: ns, kind: 'Deployment', name: 'web' }, stages: [{ replicas: 1, bakeSeconds: 600 }] }),
    );
    await waitForState(handle, (s) => s.state === 'Baking');
    const refused = await handle.executeUpdate(approveRolloutUpdate, { args: [{}] }).catch((err: unknown) => err);
    // A refusal is a rejected update: no history, and its cause says why.
    expect((refused as { cause?: Error }).cause?.message).toBe('approve: rollout is not awaiting approval (state Baking)');
    const accepted = await handle.executeUpdate(abortRolloutUpdate, { args: [{ reason: 'wrong build' }] });
    expect(accepted.decisions.at(-1)).toMatchObject({ kind: 'aborted', reason: expect.stringContaining('wrong build') });
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    await expectCleanDeployment(ns, 'web', IMAGE_V1, 3);
    await recordHistory(handle, 'abort-during-bake');
  });

  test('a 3-stage rollout stays under 200 history events whatever its bake times', async () => {
    // The same rollout with bakes of 1 s and of 12 s (several heartbeats and gate polls each):
    // the history does not grow with the bake, since a bake is one heartbeating activity whose
    // timeout (25 h) outlasts the longest bake the spec allows (24 h).
    const run = async (name: string, bakeSeconds: number) => {
      const ns = await namespace(name);
      await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 3) });
      await readyPods(k.core, ns, 'web', 3, eventually);
      const handle = await start(
        rolloutSpec({
          target: { namespace: ns, kind: 'Deployment', name: 'web' },
          stages: [
            { replicas: 1, bakeSeconds },
            { replicas: 2, bakeSeconds },
            { replicas: 3, bakeSeconds },
          ],
        }),
      );
      const result = await handle.result();
      expect(result.state).toBe('Succeeded');
      return (await handle.fetchHistory()).events?.length ?? 0;
    };
    const [short, long] = await Promise.all([run('ro-history-short', 1), run('ro-history-long', 12)]);
    expect(long).toBeLessThanOrEqual(200);
    expect(long).toBe(short);
  });
});

import type { V1Pod } from '@kubernetes/client-node';
import { createRolloutActivities } from '../../activities/rollout/rollout';
import { RolloutKube } from '../../activities/rollout/rollout-kube';
import { canaryTarget } from '../../activities/rollout/rollout-kube-json';
import type { RolloutSnapshot, StageContext } from '../../domain/rollout/rollout-types';
import { CANARY_SUFFIX } from '../../domain/shared/keys';
import { planDeploymentPromotion, type DeploymentAction } from '../../domain/rollout/rollout-plan';
import type { RolloutSpecInput, RolloutTarget } from '../../domain/rollout/rollout-spec';
import { apiStatus, eventually, freshNamespace, sandboxClients, type KubeClients } from '../support/kube';
import { IMAGE_V1, IMAGE_V2, newRolloutId, probedDeployment, rolloutSpec } from '../support/rollouts';
import { livePods, readyPods, watchAvailability } from '../support/workloads';

type Availability = Awaited<ReturnType<typeof watchAvailability>>;

/**
 * Promotion hands the canary's ReplicaSet to the stable Deployment (domain/rollout/rollout-plan.ts).
 * A worker may die after any of its steps: here the cluster is left after each step, as a dead
 * attempt would leave it, and the real activities, run again, must finish the promotion without
 * starting a pod, or roll everything back, from there.
 */
describe('a promotion interrupted after each of its steps; steps begun early', () => {
  const R = 3;
  let k: KubeClients;
  let kube: RolloutKube;
  const namespaces: string[] = [];
  const activities = () => createRolloutActivities(k.kc);

  beforeAll(() => {
    k = sandboxClients();
    kube = new RolloutKube(k.kc);
  });

  afterAll(async () => {
    for (const name of namespaces) await k.core.deleteNamespace({ name }).catch(() => undefined);
  });

  /** Runs `body` with the availability of `web` watched from its R available pods on, and stops the watch after. */
  async function whileWatchingAvailability<T>(ns: string, body: (watch: Availability) => Promise<T>): Promise<T> {
    const watch = await watchAvailability(k.kc, ns, 'web');
    try {
      await watch.arm(R, eventually);
      return await body(watch);
    } finally {
      watch.stop();
    }
  }

  /** A fresh Deployment of R ready pods, and a rollout of it to `stages`, prepared. */
  async function prepared(prefix: string, stages: RolloutSpecInput['stages'], beginFirstStage = false): Promise<StageContext> {
    const ns = await freshNamespace(k.core, prefix);
    namespaces.push(ns);
    await k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', R) });
    await readyPods(k.core, ns, 'web', R, eventually);
    const target: RolloutTarget = { namespace: ns, kind: 'Deployment', name: 'web' };
    const spec = rolloutSpec({ target, stages, gate: { noData: 'pass' } });
    const rolloutId = newRolloutId();
    const snapshot: RolloutSnapshot = await activities().prepareRollout({ rolloutId, spec, beginFirstStage });
    return { rolloutId, snapshot, gate: spec.gate, stageStartedAt: new Date().toISOString() };
  }

  /** A Deployment of R pods rolled to 100% on its canary, ready to be promoted. */
  async function atFullCanary(prefix: string): Promise<{ ctx: StageContext; canaryPods: string[] }> {
    const ctx = await prepared(prefix, [{ replicas: '100%', bakeSeconds: 0 }]);
    const ns = ctx.snapshot.target.namespace;
    const advanced = await activities().advanceStage({ ...ctx, count: R });
    expect(advanced.outcome).toBe('done');
    const pods = await readyPods(k.core, ns, 'web', R, eventually);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual(Array(R).fill(IMAGE_V2));
    return { ctx, canaryPods: pods.map((p) => p.metadata!.uid!).sort() };
  }

  /** The first `steps` promotion steps, done as a worker that then died would have done them (no waits). */
  async function promoteOnly(ctx: StageContext, steps: number): Promise<DeploymentAction[]> {
    const { snapshot } = ctx;
    const plan = planDeploymentPromotion(
      { canary: R, stable: 0, stablePaused: false, stableOnNewTemplate: false, canaryExists: true },
      R,
      snapshot.deploymentStrategy,
    );
    const done = plan.slice(0, steps);
    for (const action of done) {
      switch (action.kind) {
        case 'pauseStable':
          await kube.setPaused(snapshot.target, true);
          break;
        case 'deleteStableReplicaSets':
          for (const rs of await kube.listReplicaSets(snapshot.target.namespace, snapshot.selector)) {
            if (rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === snapshot.uid))
              await kube.deleteReplicaSet(snapshot.target.namespace, rs.metadata.name, rs.metadata.uid);
          }
          break;
        case 'handOver':
          await kube.handOver(snapshot.target, snapshot.uid, snapshot.newTemplate, action.replicas);
          break;
        case 'releaseCanary':
          await kube.deleteWorkload(canaryTarget(snapshot.target), 'Orphan');
          break;
        default:
          throw new Error(`not a step this test plays: ${action.kind}`);
      }
    }
    return done;
  }

  /**
   * Runs `before` (steps of an earlier attempt) and then the promotion activity, and checks it
   * ends on the canary's own pods: not one pod started meanwhile (not even one scaled away
   * again), none unready.
   */
  async function promoteKeepingPods(ctx: StageContext, canaryPods: string[], before?: () => Promise<void>): Promise<{ actions: string[] }> {
    const ns = ctx.snapshot.target.namespace;
    return whileWatchingAvailability(ns, async (watch) => {
      await before?.();
      const promoted = await activities().promoteRollout({ ...ctx, stageStartedAt: new Date().toISOString() });
      const pods = await expectEnd(ns, IMAGE_V2);
      expect(pods.map((p) => p.metadata!.uid!).sort()).toEqual(canaryPods);
      expect(watch.podsSeen).toBe(R);
      expect(watch.minimum).toBe(R);
      return promoted;
    });
  }

  async function expectEnd(ns: string, image: string): Promise<V1Pod[]> {
    const pods = await eventually(async () => {
      const live = await livePods(k.core, ns, 'web');
      expect(live.map((p) => p.spec?.containers[0]?.image)).toEqual(Array(R).fill(image));
      return live;
    }, 60_000);
    await readyPods(k.core, ns, 'web', R, eventually);
    const stable = await k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
    expect(stable.spec?.paused ?? false).toBe(false);
    expect(stable.spec?.template.spec?.containers[0]?.image).toBe(image);
    expect(await k.apps.readNamespacedDeployment({ namespace: ns, name: `web${CANARY_SUFFIX}` }).catch((e: unknown) => apiStatus(e))).toBe(
      404,
    );
    return pods;
  }

  it.each([
    [0, 'nothing done yet'],
    [1, 'paused'],
    [2, 'ReplicaSets deleted'],
    [3, 'handed over'],
    [4, 'canary released'],
  ])('after %p steps (%s), promoting again finishes with the same pods', async (steps) => {
    const { ctx, canaryPods } = await atFullCanary(`ro-promo-${steps}`);
    const promoted = await promoteKeepingPods(ctx, canaryPods, async () => expect((await promoteOnly(ctx, steps)).length).toBe(steps));
    expect(promoted.actions.at(-1)).toBe('resume stable');
    // A retry after the end changes nothing.
    expect((await activities().promoteRollout(ctx)).actions).toEqual(['resume stable']);
    expect((await livePods(k.core, ctx.snapshot.target.namespace, 'web')).map((p) => p.metadata!.uid!).sort()).toEqual(canaryPods);
  });

  it.each([
    [1, 'paused'],
    [3, 'handed over'],
    [4, 'canary released'],
  ])('after %p steps (%s), a rollback restores the old template with availability held', async (steps) => {
    const { ctx } = await atFullCanary(`ro-promo-rb-${steps}`);
    const ns = ctx.snapshot.target.namespace;
    await promoteOnly(ctx, steps);
    await whileWatchingAvailability(ns, async (availability) => {
      await activities().rollbackRollout({ rolloutId: ctx.rolloutId, snapshot: ctx.snapshot });
      await expectEnd(ns, IMAGE_V1);
      // maxUnavailable 1 of 3.
      expect(availability.minimum).toBeGreaterThanOrEqual(R - 1);
    });
  });

  it('a last stage without bake begins the promotion as its gate passes; the promotion then finishes from there with the same pods', async () => {
    const ctx = await prepared('ro-promo-begun', [{ replicas: '100%', bakeSeconds: 0 }]);
    const ns = ctx.snapshot.target.namespace;
    await whileWatchingAvailability(ns, async (availability) => {
      const advanced = await activities().advanceStage({ ...ctx, count: R, gateAfterScaling: true, beginPromotion: true });
      expect(advanced).toMatchObject({ outcome: 'done', gatePassed: { verdict: 'pass' } });
      // The stage's last scale-down of the stable Deployment (to 0) waited for the gate and went
      // out with the pause, in one write.
      expect(advanced.actions.at(-1)).not.toMatch(/^scale stable/);
      expect(advanced.outcome === 'done' && advanced.nextStarted).toEqual([
        'pause stable at 0 replicas',
        expect.stringMatching(/^delete the stable ReplicaSets /),
        `hand the new template and ${R} replicas to stable`,
        'release the canary ReplicaSet to stable',
      ]);
      const canaryPods = (await readyPods(k.core, ns, 'web', R, eventually)).map((p) => p.metadata!.uid!).sort();
      await promoteKeepingPods(ctx, canaryPods);
      // maxUnavailable 1 of 3.
      expect(availability.minimum).toBeGreaterThanOrEqual(R - 1);
    });
  });

  it('a last stage without bake whose gate has not passed as its scaling ends makes its held scale-down then, and begins nothing', async () => {
    const ctx = await prepared('ro-promo-wait', [{ replicas: '100%', bakeSeconds: 0 }]);
    const ns = ctx.snapshot.target.namespace;
    // Pods ready for less than minReadySeconds: the gate says wait, not pass.
    const advanced = await activities().advanceStage({
      ...ctx,
      gate: { ...ctx.gate, minReadySeconds: 600 },
      count: R,
      gateAfterScaling: true,
      beginPromotion: true,
    });
    expect(advanced.outcome).toBe('done');
    if (advanced.outcome !== 'done') return;
    expect([advanced.gatePassed, advanced.nextStarted]).toEqual([undefined, undefined]);
    expect(advanced.actions.at(-1)).toBe('scale stable to 0');
    const stable = await k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
    expect([stable.spec?.replicas, stable.spec?.paused ?? false]).toEqual([0, false]);
  });

  it('a stage without bake begins the next one as its gate passes; the next stage finishes it within the bound', async () => {
    const ctx = await prepared('ro-stage-begun', [
      { replicas: 1, bakeSeconds: 0 },
      { replicas: '100%', bakeSeconds: 0 },
    ]);
    const ns = ctx.snapshot.target.namespace;
    await whileWatchingAvailability(ns, async (watch) => {
      const first = await activities().advanceStage({ ...ctx, count: 1, gateAfterScaling: true, nextCount: R });
      // maxSurge 1, maxUnavailable 1: one chunk of 2, the stable Deployment gives 1 first.
      expect(first.outcome === 'done' && first.nextStarted).toEqual(['scale stable to 1', 'scale canary to 3']);
      const second = await activities().advanceStage({
        ...ctx,
        stageStartedAt: new Date().toISOString(),
        count: R,
        gateAfterScaling: true,
      });
      expect(second).toMatchObject({ outcome: 'done', gatePassed: { verdict: 'pass' } });
      const canary = await k.apps.readNamespacedDeployment({ namespace: ns, name: `web${CANARY_SUFFIX}` });
      const stable = await k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
      expect([canary.spec?.replicas, stable.spec?.replicas]).toEqual([R, 0]);
      await eventually(
        async () => expect((await livePods(k.core, ns, 'web')).map((p) => p.spec?.containers[0]?.image)).toEqual(Array(R).fill(IMAGE_V2)),
        60_000,
      );
      // maxUnavailable 1 of 3.
      expect(watch.minimum).toBeGreaterThanOrEqual(R - 1);
    });
  });

  it('the preparation begins stage 1 within maxSurge; a retried preparation writes the same; stage 1 finishes it within the bound', async () => {
    const stages = [
      { replicas: 1, bakeSeconds: 0 },
      { replicas: '100%', bakeSeconds: 0 },
    ];
    const ctx = await prepared('ro-first-begun', stages, true);
    const ns = ctx.snapshot.target.namespace;
    expect(ctx.snapshot.replicas).toBe(R);
    expect(ctx.snapshot.firstStageBegun).toEqual(['create the canary with 1 replicas']);
    await whileWatchingAvailability(ns, async (watch) => {
      // A retry (the first attempt's answer lost): the stable Deployment was not touched, so the total is the same.
      const spec = rolloutSpec({ target: ctx.snapshot.target, stages, gate: { noData: 'pass' } });
      const again = await activities().prepareRollout({ rolloutId: ctx.rolloutId, spec, beginFirstStage: true });
      expect([again.replicas, again.firstStageBegun]).toEqual([R, ['create the canary with 1 replicas']]);
      const stage1 = await activities().advanceStage({ ...ctx, count: 1, gateAfterScaling: true });
      expect(stage1).toMatchObject({ outcome: 'done', gatePassed: { verdict: 'pass' } });
      const canary = await k.apps.readNamespacedDeployment({ namespace: ns, name: `web${CANARY_SUFFIX}` });
      const stable = await k.apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
      expect([canary.spec?.replicas, stable.spec?.replicas]).toEqual([1, R - 1]);
      expect(watch.minimum).toBeGreaterThanOrEqual(R - 1);
    });
  });
});

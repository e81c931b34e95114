import type { V1Pod } from '@kubernetes/client-node';
import { createRolloutActivities } from '../../activities/rollout/rollout';
import type { RolloutSnapshot } from '../../domain/rollout/rollout-types';
import { RolloutKube } from '../../activities/rollout/rollout-kube';
import { eventually, freshNamespace, isPodReady, sandboxClients } from '../support/kube';
import { IMAGE_V1, IMAGE_V2, newRolloutId, probedStatefulSet, rolloutSpec } from '../support/rollouts';

/**
 * A StatefulSet rollback retried after its first attempt wrote the old template (the worker
 * died, the heartbeat timed out or the apiserver answered 5xx during the deletions or waits
 * that follow): the retry must still find the pods left on the new template, by their revision
 * against the old template's, and put every one of them back. The activities are called
 * directly, as a retry would call them, on the real sandbox cluster.
 */
describe('StatefulSet rollback retried after the old template was written', () => {
  const k = sandboxClients();
  const acts = createRolloutActivities(k.kc);
  const kube = new RolloutKube(k.kc);
  const ROLLBACK_LIMIT_MS = 90_000;

  const livePods = async (ns: string): Promise<V1Pod[]> =>
    (await k.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=db' })).items.filter((p) => !p.metadata?.deletionTimestamp);
  const describePods = (pods: V1Pod[]) =>
    pods.map((p) => `${p.metadata?.name}=${p.spec?.containers[0]?.image}${isPodReady(p) ? '' : '(unready)'}`).sort();

  async function readyStatefulSet(ns: string, replicas: number): Promise<void> {
    await eventually(async () => {
      const pods = await livePods(ns);
      if (pods.length !== replicas || !pods.every(isPodReady)) throw new Error(`pods: ${describePods(pods).join(', ')}`);
    }, 60_000);
  }

  /**
   * The rollback, given ROLLBACK_LIMIT_MS: a rollback that waits forever fails the test,
   * and deleting the StatefulSet then ends its wait (the read it polls answers 404).
   */
  async function rollbackWithLimit(ns: string, rolloutId: string, snapshot: RolloutSnapshot): Promise<string[]> {
    const rollback = acts.rollbackRollout({ rolloutId, snapshot });
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ROLLBACK_LIMIT_MS)));
    try {
      const result = await Promise.race([rollback, limit]);
      if (result === 'timeout') {
        const pods = describePods(await livePods(ns));
        await k.apps.deleteNamespacedStatefulSet({ namespace: ns, name: 'db' });
        await rollback.catch(() => undefined);
        throw new Error(`the retried rollback did not end within ${ROLLBACK_LIMIT_MS} ms; pods: ${pods.join(', ')}`);
      }
      return result.actions;
    } finally {
      clearTimeout(timer);
    }
  }

  async function expectAllOnOldTemplate(ns: string, replicas: number): Promise<void> {
    // The rollback waited for this itself: no grace period here.
    const pods = await livePods(ns);
    expect(describePods(pods)).toEqual(Array.from({ length: replicas }, (_, i) => `db-${i}=${IMAGE_V1}`));
    const sts = await k.apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
    expect(sts.spec?.template.spec?.containers[0]?.image).toBe(IMAGE_V1);
    for (const pod of pods) expect(pod.metadata?.labels?.['controller-revision-hash']).toBe(sts.status?.updateRevision);
  }

  /**
   * An OnDelete StatefulSet `db` of 3 ready pods, its rollout prepared (`keepRevision` false:
   * the snapshot without oldRevision, as snapshots were recorded before it) and its first
   * stage of `count` pods done.
   */
  async function onDeleteAtStage(prefix: string, count: number, keepRevision = true) {
    const ns = await freshNamespace(k.core, prefix);
    await k.apps.createNamespacedStatefulSet({ namespace: ns, body: probedStatefulSet('db', 3, { type: 'OnDelete' }) });
    await readyStatefulSet(ns, 3);
    const rolloutId = newRolloutId();
    const spec = rolloutSpec({
      target: { namespace: ns, kind: 'StatefulSet', name: 'db' },
      stages: [{ replicas: count, bakeSeconds: 0 }],
      gate: { noData: 'pass' },
    });
    const prepared = await acts.prepareRollout({ rolloutId, spec });
    expect(prepared.statefulSet?.oldRevision).toMatch(/^db-/);
    const { oldRevision: _dropped, ...withoutRevision } = prepared.statefulSet!;
    const snapshot: RolloutSnapshot = keepRevision ? prepared : { ...prepared, statefulSet: withoutRevision };
    const stage = await acts.advanceStage({ rolloutId, snapshot, gate: spec.gate, stageStartedAt: new Date().toISOString(), count });
    expect(stage.outcome).toBe('done');
    return { ns, rolloutId, snapshot };
  }

  test('OnDelete: every pod back on the old template and ready', async () => {
    const { ns, rolloutId, snapshot } = await onDeleteAtStage('sts-retry-od', 2);
    expect(describePods(await livePods(ns))).toEqual([`db-0=${IMAGE_V1}`, `db-1=${IMAGE_V2}`, `db-2=${IMAGE_V2}`]);

    // The first rollback attempt wrote the old template, then died.
    await kube.setTemplate(snapshot.target, snapshot.uid, snapshot.oldTemplate);
    const actions = await rollbackWithLimit(ns, rolloutId, snapshot);
    expect(actions).toEqual(expect.arrayContaining(['delete pods db-2', 'delete pods db-1']));
    await expectAllOnOldTemplate(ns, 3);
  }, 180_000);

  test('OnDelete, a snapshot without the old revision (recorded before it was): the first plan writes the old template, then the pods follow', async () => {
    const { ns, rolloutId, snapshot } = await onDeleteAtStage('sts-retry-old', 1, false);
    expect(describePods(await livePods(ns))).toEqual([`db-0=${IMAGE_V1}`, `db-1=${IMAGE_V1}`, `db-2=${IMAGE_V2}`]);
    const actions = await rollbackWithLimit(ns, rolloutId, snapshot);
    expect(actions).toEqual(['set the old template', 'set the old template', 'delete pods db-2']);
    await expectAllOnOldTemplate(ns, 3);
  }, 180_000);

  test('RollingUpdate (OrderedReady): a pod stuck on the new template is deleted, every pod back and ready', async () => {
    const ns = await freshNamespace(k.core, 'sts-retry-ru');
    const body = probedStatefulSet('db', 3);
    body.spec!.podManagementPolicy = 'OrderedReady';
    await k.apps.createNamespacedStatefulSet({ namespace: ns, body });
    await readyStatefulSet(ns, 3);
    const rolloutId = newRolloutId();
    const spec = rolloutSpec({
      target: { namespace: ns, kind: 'StatefulSet', name: 'db' },
      stages: [{ replicas: 1, bakeSeconds: 0 }],
      gate: { noData: 'pass' },
    });
    const snapshot = await acts.prepareRollout({ rolloutId, spec });
    // Stage 1 on a new template whose pods can never be scheduled: db-2 is recreated on it and
    // stays Pending, which (OrderedReady) Kubernetes never replaces by itself.
    const newSpec = snapshot.newTemplate.spec as Record<string, unknown>;
    const stuck = { ...snapshot.newTemplate, spec: { ...newSpec, nodeSelector: { 'autocrane.test/nowhere': 'true' } } };
    await kube.setTemplate(snapshot.target, snapshot.uid, stuck, { partition: 2 });
    await eventually(async () => {
      const pods = describePods(await livePods(ns));
      if (!pods.includes(`db-2=${IMAGE_V2}(unready)`)) throw new Error(`pods: ${pods.join(', ')}`);
    }, 60_000);

    // The first rollback attempt wrote the old template (partition 0), then died.
    await kube.setTemplate(snapshot.target, snapshot.uid, snapshot.oldTemplate, { partition: 0 });
    const actions = await rollbackWithLimit(ns, rolloutId, snapshot);
    expect(actions).toContain('delete pods db-2');
    await expectAllOnOldTemplate(ns, 3);
  }, 180_000);

  test('a StatefulSet whose ordinals do not start at 0 is refused, naming the field, before anything is written', async () => {
    const ns = await freshNamespace(k.core, 'sts-ordinals');
    const body = probedStatefulSet('db', 2, { type: 'OnDelete' });
    body.spec!.ordinals = { start: 1 };
    await k.apps.createNamespacedStatefulSet({ namespace: ns, body });
    const spec = rolloutSpec({ target: { namespace: ns, kind: 'StatefulSet', name: 'db' }, stages: [{ replicas: 1, bakeSeconds: 0 }] });
    await expect(acts.prepareRollout({ rolloutId: newRolloutId(), spec })).rejects.toMatchObject({
      type: 'InvalidChange',
      nonRetryable: true,
      message: expect.stringContaining('spec.ordinals.start is 1'),
    });
    const sts = await k.apps.readNamespacedStatefulSet({ namespace: ns, name: 'db' });
    expect(sts.spec?.ordinals?.start).toBe(1);
    expect(sts.metadata?.annotations ?? {}).toEqual({});
  }, 60_000);
});

import { EventsV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { listFailingPods } from '../../activities/repair/repair';
import { repairKube, type RepairKube } from '../../activities/repair/repair-kube';
import { evictPods } from '../../activities/repair/repair-eviction';
import { EVICTION_EVENT_REASON, HEALTH_LABEL, ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import type { EvictionRequest, EvictPodsInput } from '../../domain/repair/repair-types';
import { eventually, freshNamespace, isPodReady, KubeClients, sandboxClients } from '../support/kube';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const ZONES = ['a', 'b', 'c'];
const HOLD_FINALIZER = 'example.com/hold';

/** The repair activities against the sandbox apiserver: real PDB enforcement, real Events. */
describe('repair activities on the sandbox cluster', () => {
  let k: KubeClients;
  let kube: RepairKube;
  let namespace: string;

  const listPods = async (app: string) =>
    (await k.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);

  /** Marks a pod failing as the watchdog sweep would: the health label and one error status. */
  const markFailing = (name: string) =>
    k.core.patchNamespacedPod(
      {
        namespace,
        name,
        body: {
          metadata: {
            labels: { [HEALTH_LABEL]: 'error' },
            annotations: { 'status.autocrane.io/db': 'error/2026-11-22T05:00:00Z/HTTP 500 from db' },
          },
        },
      },
      mergePatch,
    );

  /** A pod no node will take, kept by a finalizer once deleted: it stays terminating as long as the test needs. */
  const createHeldPod = (name: string) =>
    k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { app: name }, finalizers: [HOLD_FINALIZER] },
        spec: { nodeSelector: { 'example.com/no-such-node': 'true' }, containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
  const releaseHeldPod = (name: string) =>
    k.core.patchNamespacedPod({ namespace, name, body: { metadata: { finalizers: null } } }, mergePatch).catch(() => undefined);

  const request = (pod: V1Pod): EvictionRequest => ({
    uid: pod.metadata!.uid!,
    name: pod.metadata!.name!,
    workload: { kind: 'Deployment', name: 'web' },
    watchdogs: [{ name: 'db', since: '2026-11-22T05:00:00Z', message: 'HTTP 500 from db' }],
    failingSweeps: 3,
    failingSince: '2026-11-22T05:01:00Z',
  });
  const input = (...requests: EvictionRequest[]): EvictPodsInput => ({
    namespace,
    gracePeriodSeconds: 30,
    evictions: requests,
    heldBack: {},
  });

  const evictionEvents = async (uid: string) =>
    (await k.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace })).items.filter(
      (e) => e.reason === EVICTION_EVENT_REASON && e.regarding?.uid === uid,
    );

  const setCordon = async (unschedulable: boolean) => {
    for (const zone of ZONES) {
      await k.core.patchNode({ name: `sandbox-${zone}`, body: { spec: { unschedulable: unschedulable || null } } }, mergePatch);
    }
  };

  beforeAll(async () => {
    k = sandboxClients();
    kube = repairKube(k.kc);
    namespace = await freshNamespace(k.core, 'repair');
    await k.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web', annotations: { [ROLLOUT_ANNOTATION]: 'rollout-7' } },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
        },
      },
    });
    // 'api' covers no pod here: only the matching budget may be reported.
    for (const app of ['web', 'api']) {
      await k.policy.createNamespacedPodDisruptionBudget({
        namespace,
        body: { metadata: { name: app }, spec: { maxUnavailable: 1, selector: { matchLabels: { app } } } },
      });
    }
    await eventually(async () => {
      const pods = await listPods('web');
      if (pods.length !== 3 || !pods.every(isPodReady)) throw new Error(`web pods not ready yet: ${pods.length}`);
    });
    // The disruption controller computes the budget from the pods' readiness.
    await eventually(async () => {
      const pdb = await k.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace });
      if (pdb.status?.disruptionsAllowed !== 1 || pdb.status.currentHealthy !== 3) throw new Error(JSON.stringify(pdb.status));
    });
  });

  afterAll(async () => {
    await setCordon(false).catch(() => undefined);
    for (const name of ['held', 'stuck']) await releaseHeldPod(name);
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test('listFailingPods: the Deployment behind the ReplicaSet, its replicas and rollout, the covering PDB; terminating pods skipped', async () => {
    const [first, second] = await listPods('web');
    await markFailing(first!.metadata!.name!);
    await markFailing(second!.metadata!.name!);
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'lonely', labels: { app: 'lonely' } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    await markFailing('lonely');
    await createHeldPod('held');
    await markFailing('held');
    await k.core.deleteNamespacedPod({ namespace, name: 'held' });

    const observation = await listFailingPods(namespace, kube);
    expect(observation.namespace).toBe(namespace);
    // 3 web pods, the bare pod, and the terminating one: all pods count.
    expect(observation.podCount).toBe(5);
    expect(Date.now() - Date.parse(observation.observedAt)).toBeLessThan(60_000);
    const byName = new Map(observation.failing.map((f) => [f.name, f]));
    expect([...byName.keys()].sort()).toEqual([first!.metadata!.name!, second!.metadata!.name!, 'lonely'].sort());
    expect(byName.get(first!.metadata!.name!)).toEqual({
      uid: first!.metadata!.uid,
      name: first!.metadata!.name,
      workload: { kind: 'Deployment', name: 'web' },
      workloadReplicas: 3,
      pdbs: ['web'],
      rolloutId: 'rollout-7',
      errorWatchdogs: [{ name: 'db', since: '2026-11-22T05:00:00Z', message: 'HTTP 500 from db' }],
    });
    expect(byName.get('lonely')).toMatchObject({ workload: null, workloadReplicas: 0, pdbs: [], rolloutId: null });
  });

  test('evictPods: the first eviction goes through; a second while the replacement is not ready is refused by the budget (429)', async () => {
    const [first, second] = await listPods('web');
    // Cordoned nodes keep the replacement Pending (not ready), so the budget stays spent.
    await setCordon(true);
    try {
      const [evicted] = await evictPods(input(request(first!)), kube);
      expect(evicted).toMatchObject({ uid: first!.metadata!.uid, result: 'evicted', message: 'evicted' });
      expect([200, 201]).toContain(evicted!.httpStatus);

      const [refused] = await evictPods(input(request(second!)), kube);
      expect(refused).toMatchObject({ uid: second!.metadata!.uid, result: 'refused', httpStatus: 429 });
      expect(refused!.message).toContain('disruption budget');
      expect(refused!.message).toContain('The disruption budget web needs');
      // The refused pod is still there: only the first one was disrupted.
      expect((await k.core.readNamespacedPod({ namespace, name: second!.metadata!.name! })).metadata?.deletionTimestamp).toBeUndefined();

      const events = await evictionEvents(first!.metadata!.uid!);
      expect(events).toHaveLength(1);
      expect(events[0]?.metadata?.managedFields?.map((f) => f.manager)).toEqual(['autocrane']);
      expect(events[0]).toMatchObject({
        type: 'Warning',
        reportingController: 'autocrane.io/repair',
        regarding: { kind: 'Pod', name: first!.metadata!.name, uid: first!.metadata!.uid },
      });
      expect(events[0]!.note).toBe(
        'Evicted by AutoCrane repair after 3 consecutive failing sweeps (failing since 2026-11-22T05:01:00Z): ' +
          'watchdog db in error since 2026-11-22T05:00:00Z (HTTP 500 from db)',
      );
      expect(await evictionEvents(second!.metadata!.uid!)).toHaveLength(0);
    } finally {
      await setCordon(false);
    }
  });

  test('evictPods: an unknown pod, and a name now held by a pod of another UID, are gone', async () => {
    const [live] = await listPods('web');
    const outcomes = await evictPods(
      input(
        { ...request(live!), name: 'no-such-pod', uid: '00000000-0000-0000-0000-000000000000' },
        { ...request(live!), uid: '11111111-1111-1111-1111-111111111111' },
      ),
      kube,
    );
    expect(outcomes.map((o) => [o.result, o.httpStatus])).toEqual([
      ['gone', 404],
      ['gone', 409],
    ]);
    // The pod that merely shares the name was left alone.
    expect((await k.core.readNamespacedPod({ namespace, name: live!.metadata!.name! })).metadata?.deletionTimestamp).toBeUndefined();
  });

  test('evictPods twice for the same pod (a retried activity) records its Event exactly once', async () => {
    // Kept terminating by its finalizer, so the second eviction reaches the pod again and records again.
    const pod = await createHeldPod('stuck');
    const retried = input({ ...request(pod), workload: { kind: 'Pod', name: 'stuck' } });
    const [firstAttempt] = await evictPods(retried, kube);
    const [secondAttempt] = await evictPods(retried, kube);
    expect(firstAttempt).toMatchObject({ result: 'evicted', message: 'evicted' });
    expect(secondAttempt).toMatchObject({ result: 'evicted', message: 'evicted' });
    expect((await k.core.readNamespacedPod({ namespace, name: 'stuck' })).metadata?.deletionTimestamp).toBeDefined();
    expect(await evictionEvents(pod.metadata!.uid!)).toHaveLength(1);
  });
});

import { PatchStrategy, setHeaderOptions, V1Deployment } from '@kubernetes/client-node';
import { apiStatus, eventually, freshNamespace, isPodReady, KubeClients, sandboxClients } from '../support/kube';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Proof that the sandbox is a real control plane: controllers, scheduler, kwok nodes and PDB enforcement. */
describe('sandbox Kubernetes cluster', () => {
  let k: KubeClients;
  let namespace: string;

  const deployment = (name: string, replicas: number): V1Deployment => ({
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    },
  });

  const listPods = async (app: string) =>
    (await k.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'sandbox');
  });

  afterAll(async () => {
    for (const zone of ['a', 'b', 'c']) {
      await k.core.patchNode({ name: `sandbox-${zone}`, body: { spec: { unschedulable: null } } }, mergePatch).catch(() => undefined);
    }
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test('three kwok nodes, one per zone, are Ready', async () => {
    const nodes = (await k.core.listNode()).items;
    const zones = nodes
      .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((n) => n.metadata?.labels?.['topology.kubernetes.io/zone'])
      .sort();
    expect(zones).toEqual(['a', 'b', 'c']);
  });

  test('a Deployment of 3 replicas gets 3 Running, Ready pods with loopback pod IPs', async () => {
    await k.apps.createNamespacedDeployment({ namespace, body: deployment('web', 3) });
    const pods = await eventually(async () => {
      const current = await listPods('web');
      if (current.length !== 3 || !current.every(isPodReady)) throw new Error(`pods not ready yet: ${current.length}`);
      return current;
    });
    for (const pod of pods) {
      expect(pod.status?.podIP).toMatch(/^127\.1\.\d+\.\d+$/);
      expect(pod.spec?.nodeName).toMatch(/^sandbox-[abc]$/);
    }
    expect(new Set(pods.map((p) => p.status?.podIP)).size).toBe(3);
    const status = (await k.apps.readNamespacedDeployment({ name: 'web', namespace })).status;
    expect(status?.readyReplicas).toBe(3);
  });

  test('a PDB of maxUnavailable 1 allows one eviction and answers 429 while the replacement is not ready', async () => {
    await k.policy.createNamespacedPodDisruptionBudget({
      namespace,
      body: { metadata: { name: 'web' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } } },
    });
    // The disruption controller computes the budget from the pods' readiness.
    await eventually(async () => {
      const pdb = await k.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace });
      if (pdb.status?.disruptionsAllowed !== 1 || pdb.status.currentHealthy !== 3) throw new Error(JSON.stringify(pdb.status));
    });
    // Cordon every node, so the replacement of an evicted pod stays Pending (not ready).
    for (const zone of ['a', 'b', 'c']) {
      await k.core.patchNode({ name: `sandbox-${zone}`, body: { spec: { unschedulable: true } } }, mergePatch);
    }
    const [first, second] = await listPods('web');
    const evict = (name: string) =>
      k.core.createNamespacedPodEviction({
        name,
        namespace,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
      });

    await evict(first!.metadata!.name!);
    let refusal: unknown;
    try {
      await evict(second!.metadata!.name!);
    } catch (error) {
      refusal = error;
    }
    expect(apiStatus(refusal)).toBe(429);
    expect(String((refusal as { body?: unknown }).body)).toContain('disruption budget');

    const pending = await eventually(async () => {
      const pods = await listPods('web');
      const notReady = pods.filter((p) => !isPodReady(p));
      if (notReady.length !== 1) throw new Error(`expected one pending replacement, got ${notReady.length}`);
      return notReady[0]!;
    });
    expect(pending.status?.phase).toBe('Pending');

    // Once the nodes take pods again the replacement becomes ready and the budget frees up.
    for (const zone of ['a', 'b', 'c']) {
      await k.core.patchNode({ name: `sandbox-${zone}`, body: { spec: { unschedulable: null } } }, mergePatch);
    }
    await eventually(async () => {
      const pdb = await k.policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace });
      if (pdb.status?.currentHealthy !== 3 || pdb.status.disruptionsAllowed !== 1) throw new Error(JSON.stringify(pdb.status));
    });
    await evict(second!.metadata!.name!);
  });
});

import { type V1Pod } from '@kubernetes/client-node';
import { countPods, listFailingPods } from '../../../activities/repair/repair';
import type { RepairKube } from '../../../activities/repair/repair-kube';
import { apiError, status } from '../../support/kube-api-errors';

describe('listFailingPods against a stand-in apiserver', () => {
  const pod = (
    name: string,
    owner: { kind: string; name: string; apiVersion?: string } | null,
    extra: Partial<V1Pod['metadata']> = {},
  ): V1Pod => ({
    metadata: {
      name,
      uid: `uid-${name}`,
      labels: { app: 'web', 'status.autocrane.io/health': 'error' },
      annotations: {
        'status.autocrane.io/db': 'error/2026-11-22T05:00:00Z/HTTP 500',
        'status.autocrane.io/cpu': 'info/2026-11-22T05:00:00Z/ok',
      },
      ownerReferences: owner
        ? [{ apiVersion: owner.apiVersion ?? 'apps/v1', kind: owner.kind, name: owner.name, uid: `uid-${owner.name}`, controller: true }]
        : undefined,
      ...extra,
    },
  });

  const objects: Record<string, object> = {
    'ReplicaSet/web-1': {
      kind: 'ReplicaSet',
      metadata: {
        uid: 'uid-web-1',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true }],
      },
      spec: { replicas: 6 },
    },
    'Deployment/web': {
      kind: 'Deployment',
      metadata: { uid: 'uid-web', annotations: { 'rollout.autocrane.io/id': 'r-42' } },
      spec: { replicas: 6 },
    },
    'ReplicaSet/orphan-rs': { kind: 'ReplicaSet', metadata: { uid: 'uid-orphan-rs' }, spec: { replicas: 2 } },
    'DaemonSet/agent': { kind: 'DaemonSet', metadata: { uid: 'uid-agent' }, spec: {}, status: { desiredNumberScheduled: 3 } },
    'StatefulSet/db': { kind: 'StatefulSet', metadata: { uid: 'uid-other' }, spec: { replicas: 3 } },
  };

  function listKube(pods: V1Pod[], podTotal: { items: number; remaining?: number; pages?: number }) {
    const reads: string[] = [];
    const kube = {
      core: {
        listNamespacedPod: async (p: { labelSelector?: string; limit?: number; _continue?: string }) => {
          if (p.labelSelector) return { items: pods, metadata: {} };
          if (p.limit === 1) {
            const more = podTotal.pages !== undefined || podTotal.remaining !== undefined;
            return {
              items: Array.from({ length: Math.min(1, podTotal.items) }, () => ({})),
              metadata: { _continue: more ? 'page-2' : undefined, remainingItemCount: podTotal.remaining },
            };
          }
          return { items: Array.from({ length: podTotal.items - 1 }, () => ({})), metadata: {} };
        },
      },
      policy: {
        listNamespacedPodDisruptionBudget: async () => ({
          items: [
            { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } } } },
            { metadata: { name: 'all' }, spec: { selector: {} } },
            { metadata: { name: 'none' }, spec: {} },
            { metadata: { name: 'other' }, spec: { selector: { matchLabels: { app: 'api' } } } },
          ],
        }),
      },
      objects: {
        read: async (spec: { kind: string; metadata: { name: string } }) => {
          const key = `${spec.kind}/${spec.metadata.name}`;
          reads.push(key);
          const object = objects[key];
          if (!object) throw apiError(404, status(404, 'NotFound', `${key} not found`));
          return object;
        },
      },
    } as unknown as RepairKube;
    return { kube, reads };
  }

  test('workloads resolved through ReplicaSets, read once per sweep; PDBs, rollout, watchdogs; terminating pods skipped', async () => {
    const { kube, reads } = listKube(
      [
        pod('web-1-a', { kind: 'ReplicaSet', name: 'web-1' }),
        pod('web-1-b', { kind: 'ReplicaSet', name: 'web-1' }),
        pod('web-1-c', { kind: 'ReplicaSet', name: 'web-1' }, { deletionTimestamp: new Date() }),
        pod('orphan-rs-a', { kind: 'ReplicaSet', name: 'orphan-rs' }),
        pod('agent-a', { kind: 'DaemonSet', name: 'agent' }),
        pod('db-0', { kind: 'StatefulSet', name: 'db' }),
        pod('bare', null),
        pod('lost-a', { kind: 'ReplicaSet', name: 'lost' }),
      ],
      { items: 40, remaining: 39 },
    );
    const observation = await listFailingPods('shop', kube, { now: () => new Date('2026-11-22T06:00:00Z') });
    expect(observation.namespace).toBe('shop');
    expect(observation.observedAt).toBe('2026-11-22T06:00:00.000Z');
    expect(observation.podCount).toBe(40);
    const byName = Object.fromEntries(observation.failing.map((f) => [f.name, f]));
    expect(Object.keys(byName)).toEqual(['web-1-a', 'web-1-b', 'orphan-rs-a', 'agent-a', 'db-0', 'bare', 'lost-a']);
    expect(byName['web-1-a']).toEqual({
      uid: 'uid-web-1-a',
      name: 'web-1-a',
      workload: { kind: 'Deployment', name: 'web' },
      workloadReplicas: 6,
      pdbs: ['all', 'web'],
      rolloutId: 'r-42',
      errorWatchdogs: [{ name: 'db', since: '2026-11-22T05:00:00Z', message: 'HTTP 500' }],
    });
    expect(byName['orphan-rs-a']).toMatchObject({
      workload: { kind: 'ReplicaSet', name: 'orphan-rs' },
      workloadReplicas: 2,
      rolloutId: null,
    });
    expect(byName['agent-a']).toMatchObject({ workload: { kind: 'DaemonSet', name: 'agent' }, workloadReplicas: 3 });
    // A StatefulSet recreated under the same name (another UID) will not replace this pod.
    expect(byName['db-0']).toMatchObject({ workload: null, workloadReplicas: 0 });
    expect(byName['bare']).toMatchObject({ workload: null, workloadReplicas: 0, rolloutId: null, pdbs: ['all', 'web'] });
    expect(byName['lost-a']).toMatchObject({ workload: null });
    expect(reads.filter((r) => r === 'ReplicaSet/web-1')).toHaveLength(1);
    expect(reads.filter((r) => r === 'Deployment/web')).toHaveLength(1);
  });

  test('a garbled time keeps the watchdog with since null; warnings are not error watchdogs', async () => {
    const { kube } = listKube(
      [
        pod('bare', null, {
          annotations: { 'status.autocrane.io/db': 'Error/yesterday', 'status.autocrane.io/x': 'warning/2026-11-22T05:00:00Z/slow' },
        }),
      ],
      { items: 1 },
    );
    const [failing] = (await listFailingPods('shop', kube)).failing;
    expect(failing!.errorWatchdogs).toEqual([{ name: 'db', since: null, message: 'yesterday' }]);
  });

  test('permission to read an owner refused: the sweep fails with what it tried to read', async () => {
    const { kube } = listKube([pod('x', { kind: 'Job', name: 'batch', apiVersion: 'batch/v1' })], { items: 1 });
    kube.objects.read = async () => {
      throw apiError(403, status(403, 'Forbidden', 'jobs.batch "batch" is forbidden'));
    };
    await expect(listFailingPods('shop', kube)).rejects.toThrow(
      "read Job shop/batch (batch/v1), a pod's controller: apiserver answered HTTP 403",
    );
  });

  test('podCount without remainingItemCount counts page by page; a namespace of one pod needs one request', async () => {
    expect(await countPods(listKube([], { items: 700, pages: 2 }).kube.core, 'shop')).toBe(700);
    expect(await countPods(listKube([], { items: 1 }).kube.core, 'shop')).toBe(1);
    expect(await countPods(listKube([], { items: 0 }).kube.core, 'shop')).toBe(0);
  });

  test('no failing pod: no PodDisruptionBudget list, no owner read', async () => {
    const { kube, reads } = listKube([], { items: 5, remaining: 4 });
    const pdbs = jest.spyOn(kube.policy, 'listNamespacedPodDisruptionBudget');
    expect(await listFailingPods('shop', kube)).toMatchObject({ podCount: 5, failing: [] });
    expect(pdbs).not.toHaveBeenCalled();
    expect(reads).toEqual([]);
  });
});

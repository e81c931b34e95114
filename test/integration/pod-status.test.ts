import { writePodStatuses } from '../../activities/shared/pod-status';
import { HEALTH_LABEL } from '../../domain/shared/keys';
import { formatStatus } from '../../domain/watchdog/watchdog-status';
import { freshNamespace, KubeClients, sandboxClients } from '../support/kube';

/** Status writes touch only our keys and never lose a concurrent writer's update. */
describe('writePodStatuses on the sandbox apiserver', () => {
  let k: KubeClients;
  let namespace: string;
  const time = new Date('2026-11-22T05:00:00Z');

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'podstatus');
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'app', annotations: { 'team.example.com/owner': 'payments' }, labels: { app: 'app' } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
  });
  afterAll(async () => k.core.deleteNamespace({ name: namespace }).catch(() => undefined));

  const read = () => k.core.readNamespacedPod({ namespace, name: 'app' });

  test('twelve concurrent writers each keep their status, and the label aggregates all of them', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `wd${i}`);
    const outcomes = await Promise.all(
      names.map((name, i) =>
        writePodStatuses(k.core, { namespace, name: 'app' }, () => ({
          [name]: formatStatus({ level: i === 7 ? 'error' : 'info', time, message: `from ${name}` }),
        })),
      ),
    );
    expect(outcomes).toEqual(names.map(() => 'written'));
    const pod = await read();
    for (const name of names) expect(pod.metadata?.annotations?.[`status.autocrane.io/${name}`]).toMatch(new RegExp(`from ${name}$`));
    expect(pod.metadata?.annotations?.['team.example.com/owner']).toBe('payments');
    expect(pod.metadata?.labels).toMatchObject({ app: 'app', [HEALTH_LABEL]: 'error' });
    // The write is recorded under our field manager.
    expect(pod.metadata?.managedFields?.some((f) => f.manager === 'autocrane')).toBe(true);
  });

  test('a write that changes nothing makes no request, and removing the last error recomputes the label', async () => {
    const patches = jest.spyOn(k.core, 'patchNamespacedPod');
    const unchanged = await writePodStatuses(k.core, { namespace, name: 'app' }, (a) => ({ wd0: a['status.autocrane.io/wd0']! }));
    expect(unchanged).toBe('unchanged');
    expect(patches).not.toHaveBeenCalled();
    patches.mockRestore();

    await writePodStatuses(k.core, { namespace, name: 'app' }, () => ({ wd7: null }));
    const pod = await read();
    expect(pod.metadata?.annotations?.['status.autocrane.io/wd7']).toBeUndefined();
    expect(pod.metadata?.labels?.[HEALTH_LABEL]).toBe('info');
  });

  test('a pod that is gone is reported, not thrown', async () => {
    await expect(writePodStatuses(k.core, { namespace, name: 'no-such-pod' }, () => ({ x: null }))).resolves.toBe('pod-gone');
  });
});

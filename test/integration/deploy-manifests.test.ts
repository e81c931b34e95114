import { KubernetesObject, KubernetesObjectApi, loadAllYaml } from '@kubernetes/client-node';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiStatus, sandboxClients } from '../support/kube';

/** deploy/kubernetes is accepted by a real apiserver (schema and RBAC rules), not just parsed as YAML. */
describe('deploy/kubernetes manifests', () => {
  const dir = join(__dirname, '..', '..', 'deploy', 'kubernetes');
  const documents: KubernetesObject[] = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadAllYaml(readFileSync(join(dir, f), 'utf8')) as KubernetesObject[]);

  test('every object passes a server-side dry run', async () => {
    const { kc } = sandboxClients();
    const objects = KubernetesObjectApi.makeApiClient(kc);
    expect(documents.map((d) => d.kind)).toEqual(
      expect.arrayContaining(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Service']),
    );
    const [namespace, ...rest] = documents;
    expect(namespace?.kind).toBe('Namespace');
    // Namespaced objects can only be dry-run into a namespace that exists.
    await objects.create(namespace!).catch((error) => {
      if (apiStatus(error) !== 409) throw error;
    });
    for (const doc of rest) {
      await expect(objects.create(doc, undefined, 'All')).resolves.toMatchObject({ kind: doc.kind });
    }
  });
});

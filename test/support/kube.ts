import { AppsV1Api, CoreV1Api, KubeConfig, PolicyV1Api, V1Pod } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { tierStack } from './stacks';

export interface KubeClients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  policy: PolicyV1Api;
}

export function sandboxClients(): KubeClients {
  const kc = new KubeConfig();
  kc.loadFromFile(tierStack('integration').kubeconfig!);
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), policy: kc.makeApiClient(PolicyV1Api) };
}

/** A namespace of its own per test, so tests cannot see each other's objects. */
export async function freshNamespace(core: CoreV1Api, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  // Pods are refused until the serviceaccount controller has made the namespace's default account.
  await eventually(() => core.readNamespacedServiceAccount({ name: 'default', namespace: name }), 30_000);
  return name;
}

/** Retries fn until it stops throwing, or rethrows its last error after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

export const isPodReady = (pod: V1Pod) =>
  pod.status?.phase === 'Running' && !!pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** The HTTP status of a client-node ApiException, or undefined for other errors. */
export { kubernetesErrorStatus as apiStatus } from '../../platform/kubernetes';

/** How this process finds and reaches the Kubernetes apiserver. */
import { ApiException, KubeConfig, Observable, VersionApi, type ConfigurationOptions } from '@kubernetes/client-node';
import { ConfigError, type Config } from './config';
import { DependencyUnavailableError, describeError } from './errors';

/**
 * KUBECONFIG when set; else the pod's service account when running in a cluster; else
 * ~/.kube/config. A kubeconfig that cannot be read is a configuration error.
 */
export function loadKubeConfig(config: Pick<Config, 'kubernetes'>): KubeConfig {
  const kc = new KubeConfig();
  const { kubeconfigPath, inCluster } = config.kubernetes;
  try {
    if (kubeconfigPath !== undefined) kc.loadFromFile(kubeconfigPath);
    else if (inCluster) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    const source = kubeconfigPath ?? (inCluster ? 'in-cluster service account' : '~/.kube/config');
    throw new ConfigError([{ variable: 'KUBECONFIG', reason: `cannot load kubeconfig from ${source}: ${describeError(err)}` }]);
  }
  if (!kc.getCurrentCluster()) {
    throw new ConfigError([
      { variable: 'KUBECONFIG', reason: `kubeconfig context "${kc.getCurrentContext()}" names no cluster` },
    ]);
  }
  return kc;
}

/** Per-call options that abort a request still unanswered after `timeoutMs`. */
export function requestTimeout(timeoutMs: number): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (request) => {
          request.setSignal(AbortSignal.timeout(timeoutMs));
          return new Observable(Promise.resolve(request));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    // Keep the client's own middleware (authentication) and add ours after it.
    middlewareMergeStrategy: 'append',
  };
}

/** Whether a request failed because its requestTimeout() ran out (the only abort AutoCrane causes). */
export function isRequestTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** Resolves when the apiserver answers /version; otherwise throws a DependencyUnavailableError. */
export async function checkKubernetes(kc: KubeConfig, timeoutMs = 3000): Promise<void> {
  const server = kc.getCurrentCluster()?.server ?? '(no cluster)';
  try {
    await kc.makeApiClient(VersionApi).getCode({}, requestTimeout(timeoutMs));
  } catch (err) {
    const reason =
      err instanceof ApiException
        ? `answered HTTP ${err.code}`
        : isRequestTimeout(err)
          ? `did not answer within ${timeoutMs} ms`
          : describeError(err);
    throw new DependencyUnavailableError('kubernetes', `Kubernetes apiserver ${server}: ${reason}`, { cause: err });
  }
}

/** The HTTP status of a failed client-node request (ApiException.code), or undefined for other errors. */
export const kubernetesErrorStatus = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
};

/** How this process finds and reaches the Kubernetes apiserver. */
import { ApiException, KubeConfig, Observable, VersionApi, type ConfigurationOptions } from '@kubernetes/client-node';
import { ConfigError, type Config } from './config';
import { DependencyUnavailableError, describeError } from './errors';
import { JsonListSplitter } from './json-list-splitter';
import { streamKube, type JsonObject } from './kube-json';

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
    throw new ConfigError([{ variable: 'KUBECONFIG', reason: `kubeconfig context "${kc.getCurrentContext()}" names no cluster` }]);
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

/** One page of a list, as plain JSON (no typed models): what a paged LIST returned. */
export interface ListPage<T = JsonObject> {
  items: T[];
  /** The token for the next page; undefined on the last page. */
  continueToken?: string;
  /** The list's resourceVersion (the snapshot every page of one list is read at). */
  resourceVersion?: string;
  /** How many items are left after this page, when the apiserver says (not with selectors). */
  remainingItemCount?: number;
}

export interface ListPageRequest {
  /** The collection's path, e.g. /api/v1/namespaces/ns/pods. */
  path: string;
  limit: number;
  continueToken?: string;
  labelSelector?: string;
  timeoutMs?: number;
}

/** What a page of a LIST says besides its items. */
export type ListPageInfo = Omit<ListPage, 'items'>;

/**
 * One page of a paged LIST, read as it streams in: each item is parsed on its own and handed
 * to onItem as soon as it has arrived (platform/json-list-splitter), so a reader that keeps
 * only a few fields of each item never holds the page's full objects, nor its text. No
 * typed models. Errors are ApiExceptions like the typed clients' (and kubeJson's); a
 * continue token older than the apiserver's compaction window fails with 410. If onItem
 * throws, the request is abandoned and the promise rejects with that error.
 */
export async function streamListPage(kc: KubeConfig, request: ListPageRequest, onItem: (item: JsonObject) => void): Promise<ListPageInfo> {
  const query = { limit: request.limit, continue: request.continueToken || undefined, labelSelector: request.labelSelector || undefined };
  return streamKube<ListPageInfo>(
    kc,
    { path: request.path, query, timeoutMs: request.timeoutMs ?? 30_000 },
    (response, { resolve, reject }, req, where) => {
      const splitter = new JsonListSplitter(onItem);
      response.on('data', (chunk: Buffer) => {
        try {
          splitter.write(chunk);
        } catch (err) {
          req.destroy();
          reject(err instanceof SyntaxError ? new Error(`${where}: the answer is not JSON`, { cause: err }) : err);
        }
      });
      response.on('error', reject);
      response.on('end', () => {
        try {
          const list = splitter.end() as { metadata?: { continue?: unknown; resourceVersion?: unknown; remainingItemCount?: unknown } };
          const info: ListPageInfo = {};
          if (typeof list.metadata?.continue === 'string' && list.metadata.continue) info.continueToken = list.metadata.continue;
          if (typeof list.metadata?.resourceVersion === 'string' && list.metadata.resourceVersion)
            info.resourceVersion = list.metadata.resourceVersion;
          if (typeof list.metadata?.remainingItemCount === 'number') info.remainingItemCount = list.metadata.remainingItemCount;
          resolve(info);
        } catch (err) {
          reject(new Error(`${where}: the answer is not a complete JSON list`, { cause: err }));
        }
      });
    },
  );
}

/** One page of a paged LIST as plain JSON objects, with no typed models (streamListPage, keeping every item). */
export async function getListPage(kc: KubeConfig, request: ListPageRequest): Promise<ListPage> {
  const items: JsonObject[] = [];
  const info = await streamListPage(kc, request, (item) => items.push(item));
  return { items, ...info };
}

/**
 * For a LIST whose continue token expired (410 ResourceExpired): the token the apiserver sent
 * with the error, which continues the list where it stopped but no longer from one consistent
 * snapshot. Undefined for any other error, or when the apiserver sent none.
 */
export function expiredListContinueToken(error: unknown): string | undefined {
  if (kubernetesErrorStatus(error) !== 410) return undefined;
  const body = (error as { body?: unknown }).body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { metadata?: { continue?: unknown } } | null;
    const token = status?.metadata?.continue;
    return typeof token === 'string' && token !== '' ? token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows one pod through a Kubernetes watch (fieldSelector metadata.name=<pod>), not a poll,
 * and writes its status annotations, over platform/kube-http.ts (not client-node: see there).
 * Each connection starts with a GET, so the pod is seen whole even when the watch's
 * resourceVersion has expired (410) meanwhile; a connection that fails or ends early is
 * re-established with backoff (1 s doubling to 30 s), and the server-side timeout is
 * jittered so that many deployers do not reconnect in step.
 */
import type { Logger } from '../platform/logger';
import { KubeApiError, type KubeHttp } from '../platform/kube-http';
import { describeError } from '../platform/errors';

export interface PodRef {
  namespace: string;
  name: string;
}

/** The part of a pod the data deployer reads. */
export interface PodObject {
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
}

export const WATCH_BACKOFF_MIN_MS = 1000;
export const WATCH_BACKOFF_MAX_MS = 30_000;
/** Server-side timeout of one watch request, plus up to a minute of jitter. */
const WATCH_TIMEOUT_SECONDS = 240;
/** A watch the server has not ended this long after its own timeout is dead (a lost connection). */
const WATCH_GRACE_MS = 30_000;
const READ_TIMEOUT_MS = 10_000;
const PATCH_TIMEOUT_MS = 10_000;
/** A watch that lasted this long was healthy: the next reconnect starts without delay. */
const HEALTHY_WATCH_MS = 30_000;

const podPath = (ref: PodRef) => `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/pods/${encodeURIComponent(ref.name)}`;

/** Reads the pod once; the error says which pod and why. */
export async function readPod(kube: KubeHttp, ref: PodRef): Promise<PodObject> {
  try {
    return await kube.json<PodObject>({ method: 'GET', path: podPath(ref), timeoutMs: READ_TIMEOUT_MS });
  } catch (err) {
    const hint = err instanceof KubeApiError && err.status === 403 ? ' (the service account needs get, watch and patch on pods)' : '';
    const why = `${describeError(err)}${hint}`;
    throw new Error(`reading pod ${ref.namespace}/${ref.name}: ${why}`, { cause: err });
  }
}

/** Sets the pod's annotations `annotations` (null removes one) by a JSON merge patch of only those keys. */
export async function patchPodAnnotations(
  kube: KubeHttp,
  ref: PodRef,
  annotations: Record<string, string | null>,
  fieldManager: string,
): Promise<void> {
  await kube.json({
    method: 'PATCH',
    path: podPath(ref),
    query: { fieldManager },
    body: { metadata: { annotations } },
    contentType: 'application/merge-patch+json',
    timeoutMs: PATCH_TIMEOUT_MS,
  });
}

/** Calls onPod with every version of the pod until `signal` aborts; never throws. */
export async function followPod(
  kube: KubeHttp,
  ref: PodRef,
  onPod: (pod: PodObject) => void,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  let backoff = 0;
  while (!signal.aborted) {
    const startedAt = Date.now();
    let problem: string | undefined;
    try {
      const pod = await readPod(kube, ref);
      onPod(pod);
      problem = await watchOnce(kube, ref, pod.metadata?.resourceVersion, onPod, signal);
    } catch (err) {
      problem = describeError(err);
    }
    if (signal.aborted) return;
    if (problem === undefined && Date.now() - startedAt >= HEALTHY_WATCH_MS) backoff = 0;
    else backoff = Math.min(WATCH_BACKOFF_MAX_MS, Math.max(WATCH_BACKOFF_MIN_MS, backoff * 2));
    if (problem !== undefined) logger.warn({ retryInMs: backoff }, `watching pod ${ref.namespace}/${ref.name} failed: ${problem}`);
    await sleep(backoff, signal);
  }
}

/**
 * One watch request, from `resourceVersion` (a streamed GET of JSON lines); resolves when the
 * server ends it, with why when it failed. An ERROR event (typically 410 Gone: the version
 * is too old) ends it too; the next connection GETs the pod afresh.
 */
async function watchOnce(
  kube: KubeHttp,
  ref: PodRef,
  resourceVersion: string | undefined,
  onPod: (pod: PodObject) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  const timeoutSeconds = WATCH_TIMEOUT_SECONDS + Math.floor(Math.random() * 60);
  let problem: string | undefined;
  const ended = new AbortController();
  try {
    await kube.stream(
      {
        path: `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/pods`,
        query: { watch: true, fieldSelector: `metadata.name=${ref.name}`, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        timeoutMs: timeoutSeconds * 1000 + WATCH_GRACE_MS,
        signal: AbortSignal.any([signal, ended.signal]),
      },
      (line) => {
        const event = line as { type?: unknown; object?: unknown };
        if (event.type === 'ADDED' || event.type === 'MODIFIED') onPod(event.object as PodObject);
        else if (event.type === 'ERROR') {
          problem = `watch error: ${(event.object as { message?: string } | null)?.message ?? 'unknown'}`;
          ended.abort();
        }
      },
    );
  } catch (err) {
    if (signal.aborted || ended.signal.aborted) return problem;
    return describeError(err);
  }
  return problem;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follows one pod through a Kubernetes watch (fieldSelector metadata.name=<pod>), not a poll.
 * Each connection starts with a GET, so the pod is seen whole even when the watch's
 * resourceVersion has expired (410) meanwhile; a connection that fails or ends early is
 * re-established with backoff (1 s doubling to 30 s), and the server-side timeout is
 * jittered so that many deployers do not reconnect in step.
 */
import { CoreV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { describeError } from '../platform/errors';
import { kubernetesErrorStatus, requestTimeout } from '../platform/kubernetes';
import type { Logger } from '../platform/logger';

export interface PodRef {
  namespace: string;
  name: string;
}

export const WATCH_BACKOFF_MIN_MS = 1000;
export const WATCH_BACKOFF_MAX_MS = 30_000;
/** Server-side timeout of one watch request, plus up to a minute of jitter. */
const WATCH_TIMEOUT_SECONDS = 240;
const READ_TIMEOUT_MS = 10_000;
/** A watch that lasted this long was healthy: the next reconnect starts without delay. */
const HEALTHY_WATCH_MS = 30_000;

/** Reads the pod once; the error says which pod and why. */
export async function readPod(kc: KubeConfig, ref: PodRef): Promise<V1Pod> {
  try {
    return await kc.makeApiClient(CoreV1Api).readNamespacedPod(ref, requestTimeout(READ_TIMEOUT_MS));
  } catch (err) {
    const code = kubernetesErrorStatus(err);
    const why = code === undefined ? describeError(err) : `the apiserver answered HTTP ${code}${code === 403 ? ' (the service account needs get and watch on pods)' : ''}`;
    throw new Error(`reading pod ${ref.namespace}/${ref.name}: ${why}`, { cause: err });
  }
}

/** Calls onPod with every version of the pod until `signal` aborts; never throws. */
export async function followPod(kc: KubeConfig, ref: PodRef, onPod: (pod: V1Pod) => void, logger: Logger, signal: AbortSignal): Promise<void> {
  const watch = new Watch(kc);
  let backoff = 0;
  while (!signal.aborted) {
    const startedAt = Date.now();
    let problem: string | undefined;
    try {
      const pod = await readPod(kc, ref);
      onPod(pod);
      problem = await watchOnce(watch, ref, pod.metadata?.resourceVersion, onPod, signal);
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

/** One watch request; resolves when it ends, with why when it failed. */
async function watchOnce(
  watch: Watch,
  ref: PodRef,
  resourceVersion: string | undefined,
  onPod: (pod: V1Pod) => void,
  signal: AbortSignal,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let problem: string | undefined;
    const abort = () => void controller.then((c) => c.abort());
    const controller = watch.watch(
      `/api/v1/namespaces/${ref.namespace}/pods`,
      {
        fieldSelector: `metadata.name=${ref.name}`,
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: WATCH_TIMEOUT_SECONDS + Math.floor(Math.random() * 60),
      },
      (type: string, object: unknown) => {
        if (type === 'ADDED' || type === 'MODIFIED') onPod(object as V1Pod);
        // An ERROR event (typically 410 Gone) ends the stream; the next connection GETs afresh.
        else if (type === 'ERROR') problem = `watch error: ${(object as { message?: string } | null)?.message ?? 'unknown'}`;
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        resolve(err && !signal.aborted ? describeError(err) : problem);
      },
    );
    signal.addEventListener('abort', abort, { once: true });
  });
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

/** Workloads and pod states the integration tests build on the sandbox cluster. */
import {
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type CoreV1Api,
  type KubeConfig,
  type V1Deployment,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { HEALTH_LABEL, STATUS_ANNOTATION_PREFIX } from '../../domain/shared/keys';
import { isPodReady } from './kube';

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const podTemplate = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }], terminationGracePeriodSeconds: 0 },
});

export const deployment = (name: string, replicas: number): V1Deployment => ({
  metadata: { name },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate(name) },
});

export const statefulSet = (name: string, replicas: number): V1StatefulSet => ({
  metadata: { name },
  spec: { replicas, serviceName: name, selector: { matchLabels: { app: name } }, template: podTemplate(name) },
});

/** Pods of `app` that are not terminating. */
export async function livePods(core: CoreV1Api, namespace: string, app: string): Promise<V1Pod[]> {
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items;
  return pods
    .filter((p) => !p.metadata?.deletionTimestamp)
    .sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
}

/** Waits until `app` has exactly `count` ready, non-terminating pods, and returns them. */
export async function readyPods(
  core: CoreV1Api,
  namespace: string,
  app: string,
  count: number,
  eventually: <T>(fn: () => Promise<T>, ms?: number) => Promise<T>,
) {
  return eventually(async () => {
    const pods = await livePods(core, namespace, app);
    if (pods.length !== count || !pods.every(isPodReady))
      throw new Error(`${app}: ${pods.filter(isPodReady).length}/${count} ready of ${pods.length}`);
    return pods;
  }, 60_000);
}

/** Sets a pod's watchdog `name` to error, as an app posting its own watchdog would (label included). */
export async function markPodError(core: CoreV1Api, namespace: string, pod: string, name = 'app', message = 'broken'): Promise<void> {
  const value = `error/${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}/${message}`;
  await core.patchNamespacedPod(
    {
      namespace,
      name: pod,
      body: { metadata: { labels: { [HEALTH_LABEL]: 'error' }, annotations: { [`${STATUS_ANNOTATION_PREFIX}${name}`]: value } } },
    },
    mergePatch,
  );
}

/** Clears the error, as the prober does on recovery. */
export async function markPodHealthy(core: CoreV1Api, namespace: string, pod: string, name = 'app'): Promise<void> {
  const value = `info/${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}/error cleared`;
  await core.patchNamespacedPod(
    {
      namespace,
      name: pod,
      body: { metadata: { labels: { [HEALTH_LABEL]: 'info' }, annotations: { [`${STATUS_ANNOTATION_PREFIX}${name}`]: value } } },
    },
    mergePatch,
  );
}

/**
 * Watches the pods of `app` and records the fewest that were ready and not terminating
 * after every change, so a test can assert availability never dropped below a bound.
 */
export async function watchAvailability(kc: KubeConfig, namespace: string, app: string) {
  const pods = new Map<string, V1Pod>();
  let minimum = Number.POSITIVE_INFINITY;
  let armed = false;
  const seen = new Set<string>();
  const firstSeen = new Map<string, number>();
  let failure: unknown;
  let stopped = false;
  const available = () => [...pods.values()].filter((p) => !p.metadata?.deletionTimestamp && isPodReady(p)).length;
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { labelSelector: `app=${app}` },
    (type: string, pod: V1Pod) => {
      const uid = String(pod.metadata?.uid);
      seen.add(uid);
      if (!firstSeen.has(uid)) firstSeen.set(uid, Date.now());
      if (type === 'DELETED') pods.delete(uid);
      else pods.set(uid, pod);
      if (armed) minimum = Math.min(minimum, available());
    },
    (err: unknown) => {
      if (stopped) return;
      // A watch that ended (with an error or not) saw nothing since: its minimum would be stale.
      failure = err && (err as { name?: string }).name !== 'AbortError' ? err : new Error('the pods watch ended before stop()');
    },
  );
  return {
    /**
     * Starts recording once the watch's initial events have arrived (`expected` pods
     * available): before that the count only climbs from 0 as they come in.
     */
    async arm(expected: number, eventually: <T>(fn: () => Promise<T>, ms?: number) => Promise<T>) {
      await eventually(async () => {
        if (available() < expected) throw new Error(`watch sees ${available()} of ${expected} available pods`);
      }, 30_000);
      minimum = available();
      armed = true;
    },
    /** Fewest available pods seen since arm(); throws if the watch did not last until now. */
    get minimum() {
      if (failure !== undefined) throw new Error(`availability was not watched throughout: ${String(failure)}`);
      return minimum;
    },
    get podsSeen() {
      return seen.size;
    },
    /** When the watch first saw the pod with this UID (Date.now()), if it did. */
    firstSeen: (uid: string) => firstSeen.get(uid),
    get error() {
      return failure;
    },
    stop: () => {
      stopped = true;
      controller.abort();
    },
  };
}

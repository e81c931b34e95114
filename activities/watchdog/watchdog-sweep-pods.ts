/**
 * The pods a watchdog sweep reads: one page of a namespace's pods at a time, each reduced to the
 * few fields a sweep decides with (SweepPod) as soon as it has arrived.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { HEALTH_LABEL, PROBE_ANNOTATION_PREFIX, STATUS_ANNOTATION_PREFIX } from '../../domain/shared/keys';
import type { JsonObject } from '../../platform/kube-json';
import { streamListPage } from '../../platform/kubernetes';

/** The fields of a listed pod that a sweep decides with; the rest of the pod is dropped. */
export interface SweepPod {
  name: string;
  uid: string;
  resourceVersion?: string;
  podIP?: string;
  phase?: string;
  containerStatuses: Array<{ ready: boolean }>;
  deleting: boolean;
  /** Only the probe.autocrane.io/* and status.autocrane.io/* annotations. */
  annotations: Record<string, string>;
  /** The status.autocrane.io/health label, if set. */
  healthLabel?: string;
}

export interface SweepPodPage {
  pods: SweepPod[];
  /** The token of the next page; absent on the last page. */
  continueToken?: string;
  remainingItemCount?: number;
}

/** Lists one page of a namespace's pods (from the start when continueToken is undefined). */
export type ListSweepPods = (namespace: string, continueToken: string | undefined) => Promise<SweepPodPage>;

export const LIST_PAGE_SIZE = 500;
const LIST_TIMEOUT_MS = 60_000;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const stringOr = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * The SweepPod of one item of a raw pod list, or undefined if it has no name. Keeps only our
 * annotations and label: the rest (managedFields, specs, other annotations) goes with the page.
 */
export function toSweepPod(item: JsonObject): SweepPod | undefined {
  const metadata = isObject(item.metadata) ? item.metadata : {};
  const status = isObject(item.status) ? item.status : {};
  const name = stringOr(metadata.name);
  if (!name) return undefined;
  const annotations: Record<string, string> = {};
  if (isObject(metadata.annotations)) {
    for (const [key, value] of Object.entries(metadata.annotations)) {
      if (typeof value === 'string' && (key.startsWith(PROBE_ANNOTATION_PREFIX) || key.startsWith(STATUS_ANNOTATION_PREFIX))) {
        annotations[key] = value;
      }
    }
  }
  const containerStatuses = Array.isArray(status.containerStatuses)
    ? status.containerStatuses.map((c) => ({ ready: isObject(c) && c.ready === true }))
    : [];
  const pod: SweepPod = {
    name,
    uid: stringOr(metadata.uid) ?? '',
    containerStatuses,
    deleting: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
    annotations,
  };
  const resourceVersion = stringOr(metadata.resourceVersion);
  if (resourceVersion !== undefined) pod.resourceVersion = resourceVersion;
  const podIP = stringOr(status.podIP);
  if (podIP) pod.podIP = podIP;
  const phase = stringOr(status.phase);
  if (phase !== undefined) pod.phase = phase;
  const healthLabel = isObject(metadata.labels) ? stringOr(metadata.labels[HEALTH_LABEL]) : undefined;
  if (healthLabel !== undefined) pod.healthLabel = healthLabel;
  return pod;
}

/**
 * Pages of a namespace's pods read through the kubeconfig's apiserver: each pod is reduced to
 * a SweepPod as soon as it has arrived, so neither the page's text nor its full objects are
 * ever held at once.
 */
export function sweepPodLister(kc: KubeConfig, pageSize = LIST_PAGE_SIZE): ListSweepPods {
  return async (namespace, continueToken) => {
    const pods: SweepPod[] = [];
    const info = await streamListPage(
      kc,
      { path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, limit: pageSize, continueToken, timeoutMs: LIST_TIMEOUT_MS },
      (item) => {
        const pod = toSweepPod(item);
        if (pod) pods.push(pod);
      },
    );
    const result: SweepPodPage = { pods };
    if (info.continueToken !== undefined) result.continueToken = info.continueToken;
    if (info.remainingItemCount !== undefined) result.remainingItemCount = info.remainingItemCount;
    return result;
  };
}

/**
 * The data-rollout activities' pod I/O: listing a source's consumers and vouchers, and writing
 * their data requests (a merge patch of the one request key) with bounded concurrency, a pod
 * the apiserver refuses recorded for that pod so the others are still written.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  dataRequestKey,
  dataStatusKey,
  formatDataRequest,
  parseDataStatus,
  podDataDeclaration,
  type DataStatus,
} from '../../domain/data/data-contract';
import { readRequest, requestOf, type ConsumerView, type DataRef, type DataRelease } from '../../domain/data/data-rollout';
import type { DataScope } from '../../domain/data/data-rollout-types';
import { FIELD_MANAGER } from '../../domain/shared/keys';
import { failsTheLoop, loopWrites, type PodWriteRefusalClass } from '../../domain/shared/pod-write-refusal';
import { CONTENT_TYPES, kubeJson } from '../../platform/kube-json';
import { describeRefusal, type PodWriteRefusals, type RefusalLog } from '../shared/pod-write-refusals';
import type { PodJson } from '../rollout/rollout-kube-json';

/** Requests written at once. */
const WRITE_CONCURRENCY = 16;

export interface DataPods {
  consumers: (ConsumerView & { pod: PodJson })[];
  vouchers: PodJson[];
}

const podsPath = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;

function readStatus(text: string | undefined): DataStatus | null {
  if (text === undefined) return null;
  const parsed = parseDataStatus(text);
  return parsed.ok ? parsed.value : null;
}

/** The source's consumers and vouchers among the namespace's pods (terminating ones left out). */
export async function listDataPods(kc: KubeConfig, scope: DataScope): Promise<DataPods> {
  const list = await kubeJson<{ items: PodJson[] }>(kc, { method: 'GET', path: podsPath(scope.namespace) });
  const result: DataPods = { consumers: [], vouchers: [] };
  for (const pod of list.items) {
    if (pod.metadata.deletionTimestamp) continue;
    const annotations = pod.metadata.annotations;
    const declared = podDataDeclaration(annotations);
    if (declared.consumes.includes(scope.source)) {
      result.consumers.push({
        name: pod.metadata.name,
        request: readRequest(annotations?.[dataRequestKey(scope.source)]),
        status: readStatus(annotations?.[dataStatusKey(scope.source)]),
        pod,
      });
    }
    if (declared.vouchesFor.includes(scope.source)) result.vouchers.push(pod);
  }
  return result;
}

/**
 * Writes the requests; a request the apiserver refuses for one pod is recorded for that pod
 * (which then backs off) and the others are written. Returns the pods refused for their own
 * reasons (or backing off after such a refusal), with why. Throws only when the apiserver is
 * unreachable or refuses every request for reasons no pod explains.
 */
export async function writeDataRequests(
  io: { kc: KubeConfig; refusals: PodWriteRefusals; logRefusal: RefusalLog },
  scope: DataScope,
  pods: DataPods,
  writes: { pod: string; ref: DataRef }[],
  releases: DataRelease[],
): Promise<{ written: number; refused: Map<string, string> }> {
  const { kc, refusals, logRefusal } = io;
  const byVersion = new Map(releases.map((r) => [r.version.id, r]));
  const uids = new Map(pods.consumers.map((c) => [c.name, c.pod.metadata.uid]));
  let written = 0;
  const refused = new Map<string, string>();
  const failures: Array<PodWriteRefusalClass & { error: unknown }> = [];
  for (let i = 0; i < writes.length; i += WRITE_CONCURRENCY) {
    await Promise.all(
      writes.slice(i, i + WRITE_CONCURRENCY).map(async ({ pod, ref }) => {
        const release = byVersion.get(ref.version);
        if (!release) throw new Error(`no release for version ${ref.version}`);
        const podRef = { namespace: scope.namespace, name: pod, uid: uids.get(pod) ?? '' };
        const blocked = refusals.blocked(podRef);
        if (blocked) {
          const why = blocked.why ?? 'refused earlier';
          refused.set(
            pod,
            `${why}; backing off until ${new Date(blocked.retryAt).toISOString()} (refusal ${blocked.attempts} in a row), see its Events`,
          );
          return;
        }
        try {
          await kubeJson(kc, {
            method: 'PATCH',
            path: `${podsPath(scope.namespace)}/${encodeURIComponent(pod)}`,
            query: { fieldManager: FIELD_MANAGER },
            body: { metadata: { annotations: { [dataRequestKey(scope.source)]: formatDataRequest(requestOf(release)) } } },
            contentType: CONTENT_TYPES.mergePatch,
          });
          written += 1;
          refusals.succeeded(podRef);
        } catch (err) {
          // Deleted since the list: nothing to ask of it.
          if ((err as { code?: number }).code === 404) return;
          const refusal = await refusals.record(podRef, `write its ${scope.source} data request`, err, logRefusal);
          failures.push({ ...refusal, error: err });
          // A 5xx, 429 or no answer is tried again at the next poll: the pod is not refused for good.
          if (!refusal.systemic) refused.set(pod, describeRefusal(refusal));
        }
      }),
    );
  }
  if (failsTheLoop(loopWrites(written, failures))) throw failures[0]!.error;
  return { written, refused };
}

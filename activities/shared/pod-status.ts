/**
 * Writes watchdog statuses onto a pod: a JSON merge patch naming only the status keys
 * that change and the health label, guarded by the pod's resourceVersion. The label is
 * computed from the annotations we read, so a concurrent write must make us re-read
 * rather than overwrite: on 409 the pod is read again and the updates recomputed. This is
 * what AutoCrane's whole-map replacement got wrong (lost updates).
 */
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';
import { FIELD_MANAGER, HEALTH_LABEL } from '../../domain/shared/keys';
import { buildStatusPatch, type Annotations } from '../../domain/watchdog/watchdog-annotations';
import { classifyPodWriteRefusal } from '../../domain/shared/pod-write-refusal';
import { kubernetesErrorStatus } from '../../platform/kubernetes';
import { apiserverAnswer } from './pod-write-refusals';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Decides the updates from the pod's current annotations (name → value, null removes). */
export type StatusUpdates = (annotations: Annotations) => Readonly<Record<string, string | null>>;

export type StatusWriteOutcome = 'written' | 'unchanged' | 'pod-gone';

/**
 * What the writer needs of a pod already read: a V1Pod will do, and so will the few fields a
 * sweep keeps of each listed pod (only its status.* annotations and its health label need be
 * there: the updates are decided, and the label computed, from status annotations alone).
 */
export interface PodStatusSnapshot {
  metadata?: {
    resourceVersion?: string;
    annotations?: Readonly<Record<string, string>>;
    labels?: Readonly<Record<string, string>>;
  };
}

/** The two pod calls the writer makes. */
export type PodStatusApi = Pick<CoreV1Api, 'readNamespacedPod' | 'patchNamespacedPod'>;

export async function writePodStatuses(
  core: PodStatusApi,
  target: { namespace: string; name: string },
  computeUpdates: StatusUpdates,
  options: {
    pod?: PodStatusSnapshot;
    maxAttempts?: number;
    /**
     * A shorter form of a value, tried once when the apiserver refuses the write as too large
     * (the pod's annotations are near their 256 KiB limit); without it, that refusal is thrown.
     */
    shorten?: (value: string) => string;
  } = {},
): Promise<StatusWriteOutcome> {
  const maxAttempts = options.maxAttempts ?? 10;
  let pod: PodStatusSnapshot | undefined = options.pod;
  let shortened = false;
  const updatesOf = (annotations: Annotations): Readonly<Record<string, string | null>> => {
    const updates = computeUpdates(annotations);
    if (!shortened || options.shorten === undefined) return updates;
    const shorten = options.shorten;
    return Object.fromEntries(Object.entries(updates).map(([name, value]) => [name, value === null ? null : shorten(value)]));
  };
  for (let attempt = 1; ; attempt++) {
    try {
      pod ??= await core.readNamespacedPod(target);
    } catch (error) {
      if (kubernetesErrorStatus(error) === 404) return 'pod-gone';
      throw error;
    }
    const annotations = pod.metadata?.annotations ?? {};
    const patch = buildStatusPatch(annotations, updatesOf(annotations), { resourceVersion: pod.metadata?.resourceVersion });
    const labelBefore = pod.metadata?.labels?.[HEALTH_LABEL] ?? null;
    if (Object.keys(patch.metadata.annotations).length === 0 && patch.metadata.labels[HEALTH_LABEL] === labelBefore) {
      return 'unchanged';
    }
    try {
      await core.patchNamespacedPod({ ...target, body: patch, fieldManager: FIELD_MANAGER }, mergePatch);
      return 'written';
    } catch (error) {
      const status = kubernetesErrorStatus(error);
      if (status === 404) return 'pod-gone';
      if (!shortened && options.shorten !== undefined && classifyPodWriteRefusal(apiserverAnswer(error)).reason === 'too-large') {
        shortened = true; // the same pod, a smaller write
        continue;
      }
      if (status !== 409 || attempt >= maxAttempts) throw error;
      pod = undefined; // someone else wrote in between: read again and recompute
      // A short random pause, so writers racing for one pod do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}

/**
 * The workload reader: what a rollout start needs to know of its target before anything
 * starts (does it exist, its live template and selector, which rollout holds it). The port the
 * router depends on, and its Kubernetes implementation.
 */
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import type { PodTemplate } from '../../domain/rollout/pod-template-change';
import type { LiveTemplate } from '../../domain/rollout/rollout-request';
import type { RolloutTarget } from '../../domain/rollout/rollout-spec';
import { kubernetesErrorStatus, requestTimeout } from '../../platform/kubernetes';

/** What a start checks its change against: the target's live pod template and selector. */
export interface LiveWorkload extends LiveTemplate {
  /** The rollout annotation's value: the ID of the rollout holding the workload, null when none does. */
  heldBy: string | null;
}

/** Reads a target workload (null when it does not exist); kubernetesWorkloadReader is the real one. */
export interface WorkloadReader {
  read(target: RolloutTarget): Promise<LiveWorkload | null>;
}

const KUBERNETES_TIMEOUT_MS = 5000;

export function kubernetesWorkloadReader(kc: KubeConfig): WorkloadReader {
  const apps = kc.makeApiClient(AppsV1Api);
  return {
    async read({ namespace, kind, name }) {
      try {
        const workload =
          kind === 'Deployment'
            ? await apps.readNamespacedDeployment({ name, namespace }, requestTimeout(KUBERNETES_TIMEOUT_MS))
            : await apps.readNamespacedStatefulSet({ name, namespace }, requestTimeout(KUBERNETES_TIMEOUT_MS));
        // The client's model as JSON: a pod template's keys are the apiserver's. Should a detail
        // differ (a date's format), a whole-template change would only look changed when it is
        // not, and prepareRollout still refuses it: the check errs towards starting.
        return {
          template: JSON.parse(JSON.stringify(workload.spec?.template ?? {})) as PodTemplate,
          matchLabels: workload.spec?.selector.matchLabels ?? {},
          heldBy: workload.metadata?.annotations?.[ROLLOUT_ANNOTATION] ?? null,
        };
      } catch (err) {
        if (kubernetesErrorStatus(err) === 404) return null;
        throw err;
      }
    },
  };
}

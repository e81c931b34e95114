/**
 * The Kubernetes calls repair makes, in one narrow interface: the sweep's listing and the
 * evictions both take it, so unit tests can stand in for the apiserver.
 */
import { CoreV1Api, EventsV1Api, KubernetesObjectApi, PolicyV1Api, type KubeConfig } from '@kubernetes/client-node';

/** The Kubernetes calls repair makes; narrow, so unit tests can stand in for the apiserver. */
export interface RepairKube {
  core: Pick<CoreV1Api, 'listNamespacedPod' | 'createNamespacedPodEvictionWithHttpInfo'>;
  policy: Pick<PolicyV1Api, 'listNamespacedPodDisruptionBudget'>;
  events: Pick<EventsV1Api, 'createNamespacedEvent'>;
  /** Reads a pod's owner of any kind, CRDs included (the kind's resource is found by discovery). */
  objects: Pick<KubernetesObjectApi, 'read'>;
}

export function repairKube(kc: KubeConfig): RepairKube {
  return {
    core: kc.makeApiClient(CoreV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    events: kc.makeApiClient(EventsV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

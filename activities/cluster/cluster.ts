import { CoreV1Api, VersionApi, type KubeConfig } from '@kubernetes/client-node';
import { ZONE_LABEL } from '../../domain/shared/keys';
import { requestTimeout } from '../../platform/kubernetes';
import { toActivityFailure } from '../shared/kubernetes-errors';

const REQUEST_TIMEOUT_MS = 10_000;

export interface ClusterDescription {
  gitVersion: string;
  nodeCount: number;
  /** Distinct values of the nodes' zone label, sorted. */
  zones: string[];
}

export function createClusterActivities(kc: KubeConfig) {
  const versionApi = kc.makeApiClient(VersionApi);
  const coreApi = kc.makeApiClient(CoreV1Api);

  return {
    async describeCluster(): Promise<ClusterDescription> {
      const version = await versionApi.getCode({}, requestTimeout(REQUEST_TIMEOUT_MS)).catch((err: unknown) => {
        throw toActivityFailure(err, 'read apiserver version');
      });
      const nodes = await coreApi.listNode({}, requestTimeout(REQUEST_TIMEOUT_MS)).catch((err: unknown) => {
        throw toActivityFailure(err, 'list nodes');
      });
      const zones = new Set<string>();
      for (const node of nodes.items) {
        const zone = node.metadata?.labels?.[ZONE_LABEL];
        if (zone) zones.add(zone);
      }
      return { gitVersion: version.gitVersion, nodeCount: nodes.items.length, zones: [...zones].sort() };
    },
  };
}

export type ClusterActivities = ReturnType<typeof createClusterActivities>;

import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { ClusterActivities, ClusterDescription } from '../../activities/cluster/cluster';
import { AUTOCRANE_STATE } from '../../contracts/search-attributes';

const { describeCluster } = proxyActivities<ClusterActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/** Smoke test of the whole path: worker, activity, apiserver and search attributes. */
export async function clusterCheckWorkflow(): Promise<ClusterDescription> {
  const description = await describeCluster();
  upsertSearchAttributes([{ key: AUTOCRANE_STATE, value: 'Succeeded' }]);
  return description;
}

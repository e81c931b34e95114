import { proxyActivities } from '@temporalio/workflow';
import type { DataPollInput, DataPollSummary, createDataRepositoryActivities } from '../activities/data-repository';

const { pollDataSource } = proxyActivities<ReturnType<typeof createDataRepositoryActivities>>({
  // A first clone or download of a large source takes a while; the heartbeat catches a dead worker.
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * One poll of a data source, started by its Temporal Schedule (`data-poll/<source>`) on the
 * data repository's own task queue, where the store is. One activity: fetch, store, prune,
 * announce; it is idempotent, so a retry after a crash neither stores nor announces twice.
 */
export async function dataPollWorkflow(input: DataPollInput): Promise<DataPollSummary> {
  return pollDataSource(input);
}

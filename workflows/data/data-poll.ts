import { log, patched, proxyActivities } from '@temporalio/workflow';
import type { DataPollInput, DataPollSummary, createDataRepositoryActivities } from '../../activities/data/data-repository';
import type { DataRefusalEventActivities } from '../../activities/data/data-refusal-event';

const { pollDataSource } = proxyActivities<ReturnType<typeof createDataRepositoryActivities>>({
  // A first clone or download of a large source takes a while; the heartbeat catches a dead worker.
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

const REFUSAL_EVENT_PATCH = 'data-poll-records-refusal-event';

/**
 * One poll of a data source, started by its Temporal Schedule (`data-poll/<source>`) on the
 * data repository's own task queue, where the store is. One activity: fetch, store, prune,
 * announce; it is idempotent, so a retry after a crash neither stores nor announces twice.
 *
 * A refusal this poll made is told to the source's namespaces by Event, on the main worker's
 * task queue: the repository process parses hostile archives and holds no cluster credentials.
 * Not recording the Event does not fail the poll (status and metric are recorded already).
 */
export async function dataPollWorkflow(input: DataPollInput): Promise<DataPollSummary> {
  const summary = await pollDataSource(input);
  // No watched namespace, no one to tell (and maybe no worker on the main queue to wait for).
  if (summary.refused && summary.newRefusal && summary.mainTaskQueue && summary.watchedNamespaces?.length && patched(REFUSAL_EVENT_PATCH)) {
    const { recordDataArchiveRefusal } = proxyActivities<DataRefusalEventActivities>({
      taskQueue: summary.mainTaskQueue,
      startToCloseTimeout: '30 seconds',
      // With no worker polling the main queue, give up before the next scheduled poll is due.
      scheduleToCloseTimeout: '2 minutes',
      retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
    });
    try {
      await recordDataArchiveRefusal({ source: input.source, refusal: summary.refused, namespaces: summary.watchedNamespaces });
    } catch (err) {
      log.warn('DataArchiveRefused Event not recorded', { source: input.source, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return summary;
}

/**
 * One Temporal Schedule per data source starts dataPollWorkflow every interval on the data
 * repository's task queue. Made idempotently when the data repository starts: an existing
 * schedule is brought to the configured interval and task queue, and (with removeStale) the
 * schedules of sources no longer in the sources file are deleted.
 */
import type { Client } from '@temporalio/client';
import type { DataPollInput } from '../activities/data/data-repository';
import { DATA_POLL_SCHEDULE_PREFIX, dataPollScheduleId } from '../contracts/schedule-ids';
import { reconcileSchedules, type DesiredSchedule, type ScheduleReconciliation } from './schedules';
import { DATA_POLL_WORKFLOW_TYPE } from '../contracts/workflow-types';

export interface DataPollScheduleOptions {
  sources: readonly string[];
  intervalSeconds: number;
  /** The data repository's task queue. */
  taskQueue: string;
  /** Delete this task queue's poll schedules of sources not in `sources`. */
  removeStale?: boolean;
}

export async function ensureDataPollSchedules(client: Client, options: DataPollScheduleOptions): Promise<ScheduleReconciliation> {
  const desired = options.sources.map((source): DesiredSchedule => ({
    scheduleId: dataPollScheduleId(source),
    spec: { intervals: [{ every: `${options.intervalSeconds}s` }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: DATA_POLL_WORKFLOW_TYPE,
      args: [{ source } satisfies DataPollInput],
      taskQueue: options.taskQueue,
      workflowId: `data-poll/${source}`,
      workflowExecutionTimeout: '1 hour',
    },
    note: `polling of data source ${source}`,
  }));
  return reconcileSchedules(
    client,
    desired,
    options.removeStale ? { idPrefix: DATA_POLL_SCHEDULE_PREFIX, taskQueue: options.taskQueue } : undefined,
  );
}

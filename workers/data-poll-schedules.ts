/**
 * One Temporal Schedule per data source starts dataPollWorkflow every interval on the data
 * repository's task queue. Made idempotently when the data repository starts: an existing
 * schedule is brought to the configured interval and task queue.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
import type { DataPollInput } from '../activities/data-repository';

export const dataPollScheduleId = (source: string) => `data-poll/${source}`;
/** The data repository's own task queue: its activity must run where its store is. */
export const dataRepositoryTaskQueue = (taskQueue: string) => `${taskQueue}-data-repository`;

export interface DataPollScheduleOptions {
  sources: readonly string[];
  intervalSeconds: number;
  /** The data repository's task queue. */
  taskQueue: string;
}

export async function ensureDataPollSchedules(client: Client, options: DataPollScheduleOptions): Promise<string[]> {
  const ids: string[] = [];
  for (const source of options.sources) {
    const scheduleId = dataPollScheduleId(source);
    const spec: ScheduleSpec = { intervals: [{ every: `${options.intervalSeconds}s` }] };
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow',
      workflowType: 'dataPollWorkflow',
      args: [{ source } satisfies DataPollInput],
      taskQueue: options.taskQueue,
      workflowId: `data-poll/${source}`,
      workflowExecutionTimeout: '1 hour',
    };
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action,
        // A poll still running (a long first clone) when the next is due is skipped: the next finds the same content.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
        state: { note: `polling of data source ${source}` },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    }
    ids.push(scheduleId);
  }
  return ids;
}

/**
 * Temporal Schedules kept in line with the configuration: each desired schedule is created,
 * or brought to the configured spec and action if it exists, and — when asked — schedules
 * under the same ID prefix that start work on the same task queue but are no longer
 * configured are deleted, so that removing a namespace or a data source from the
 * configuration stops its probing or polling at the next start.
 *
 * Deletion is scoped by task queue as well as by prefix: another deployment sharing the
 * Temporal namespace with its own task queue keeps its schedules.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { SearchAttributes } from '@temporalio/common';

export interface DesiredSchedule {
  scheduleId: string;
  spec: ScheduleSpec;
  action: ScheduleOptionsAction & { taskQueue: string };
  note: string;
  searchAttributes?: SearchAttributes;
}

export interface ScheduleReconciliation {
  /** IDs of the schedules created or updated, in the order given. */
  ensured: string[];
  /** IDs of the stale schedules deleted. */
  deleted: string[];
}

export async function reconcileSchedules(
  client: Client,
  desired: readonly DesiredSchedule[],
  stale?: { idPrefix: string; taskQueue: string },
): Promise<ScheduleReconciliation> {
  const ensured: string[] = [];
  for (const schedule of desired) {
    try {
      await client.schedule.create({
        scheduleId: schedule.scheduleId,
        spec: schedule.spec,
        action: schedule.action,
        // A run still going when the next is due is skipped, not queued: the next one sees
        // the same pods or the same source content anyway.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
        ...(schedule.searchAttributes ? { searchAttributes: schedule.searchAttributes } : {}),
        state: { note: schedule.note },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule
        .getHandle(schedule.scheduleId)
        .update((previous) => ({ ...previous, spec: schedule.spec, action: schedule.action }));
    }
    ensured.push(schedule.scheduleId);
  }
  const deleted = stale ? await deleteStaleSchedules(client, new Set(ensured), stale.idPrefix, stale.taskQueue) : [];
  return { ensured, deleted };
}

async function deleteStaleSchedules(client: Client, keep: ReadonlySet<string>, idPrefix: string, taskQueue: string): Promise<string[]> {
  const deleted: string[] = [];
  for await (const summary of client.schedule.list()) {
    if (!summary.scheduleId.startsWith(idPrefix) || keep.has(summary.scheduleId)) continue;
    const handle = client.schedule.getHandle(summary.scheduleId);
    try {
      const description = await handle.describe();
      if (description.action.type !== 'startWorkflow' || description.action.taskQueue !== taskQueue) continue;
      await handle.delete();
      deleted.push(summary.scheduleId);
    } catch (err) {
      // Deleted meanwhile (by another replica starting at the same time): nothing left to do.
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  return deleted;
}

/**
 * One Temporal Schedule per watched namespace starts watchdogSweepWorkflow every interval.
 * Made idempotently at worker start: an existing schedule is brought to the configured
 * interval and task queue, so changing the configuration and restarting takes effect, and
 * (with removeStale) the schedules of namespaces no longer watched are deleted.
 */
import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/shared/keys';
import { PROBE_SCHEDULE_PREFIX, probeScheduleId } from '../contracts/schedule-ids';
import { reconcileSchedules, type DesiredSchedule, type ScheduleReconciliation } from './schedules';
import { WATCHDOG_SWEEP_WORKFLOW_TYPE } from '../contracts/workflow-types';

export interface ProbeScheduleOptions {
  namespaces: readonly string[];
  intervalSeconds: number;
  taskQueue: string;
  probeNotReadyPods: boolean;
  /** Delete this task queue's probe schedules of namespaces not in `namespaces`. */
  removeStale?: boolean;
}

export async function ensureProbeSchedules(client: Client, options: ProbeScheduleOptions): Promise<ScheduleReconciliation> {
  const desired = options.namespaces.map((namespace): DesiredSchedule => ({
    scheduleId: probeScheduleId(namespace),
    spec: { intervals: [{ every: `${options.intervalSeconds}s` }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: WATCHDOG_SWEEP_WORKFLOW_TYPE,
      args: [{ namespace, probeNotReadyPods: options.probeNotReadyPods }],
      taskQueue: options.taskQueue,
      workflowId: `watchdog-sweep/${namespace}`,
      workflowExecutionTimeout: `${Math.max(options.intervalSeconds * 10, 900)}s`,
    },
    searchAttributes: { [SEARCH_ATTRIBUTES.namespace.name]: [namespace] },
    note: `watchdog probing of namespace ${namespace}`,
  }));
  return reconcileSchedules(
    client,
    desired,
    options.removeStale ? { idPrefix: PROBE_SCHEDULE_PREFIX, taskQueue: options.taskQueue } : undefined,
  );
}

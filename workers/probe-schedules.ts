/**
 * One Temporal Schedule per watched namespace starts watchdogSweepWorkflow every interval.
 * Made idempotently at worker start: an existing schedule is brought to the configured
 * interval and task queue, so changing the configuration and restarting takes effect.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/keys';

export const probeScheduleId = (namespace: string) => `watchdog-probe/${namespace}`;

export interface ProbeScheduleOptions {
  namespaces: readonly string[];
  intervalSeconds: number;
  taskQueue: string;
  probeNotReadyPods: boolean;
}

export async function ensureProbeSchedules(client: Client, options: ProbeScheduleOptions): Promise<string[]> {
  const ids: string[] = [];
  for (const namespace of options.namespaces) {
    const scheduleId = probeScheduleId(namespace);
    const spec: ScheduleSpec = { intervals: [{ every: `${options.intervalSeconds}s` }] };
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow',
      workflowType: 'watchdogSweepWorkflow',
      args: [{ namespace, probeNotReadyPods: options.probeNotReadyPods }],
      taskQueue: options.taskQueue,
      workflowId: `watchdog-sweep/${namespace}`,
      workflowExecutionTimeout: `${Math.max(options.intervalSeconds * 10, 900)}s`,
    };
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action,
        // A sweep still running when the next is due is skipped, not queued: the next
        // one sees the same pods anyway.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
        searchAttributes: { [SEARCH_ATTRIBUTES.namespace.name]: [namespace] },
        state: { note: `watchdog probing of namespace ${namespace}` },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    }
    ids.push(scheduleId);
  }
  return ids;
}

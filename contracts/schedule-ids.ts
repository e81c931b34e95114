/**
 * The IDs of the Schedules AutoCrane keeps, and the data repository's task queue: the worker
 * and the data repository make them, tests, benchmarks and operators find them by these names.
 */

/** Every probe Schedule's ID starts so; the worker deletes the stale ones by this prefix. */
export const PROBE_SCHEDULE_PREFIX = 'watchdog-probe/';
/** The Schedule that starts watchdogSweepWorkflow for one namespace. */
export const probeScheduleId = (namespace: string) => `${PROBE_SCHEDULE_PREFIX}${namespace}`;

/** Every data-poll Schedule's ID starts so; the data repository deletes the stale ones by this prefix. */
export const DATA_POLL_SCHEDULE_PREFIX = 'data-poll/';
/** The Schedule that starts dataPollWorkflow for one data source. */
export const dataPollScheduleId = (source: string) => `${DATA_POLL_SCHEDULE_PREFIX}${source}`;
/** The data repository's own task queue: its activity must run where its store is. */
export const dataRepositoryTaskQueue = (taskQueue: string) => `${taskQueue}-data-repository`;

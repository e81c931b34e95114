/**
 * The workflow type names clients start, schedule or look up workflows by, in one place.
 * Each must be the name of a function workflows/index.ts registers; test/unit/workflow-types.test.ts
 * checks that (at compile time too), so a renamed workflow cannot leave a client starting a
 * type no worker knows.
 */
export const WATCHDOG_SWEEP_WORKFLOW_TYPE = 'watchdogSweepWorkflow';
export const REPAIR_WORKFLOW_TYPE = 'repairWorkflow';
export const ROLLOUT_WORKFLOW_TYPE = 'rolloutWorkflow';
export const DATA_ROLLOUT_WORKFLOW_TYPE = 'dataRolloutWorkflow';
export const DATA_POLL_WORKFLOW_TYPE = 'dataPollWorkflow';

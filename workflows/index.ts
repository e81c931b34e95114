/** Every workflow the worker registers: each function exported here becomes a workflow type. */
export { clusterCheckWorkflow } from './cluster-check';
export { watchdogSweepWorkflow } from './watchdog-sweep';
export { repairWorkflow } from './repair';
export { rolloutWorkflow } from './rollout';
export { dataRolloutWorkflow } from './data-rollout';
export { dataPollWorkflow } from './data-poll';

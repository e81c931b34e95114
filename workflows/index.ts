/** Every workflow the worker registers: each function exported here becomes a workflow type. */
export { clusterCheckWorkflow } from './cluster/cluster-check';
export { watchdogSweepWorkflow } from './watchdog/watchdog-sweep';
export { repairWorkflow } from './repair/repair';
export { rolloutWorkflow } from './rollout/rollout';
export { dataRolloutWorkflow } from './data/data-rollout';
export { dataPollWorkflow } from './data/data-poll';

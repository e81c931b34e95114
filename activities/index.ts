/** All activities the worker registers, built from the process's dependencies. */
import type { KubeConfig } from '@kubernetes/client-node';
import type { RepairActivities } from '../domain/repair/repair-types';
import { createClusterActivities } from './cluster/cluster';
import { createDataRefusalEventActivities } from './data/data-refusal-event';
import { createDataRolloutActivities, DEFAULT_DATA_ROLLOUT_OPTIONS, type DataRolloutActivityOptions } from './data/data-rollout';
import { createRepairActivities, type RepairActivityOptions } from './repair/repair';
import { createRolloutActivities } from './rollout/rollout';
import { createWatchdogActivities, type WatchdogActivityOptions } from './watchdog/watchdogs';

export interface ActivityDeps {
  kubeConfig: KubeConfig;
  watchdogs: WatchdogActivityOptions;
  repair?: RepairActivityOptions;
  dataRollouts?: DataRolloutActivityOptions;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createClusterActivities(deps.kubeConfig),
    ...createWatchdogActivities(deps.kubeConfig, deps.watchdogs),
    ...createRepairActivities(deps.kubeConfig, deps.repair),
    ...createRolloutActivities(deps.kubeConfig, { probeTimeoutSeconds: deps.watchdogs.probeTimeoutSeconds }),
    ...createDataRefusalEventActivities(deps.kubeConfig),
    ...createDataRolloutActivities(deps.kubeConfig, {
      ...(deps.dataRollouts ?? DEFAULT_DATA_ROLLOUT_OPTIONS),
      probeTimeoutSeconds: deps.watchdogs.probeTimeoutSeconds,
    }),
  } satisfies RepairActivities;
}

export type Activities = ReturnType<typeof createActivities>;

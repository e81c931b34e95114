/** All activities the worker registers, built from the process's dependencies. */
import type { KubeConfig } from '@kubernetes/client-node';
import { createClusterActivities } from './cluster';
import { createWatchdogActivities, type WatchdogActivityOptions } from './watchdogs';

export interface ActivityDeps {
  kubeConfig: KubeConfig;
  watchdogs: WatchdogActivityOptions;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createClusterActivities(deps.kubeConfig),
    ...createWatchdogActivities(deps.kubeConfig, deps.watchdogs),
  };
}

export type Activities = ReturnType<typeof createActivities>;

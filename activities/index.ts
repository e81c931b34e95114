/** All activities the worker registers, built from the process's dependencies. */
import type { KubeConfig } from '@kubernetes/client-node';
import { createClusterActivities } from './cluster';

export interface ActivityDeps {
  kubeConfig: KubeConfig;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createClusterActivities(deps.kubeConfig),
  };
}

export type Activities = ReturnType<typeof createActivities>;

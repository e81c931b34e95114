/**
 * One repair workflow per watched namespace, made idempotently at worker start with
 * signal-with-start: a running workflow keeps its state (counts, evictions, pause) and only
 * receives the configured policy; a missing one is started with it.
 */
import type { Client } from '@temporalio/client';
import type { RepairPolicy } from '../domain/repair/repair';
import { SEARCH_ATTRIBUTES } from '../domain/shared/keys';
import { repairWorkflowId, setRepairPolicySignal } from '../contracts/repair-messages';
import { REPAIR_WORKFLOW_TYPE } from '../contracts/workflow-types';

export interface RepairWorkflowOptions {
  namespaces: readonly string[];
  policy: RepairPolicy;
  taskQueue: string;
}

export async function ensureRepairWorkflows(client: Client, options: RepairWorkflowOptions): Promise<string[]> {
  const ids: string[] = [];
  for (const namespace of options.namespaces) {
    const workflowId = repairWorkflowId(namespace);
    await client.workflow.signalWithStart(REPAIR_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: options.taskQueue,
      args: [{ namespace, policy: options.policy }],
      signal: setRepairPolicySignal,
      signalArgs: [options.policy],
      searchAttributes: { [SEARCH_ATTRIBUTES.namespace.name]: [namespace] },
    });
    ids.push(workflowId);
  }
  return ids;
}

/**
 * The one way AutoCrane builds a Temporal Worker: the worker process and the tests both use
 * it, so what the tests exercise is what runs.
 */
import type { Duration } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Logger } from '../platform/logger';

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: object;
  /**
   * Module whose exported functions are the workflows. Defaults to ../workflows, which
   * resolves to the compiled .js under dist/ and to the .ts source under Jest; Temporal's
   * bundler accepts either.
   */
  workflowsPath?: string;
  /** How long in-flight activities may run after shutdown is requested before being cancelled. */
  shutdownGraceTime?: Duration;
  logger?: Logger;
}

/** Made by `npm run build` (workers/bundle-workflows.ts) next to the compiled workers/. */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  // The prebuilt bundle when running from dist/; Jest runs from sources and bundles them.
  const useBundle = options.workflowsPath === undefined && existsSync(WORKFLOW_BUNDLE_PATH);
  const workflowsPath = options.workflowsPath ?? require.resolve('../workflows');
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    ...(useBundle ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } } : { workflowsPath }),
    // A cancellation reaches an activity only with the answer to one of its heartbeats, which the
    // worker sends at most every 80% of the heartbeat timeout (12 s for 15 s) unless capped: the
    // workflows wait for interrupted activities to stop, so they must hear of it soon.
    maxHeartbeatThrottleInterval: '1 second',
    // Omitted rather than undefined: Temporal's option defaults don't survive an explicit undefined.
    ...(options.shutdownGraceTime !== undefined && { shutdownGraceTime: options.shutdownGraceTime }),
  });
  const workflows = useBundle ? WORKFLOW_BUNDLE_PATH : workflowsPath;
  options.logger?.debug({ taskQueue: options.taskQueue, namespace: options.namespace, workflows }, 'worker created');
  return worker;
}

/** The HTTP app with the rollout routes on a sandbox worker's Temporal and cluster, as api/main.ts builds it. */
import pino from 'pino';
import type { Express } from 'express';
import { createApp } from '../../api/app';
import type { Authorizer } from '../../api/auth';
import { kubernetesWorkloadReader, temporalRolloutControl } from '../../api/rollouts';
import { createMetricsRegistry } from '../../platform/metrics';
import type { SandboxWorker } from './sandbox-worker';

export function rolloutApiApp(sandbox: SandboxWorker, authorizer: Authorizer): Express {
  return createApp({
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry(),
    checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    rollouts: {
      control: temporalRolloutControl(sandbox.temporal.client, { taskQueue: sandbox.taskQueue }),
      workloads: kubernetesWorkloadReader(sandbox.k.kc),
      authorizer,
    },
  });
}

/** The HTTP app with the rollout routes on a sandbox worker's Temporal and cluster, as api/main.ts builds it. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Express } from 'express';
import { createApp } from '../../api/app';
import type { Authorizer } from '../../api/auth';
import { temporalRolloutWorkflows } from '../../api/rollout/rollout-workflows';
import { kubernetesWorkloadReader } from '../../api/rollout/rollout-workloads';
import { createMetricsRegistry } from '../../platform/metrics';
import { runCli, type CliSession } from './cli';
import type { SandboxWorker } from './sandbox-worker';

export function rolloutApiApp(sandbox: SandboxWorker, authorizer: Authorizer): Express {
  return createApp({
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry(),
    checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    rollouts: {
      workflows: temporalRolloutWorkflows(sandbox.temporal.client, { taskQueue: sandbox.taskQueue }),
      workloads: kubernetesWorkloadReader(sandbox.k.kc),
      authorizer,
    },
  });
}

/** Serves `app` on a loopback port for the length of `use`, running the real CLI against it (see runCli). */
export async function withCli<T>(app: Express, token: string, use: (cli: CliSession) => Promise<T>): Promise<T> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await runCli(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, token, use);
  } finally {
    server.close();
  }
}

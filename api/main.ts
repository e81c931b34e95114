/** The API process: serves the HTTP API until SIGTERM/SIGINT. */
import type { AddressInfo } from 'node:net';
import { CoreV1Api } from '@kubernetes/client-node';
import { exitOnConfigError, loadConfig } from '../platform/config';
import { reportFatal } from '../platform/errors';
import { checkKubernetes, loadKubeConfig } from '../platform/kubernetes';
import { createLogger } from '../platform/logger';
import { createMetricsRegistry } from '../platform/metrics';
import { checkTemporal, connectClient } from '../platform/temporal';
import { createApp } from './app';
import { createAuthorizer, kubernetesClusterAuth } from './auth';
import { temporalDataRolloutWorkflows } from './data/data-rollout-workflows';
import { temporalRepairControl } from './repair/repair';
import { temporalRolloutWorkflows } from './rollout/rollout-workflows';
import { kubernetesWorkloadReader } from './rollout/rollout-workloads';

async function main(): Promise<void> {
  const config = exitOnConfigError(() => loadConfig());
  const rootLogger = createLogger(config);
  const logger = rootLogger.child({ component: 'api' });
  try {
    const kubeConfig = exitOnConfigError(() => loadKubeConfig(config));
    const { connection, client } = await connectClient(config);
    const authorizer = createAuthorizer({ cluster: kubernetesClusterAuth(kubeConfig), embeddedToken: config.api.token });
    const temporalUi = config.temporal.uiUrl ? { temporalUi: { url: config.temporal.uiUrl, namespace: config.temporal.namespace } } : {};
    const app = createApp({
      logger: rootLogger,
      registry: createMetricsRegistry(),
      checks: { temporal: () => checkTemporal(connection), kubernetes: () => checkKubernetes(kubeConfig) },
      watchdogs: {
        pods: kubeConfig.makeApiClient(CoreV1Api),
        authorizer,
        caps: config.watchdogs.caps,
      },
      repair: { control: temporalRepairControl(client), authorizer, ...temporalUi },
      dataRollouts: { workflows: temporalDataRolloutWorkflows(client), authorizer, ...temporalUi },
      rollouts: {
        workflows: temporalRolloutWorkflows(client, { taskQueue: config.temporal.taskQueue }),
        workloads: kubernetesWorkloadReader(kubeConfig),
        authorizer,
        ...temporalUi,
      },
    });

    const server = app.listen(config.api.port, config.api.host);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', (err) => reject(new Error(`cannot listen on ${config.api.host}:${config.api.port}: ${err.message}`)));
    });
    const { port } = server.address() as AddressInfo;
    const host = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;
    logger.info(
      { url: `http://${host}:${port}`, temporalAddress: config.temporal.address, namespace: config.temporal.namespace },
      'api listening',
    );

    const shutdown = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'api shutting down');
      // Finish in-flight requests, drop idle keep-alive sockets so close() can complete.
      server.close((err) => {
        if (err) logger.warn({ err }, 'closing the HTTP server failed');
        connection.close().then(
          () => logger.info('api stopped'),
          (closeErr: unknown) => logger.warn({ err: closeErr }, 'closing the Temporal connection failed'),
        );
      });
      server.closeIdleConnections();
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  } catch (err) {
    reportFatal(logger, 'api failed', err);
    process.exitCode = 1;
  }
}

void main();

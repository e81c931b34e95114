/** The worker process: polls AutoCrane's task queue and runs its workflows and activities. */
import { createActivities } from '../activities';
import { exitOnConfigError, loadConfig } from '../platform/config';
import { reportFatal } from '../platform/errors';
import { loadKubeConfig } from '../platform/kubernetes';
import { createLogger } from '../platform/logger';
import { installTemporalRuntimeLogger } from '../platform/temporal-logging';
import { connectClient, connectTemporal } from '../platform/temporal';
import { createPodWriteRefusalMetrics } from '../activities/shared/pod-write-refusals';
import { createRepairMetrics } from '../activities/repair/repair-metrics';
import { createWatchdogMetrics } from '../activities/watchdog/watchdog-metrics';
import { createMetricsRegistry } from '../platform/metrics';
import { startMetricsServer } from './metrics-server';
import { ensureProbeSchedules } from './probe-schedules';
import { ensureRepairWorkflows } from './repair-workflows';
import { applyWorkerV8Flags } from './v8-flags';
import { createWorker } from './worker-factory';

async function main(): Promise<void> {
  // Before anything allocates much, and before the Temporal Worker starts its workflow thread.
  applyWorkerV8Flags();
  const config = exitOnConfigError(() => loadConfig());
  if (config.watchdogs.namespaces.length === 0) {
    process.stderr.write('AUTOCRANE_WATCH_NAMESPACES: no namespace to watch; set a comma list of Kubernetes namespaces\n');
    process.exit(2);
  }
  const rootLogger = createLogger(config);
  const logger = rootLogger.child({ component: 'worker' });
  try {
    const kubeConfig = exitOnConfigError(() => loadKubeConfig(config));
    // Before the connection: the Runtime is created on first use and can be configured only once.
    installTemporalRuntimeLogger(rootLogger);
    const connection = await connectTemporal(config);
    const registry = createMetricsRegistry();
    const metricsServer = await startMetricsServer(registry, config.worker.metricsHost, config.worker.metricsPort);
    logger.info({ url: metricsServer.url }, 'worker metrics served');
    try {
      const worker = await createWorker({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        activities: createActivities({
          kubeConfig,
          watchdogs: {
            ...config.watchdogs,
            metrics: createWatchdogMetrics(registry),
            refusalMetrics: createPodWriteRefusalMetrics(registry),
          },
          repair: { metrics: createRepairMetrics(registry), refusalMetrics: createPodWriteRefusalMetrics(registry) },
          dataRollouts: { ...config.dataRollouts, refusalMetrics: createPodWriteRefusalMetrics(registry) },
        }),
        shutdownGraceTime: config.worker.shutdownGraceSeconds * 1000,
        logger,
      });
      const { connection: clientConnection, client } = await connectClient(config);
      try {
        const schedules = await ensureProbeSchedules(client, {
          namespaces: config.watchdogs.namespaces,
          intervalSeconds: config.watchdogs.probeIntervalSeconds,
          taskQueue: config.temporal.taskQueue,
          probeNotReadyPods: config.watchdogs.probeNotReadyPods,
          removeStale: true,
        });
        logger.info(
          { schedules: schedules.ensured, removed: schedules.deleted, intervalSeconds: config.watchdogs.probeIntervalSeconds },
          'probe schedules in place',
        );
        if (config.repair.enabled) {
          const repairs = await ensureRepairWorkflows(client, {
            namespaces: config.watchdogs.namespaces,
            policy: config.repair.policy,
            taskQueue: config.temporal.taskQueue,
          });
          logger.info({ workflows: repairs, policy: config.repair.policy }, 'repair workflows in place');
        }
      } finally {
        await clientConnection.close();
      }
      logger.info(
        {
          taskQueue: config.temporal.taskQueue,
          namespace: config.temporal.namespace,
          temporalAddress: config.temporal.address,
          kubernetesServer: kubeConfig.getCurrentCluster()?.server,
          shutdownGraceSeconds: config.worker.shutdownGraceSeconds,
        },
        'worker started',
      );
      // The Runtime turns SIGINT/SIGTERM into worker.shutdown(); run() resolves once drained.
      await worker.run();
      logger.info('worker stopped');
    } finally {
      await metricsServer.close();
      await connection.close();
    }
  } catch (err) {
    reportFatal(logger, 'worker failed', err);
    process.exitCode = 1;
  }
}

void main();

/**
 * `autocrane data-repository`: polls the configured data sources, keeps their versions as
 * archives in a content-addressed store and serves them. One process: the HTTP
 * server, a Temporal worker on the data repository's own task queue (the poll activity must
 * run where the store is) and one Temporal Schedule per source. Stops on SIGTERM/SIGINT.
 */
import type { AddressInfo } from 'node:net';
import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Command } from 'commander';
import { createDataRepositoryActivities } from '../activities/data/data-repository';
import { createDataRepositoryApp } from '../api/data/data-repository';
import { FileBlobStore } from '../datarepository/blob-store';
import { ManifestStore } from '../datarepository/manifests';
import { createRepositoryMetrics } from '../datarepository/metrics';
import { DataRepository } from '../datarepository/repository';
import { DataSourcesError, loadDataSources, type DataSource } from '../datarepository/sources';
import { exitOnConfigError, loadConfig, type Config } from '../platform/config';
import { reportFatal } from '../platform/errors';
import { createLogger, type Logger } from '../platform/logger';
import { installTemporalRuntimeLogger } from '../platform/temporal-logging';
import { createMetricsRegistry } from '../platform/metrics';
import { connectClient, connectTemporal } from '../platform/temporal';
import { ensureDataPollSchedules } from '../workers/data-poll-schedules';
import { dataRepositoryTaskQueue } from '../contracts/schedule-ids';
import { createWorker } from '../workers/worker-factory';
import { stopOnSignals } from './serve';

const FORCE_CLOSE_MS = 10_000;

/** The sources file, or exit 2 naming what is wrong. */
function sourcesOrExit(config: Config): DataSource[] {
  const file = config.dataRepository.sourcesFile;
  if (file === undefined) {
    process.stderr.write(
      'AUTOCRANE_DATA_SOURCES_FILE: not set; name a JSON file of data sources (docs/data-rollouts.md, "The data repository")\n',
    );
    process.exit(2);
  }
  try {
    return loadDataSources(file);
  } catch (err) {
    if (!(err instanceof DataSourcesError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

export async function runDataRepository(config: Config, sources: DataSource[], rootLogger: Logger): Promise<void> {
  const logger = rootLogger.child({ component: 'data-repository' });
  const settings = config.dataRepository;
  const blobs = new FileBlobStore(settings.root);
  const manifests = new ManifestStore(settings.root);
  await blobs.prepare();
  await manifests.prepare();
  const registry = createMetricsRegistry();
  const repository = new DataRepository({
    root: settings.root,
    sources,
    blobs,
    manifests,
    keepVersions: settings.keepVersions,
    limits: settings.limits,
    refusalBackoff: settings.refusalBackoff,
    metrics: createRepositoryMetrics(registry),
    logger,
  });
  const orphans = await repository.removeOrphans();
  if (orphans.length > 0) logger.warn({ orphans }, 'removed archives no manifest names (left by an interrupted poll)');

  const server = createDataRepositoryApp({ repository, registry, logger: rootLogger }).listen(settings.port, settings.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new Error(`cannot listen on ${settings.host}:${settings.port}: ${err.message}`)));
  });
  const { port } = server.address() as AddressInfo;
  const listening = `http://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`;
  const publicUrl = settings.publicUrl ?? listening;
  stopOnSignals(server, logger, 'data repository HTTP server', FORCE_CLOSE_MS);
  logger.info(
    { url: listening, publicUrl, root: settings.root, sources: sources.map((s) => `${s.name} (${s.kind})`) },
    'data repository listening',
  );

  // Before the connection: the Runtime is created on first use and can be configured only once.
  // It turns SIGTERM/SIGINT into worker.shutdown(), so run() below resolves once drained.
  installTemporalRuntimeLogger(rootLogger);
  let connection: NativeConnection | undefined;
  let clientConnection: Connection | undefined;
  try {
    connection = await connectTemporal(config);
    const connected = await connectClient(config);
    clientConnection = connected.connection;
    const client = connected.client;
    const namespaces = config.watchdogs.namespaces;
    if (namespaces.length === 0)
      logger.warn('AUTOCRANE_WATCH_NAMESPACES is empty: new versions are stored and served but announced to no data-rollout workflow');
    const taskQueue = dataRepositoryTaskQueue(config.temporal.taskQueue);
    const worker = await createWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue,
      activities: createDataRepositoryActivities({
        repository,
        client,
        namespaces,
        taskQueue: config.temporal.taskQueue,
        publicUrl,
        logger,
      }),
      shutdownGraceTime: config.worker.shutdownGraceSeconds * 1000,
      logger,
    });
    const schedules = await ensureDataPollSchedules(client, {
      sources: sources.map((s) => s.name),
      intervalSeconds: settings.pollIntervalSeconds,
      taskQueue,
      removeStale: true,
    });
    logger.info(
      { schedules: schedules.ensured, removed: schedules.deleted, intervalSeconds: settings.pollIntervalSeconds, taskQueue },
      'data poll schedules in place',
    );
    await worker.run();
    logger.info('data repository worker stopped');
  } finally {
    // Also when Temporal is unreachable: a listening server would keep the failed process alive.
    await clientConnection?.close();
    await connection?.close();
    if (server.listening) {
      server.close();
      server.closeAllConnections();
    }
  }
}

export function registerDataRepositoryCommand(program: Command): Command {
  return program
    .command('data-repository')
    .description('Poll the configured data sources, store each new version as an archive and serve it (GET /v1/sources...).')
    .addHelpText(
      'after',
      `
Configuration (environment): AUTOCRANE_DATA_SOURCES_FILE (required), AUTOCRANE_DATA_REPOSITORY_ROOT,
AUTOCRANE_DATA_REPOSITORY_HOST/PORT/URL, AUTOCRANE_DATA_POLL_INTERVAL_SECONDS, AUTOCRANE_DATA_KEEP_VERSIONS,
AUTOCRANE_DATA_MAX_ARCHIVE_BYTES/ENTRIES, AUTOCRANE_DATA_MAX_EXTRACTED_BYTES, AUTOCRANE_DATA_REFUSAL_BACKOFF_(MAX_)SECONDS,
AUTOCRANE_WATCH_NAMESPACES (announced to), TEMPORAL_ADDRESS, AUTOCRANE_TASK_QUEUE.`,
    )
    .action(async () => {
      const config = exitOnConfigError(() => loadConfig());
      const sources = sourcesOrExit(config);
      const logger = createLogger(config);
      try {
        await runDataRepository(config, sources, logger);
      } catch (err) {
        reportFatal(logger.child({ component: 'data-repository' }), 'data repository failed', err);
        process.exitCode = 1;
      }
    });
}

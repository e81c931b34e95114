/**
 * `autocrane data-deployer`: puts the data versions its pod is asked for into the pod's drop
 * folder. It runs next to the application, as a sidecar (forever) or as an init
 * container (until every consumed source is active, or a timeout).
 *
 * The pod is named by POD_NAME and POD_NAMESPACE (downward API) and reached through the
 * Kubernetes API (service account: get, watch and patch on pods in its namespace), by
 * platform/kube-http.ts rather than client-node, which alone would take the process past
 * its 100 MB peak-RSS budget (docs/data-rollouts.md). It reads
 * the pod's declaration (`store.autocrane.io/location`, `store.autocrane.io/data`), follows
 * the pod with a watch, and for each `request.data.autocrane.io/<source>` activates that
 * version and reports `status.data.autocrane.io/<source>`. The engine is datadeployer/.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { byteCount } from '../domain/shared/byte-count';
import { dataStatusKey, podDataDeclaration } from '../domain/data/data-contract';
import { formatMissing } from '../domain/data/data-deployer';
import { DATA_LOCATION_ANNOTATION, FIELD_MANAGER } from '../domain/shared/keys';
import { ConfigError, exitOnConfigError, loadConfig } from '../platform/config';
import { describeError, reportFatal } from '../platform/errors';
import { KubeHttp, loadKubeAccess } from '../platform/kube-http';
import { createLogger, type Logger } from '../platform/logger';
import { DataDeployer } from '../datadeployer/deployer';
import { DropFolder } from '../datadeployer/drop-folder';
import { gcPacing } from '../datadeployer/gc-pacer';
import { followPod, patchPodAnnotations, type PodObject, type PodRef } from '../datadeployer/pod-watch';
import { podFromEnv, POD_NAME_VARIABLE, POD_NAMESPACE_VARIABLE } from './pod-env';

export const DATA_DEPLOYER_DEFAULTS = {
  mode: 'sidecar',
  initTimeoutSeconds: 600,
  maxEntries: 100_000,
  maxExtractedBytes: 10 * 2 ** 30,
  maxDownloadBytes: 10 * 2 ** 30,
  idleTimeoutSeconds: 60,
} as const;

/**
 * The node flags to start the data deployer with (`node <flags> dist/cli/main.js data-deployer`
 * or NODE_OPTIONS), for its 100 MB peak-RSS budget (bench/RESULTS.md, "Data deployer"):
 * --expose-gc lets datadeployer/gc-pacer.ts collect the streamed chunks' buffers every 4 MB,
 * which V8 would otherwise leave to pile up by tens of MB; --max-semi-space-size=1 keeps the
 * young generation at 1 MB instead of growing to 16, as the process allocates little that
 * lives. Without them it works the same with a peak about 20 MB higher.
 */
export const DATA_DEPLOYER_NODE_FLAGS = ['--max-semi-space-size=1', '--expose-gc'] as const;

const MODES = ['sidecar', 'init'] as const;
type Mode = (typeof MODES)[number];

export interface DataDeployerCommandOptions {
  mode: Mode;
  location?: string;
  timeout: number;
  maxEntries: number;
  maxExtractedBytes: number;
  maxDownloadBytes: number;
  idleTimeout: number;
}

/** A byte count: a whole number with an optional unit (k, M, G, T or Ki, Mi, Gi, Ti), at least 1. */
export function parseByteCount(value: string): number {
  const n = byteCount(value);
  if (n === null) throw new InvalidArgumentError('Expected a byte count of at least 1, e.g. 500Mi or 10Gi.');
  return n;
}

/** A whole number from 1 to `max`. */
const positiveInteger =
  (max: number) =>
  (value: string): number => {
    const text = value.trim();
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`Expected a whole number from 1 to ${max}.`);
    return n;
  };

function parseMode(value: string): Mode {
  if (!(MODES as readonly string[]).includes(value)) throw new InvalidArgumentError(`Expected one of ${MODES.join(', ')}.`);
  return value as Mode;
}

/** Writes one source's status annotation by a JSON merge patch of that key only. */
const statusPublisher = (kube: KubeHttp, pod: PodRef) => (source: string, value: string) =>
  patchPodAnnotations(kube, pod, { [dataStatusKey(source)]: value }, FIELD_MANAGER);

/** Runs the data deployer; resolves with the process's exit status. */
export async function runDataDeployer(options: DataDeployerCommandOptions, kube: KubeHttp, pod: PodRef, logger: Logger): Promise<number> {
  const stopWatch = new AbortController();
  let deployer: DataDeployer | undefined;
  let latest: Readonly<Record<string, string>> = {};
  let settle: (code: number) => void = () => undefined;
  const finished = new Promise<number>((r) => (settle = r));
  let starting = false;

  const start = async () => {
    const declared = podDataDeclaration(latest);
    const location = options.location ?? declared.location;
    if (location === null || location.trim() === '') {
      logger.fatal(`the pod ${pod.namespace}/${pod.name} has no ${DATA_LOCATION_ANNOTATION} annotation and no --location was given`);
      return settle(2);
    }
    const drop = new DropFolder(resolve(location));
    try {
      await drop.prepare();
    } catch (err) {
      logger.fatal(`data deployer failed: ${describeError(err)}`);
      return settle(1);
    }
    logger.info(
      { location: drop.location, consumes: declared.consumes, mode: options.mode, gcPacing: gcPacing() },
      'data deployer started',
    );
    if (!gcPacing())
      logger.warn(
        `started without --expose-gc: memory is not paced while streaming; start node with ${DATA_DEPLOYER_NODE_FLAGS.join(' ')}`,
      );
    deployer = new DataDeployer({
      drop,
      limits: { maxEntries: options.maxEntries, maxBytes: options.maxExtractedBytes },
      download: { idleTimeoutMs: options.idleTimeout * 1000, maxBytes: options.maxDownloadBytes },
      publishStatus: statusPublisher(kube, pod),
      logger,
    });
    if (options.mode === 'init') {
      const check = () => {
        const progress = deployer!.progress();
        if (progress.every((p) => p.reason === null)) {
          logger.info({ sources: progress.map((p) => p.source) }, 'every consumed source is active at its requested version');
          settle(0);
        }
      };
      deployer.onChange(check);
      deployer.observe(latest);
      check();
    } else {
      deployer.observe(latest);
    }
  };

  const onPod = (p: PodObject) => {
    latest = p.metadata?.annotations ?? {};
    if (deployer) deployer.observe(latest);
    else if (!starting) {
      starting = true;
      void start();
    }
  };

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'data deployer stopping');
    settle(options.mode === 'init' ? 1 : 0);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let timer: NodeJS.Timeout | undefined;
  if (options.mode === 'init') {
    timer = setTimeout(() => {
      const missing = deployer?.progress().flatMap((p) => (p.reason === null ? [] : [{ source: p.source, reason: p.reason }])) ?? [
        { source: '(all)', reason: `the pod ${pod.namespace}/${pod.name} could not be read` },
      ];
      const message = `data not active after ${options.timeout}s: ${formatMissing(missing)}`;
      logger.fatal({ missing }, message);
      process.stderr.write(`autocrane data-deployer: ${message}\n`);
      settle(1);
    }, options.timeout * 1000);
  }

  const watching = followPod(kube, pod, onPod, logger, stopWatch.signal);
  const code = await finished;
  clearTimeout(timer);
  process.removeListener('SIGTERM', onSignal);
  process.removeListener('SIGINT', onSignal);
  stopWatch.abort();
  await Promise.all([watching, deployer?.stop()]);
  logger.info({ exitCode: code }, 'data deployer stopped');
  return code;
}

export function registerDataDeployerCommand(program: Command): Command {
  return program
    .command('data-deployer')
    .description('Activate the data versions this pod is asked for in its drop folder and report them (a sidecar or an init container).')
    .addOption(
      new Option('--mode <mode>', 'sidecar: run until SIGTERM; init: exit 0 once every consumed source is active')
        .argParser(parseMode)
        .default(DATA_DEPLOYER_DEFAULTS.mode),
    )
    .option('--location <dir>', `drop folder (default: the pod's ${DATA_LOCATION_ANNOTATION} annotation)`)
    .option(
      '--timeout <seconds>',
      'init mode: give up (exit 1) after this long, naming each missing source',
      positiveInteger(86_400),
      DATA_DEPLOYER_DEFAULTS.initTimeoutSeconds,
    )
    .option('--max-entries <n>', 'most entries an archive may hold', positiveInteger(100_000_000), DATA_DEPLOYER_DEFAULTS.maxEntries)
    .option(
      '--max-extracted-bytes <bytes>',
      'most bytes an archive may extract to (e.g. 10Gi)',
      parseByteCount,
      DATA_DEPLOYER_DEFAULTS.maxExtractedBytes,
    )
    .option(
      '--max-download-bytes <bytes>',
      'most bytes a download may have (e.g. 10Gi)',
      parseByteCount,
      DATA_DEPLOYER_DEFAULTS.maxDownloadBytes,
    )
    .option(
      '--idle-timeout <seconds>',
      'a download that receives nothing for this long fails (and is retried)',
      positiveInteger(3600),
      DATA_DEPLOYER_DEFAULTS.idleTimeoutSeconds,
    )
    .addHelpText(
      'after',
      `
Environment (required, from the downward API):
  ${POD_NAME_VARIABLE}        fieldRef metadata.name
  ${POD_NAMESPACE_VARIABLE}   fieldRef metadata.namespace

Defaults: --timeout ${DATA_DEPLOYER_DEFAULTS.initTimeoutSeconds}, --max-entries ${DATA_DEPLOYER_DEFAULTS.maxEntries}, --max-extracted-bytes 10Gi,
--max-download-bytes 10Gi, --idle-timeout ${DATA_DEPLOYER_DEFAULTS.idleTimeoutSeconds}.

<location>/<source> is a symlink to .autocrane/versions/<source>/<version>; it is switched by
a rename, so readers see the old version or the new one, whole. The previous version is kept.`,
    )
    .action(async (options: DataDeployerCommandOptions) => {
      const config = exitOnConfigError(() => loadConfig());
      const pod = exitOnConfigError(() => podFromEnv());
      const kube = new KubeHttp(exitOnConfigError(() => loadKubeAccess(config)));
      const logger = createLogger(config).child({ component: 'data-deployer', pod: `${pod.namespace}/${pod.name}` });
      try {
        process.exitCode = await runDataDeployer(options, kube, pod, logger);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        reportFatal(logger, 'data deployer failed', err);
        process.exitCode = 1;
      }
      // Keep-alive sockets must not hold an init container open.
      kube.close();
      setTimeout(() => process.exit(), 2000).unref();
    });
}

/**
 * `autocrane watchdog-healthz`: a sidecar serving `GET /healthz` for its own pod, for the
 * kubelet's readiness (or liveness) probe. 200 when the pod's watchdogs say it is healthy,
 * 503 otherwise; the rule is decideHealthz's (domain/watchdog/healthz.ts).
 *
 * The pod is named by the downward-API variables POD_NAME and POD_NAMESPACE (both
 * required) and read through the Kubernetes API (the in-cluster service account in a pod;
 * KUBECONFIG elsewhere), so the sidecar's service account needs `get` on pods in its
 * namespace. A read is reused for CACHE_MS so frequent probes do not load the apiserver;
 * a read that fails (apiserver down, 403, timeout) answers 503 saying so, never crashes.
 *
 *   GET /healthz   200 or 503, JSON {healthy, reason, watchdogs, aggregate}
 *                  (watchdogs and aggregate are null when the pod was not read)
 *
 * Only changes of the answer are logged, never individual probes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { InvalidArgumentError, Option, type Command } from 'commander';
import express, { type Express } from 'express';
import { decideHealthz } from '../domain/watchdog/healthz';
import { readWatchdogs, type Annotations, type WatchdogRecord } from '../domain/watchdog/watchdog-annotations';
import type { ReadLevel } from '../domain/watchdog/watchdog-status';
import { exitOnConfigError, loadConfig } from '../platform/config';
import { describeError, reportFatal } from '../platform/errors';
import { isRequestTimeout, loadKubeConfig, requestTimeout } from '../platform/kubernetes';
import { createLogger, type Logger } from '../platform/logger';
import { errorHandler, notFound } from '../api/http-errors';
import { parseListenHost, parseListenPort } from './options';
import { podFromEnv, POD_NAME_VARIABLE, POD_NAMESPACE_VARIABLE, type PodRef } from './pod-env';
import { stopOnSignals } from './serve';

export const DEFAULT_HEALTHZ_HOST = '0.0.0.0';
export const DEFAULT_HEALTHZ_PORT = 8082;
/** How long one read of the pod answers probes. */
export const DEFAULT_POD_CACHE_MS = 1000;
/** Deadline of one read of the pod; below the kubelet's default probe timeout (1 s) would be too tight for a busy apiserver. */
export const POD_READ_TIMEOUT_MS = 3000;
export const MIN_READY_SECONDS_VARIABLE = 'AUTOCRANE_MIN_READY_SECONDS';
export const ALWAYS_HEALTHY_AFTER_SECONDS_VARIABLE = 'AUTOCRANE_ALWAYS_HEALTHY_AFTER_SECONDS';
/** Largest accepted number of seconds (Kubernetes' int32 maximum, as for minReadySeconds). */
export const MAX_SECONDS = 2_147_483_647;

/** The pod's annotations; throws (any error) when the pod cannot be read. */
export type PodReader = () => Promise<Annotations>;

export type { PodRef };
export { podFromEnv, POD_NAME_VARIABLE, POD_NAMESPACE_VARIABLE };

/** Reads the pod `ref` through the Kubernetes API; errors say which pod and why. */
export function createPodReader(kc: KubeConfig, ref: PodRef, timeoutMs = POD_READ_TIMEOUT_MS): PodReader {
  const core = kc.makeApiClient(CoreV1Api);
  return async () => {
    try {
      const pod = await core.readNamespacedPod(ref, requestTimeout(timeoutMs));
      return pod.metadata?.annotations ?? {};
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why =
        typeof code === 'number'
          ? `the apiserver answered HTTP ${code}${statusMessage(err)}${code === 403 ? ' (the service account needs get on pods)' : ''}`
          : isRequestTimeout(err)
            ? `the apiserver did not answer within ${timeoutMs} ms`
            : describeError(err);
      throw new Error(`reading pod ${ref.namespace}/${ref.name}: ${why}`, { cause: err });
    }
  };
}

/** `: <message>` of the Kubernetes Status in an ApiException's body, or '' when there is none. */
function statusMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const status: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    const message = (status as { message?: unknown } | null)?.message;
    return typeof message === 'string' && message !== '' ? `: ${message}` : '';
  } catch {
    return '';
  }
}

/**
 * `read`, with each result (annotations or error) reused for `ttlMs` after it settles.
 * Concurrent calls while a read is in flight share it, so at most one request is ever open.
 */
export function cachePodReader(read: PodReader, ttlMs = DEFAULT_POD_CACHE_MS, now: () => number = Date.now): PodReader {
  let inFlight: Promise<Annotations> | undefined;
  let settled: { at: number; result: Promise<Annotations> } | undefined;
  return () => {
    if (inFlight !== undefined) return inFlight;
    if (settled !== undefined && now() - settled.at < ttlMs) return settled.result;
    const result = read();
    inFlight = result;
    const done = () => {
      inFlight = undefined;
      settled = { at: now(), result };
    };
    result.then(done, done);
    return result;
  };
}

export interface HealthzServerOptions {
  /** Reads the pod (uncached: the server caches it for `cacheMs`). */
  readPod: PodReader;
  logger: Logger;
  /** Default 0. */
  minReadySeconds?: number;
  alwaysHealthyAfterSeconds?: number;
  /** Milliseconds since the epoch; injectable for tests. Default Date.now. */
  now?: () => number;
  /** When the sidecar started; default now() when the server is created. */
  startedAt?: number;
  /** How long a pod read is reused; default DEFAULT_POD_CACHE_MS, 0 disables the cache. */
  cacheMs?: number;
}

export interface HealthzBody {
  healthy: boolean;
  reason: string;
  /** The pod's watchdogs, as readWatchdogs lists them; null when the pod was not read. */
  watchdogs: WatchdogRecord[] | null;
  aggregate: ReadLevel | null;
}

export function createWatchdogHealthzServer(options: HealthzServerOptions): Express {
  const logger = options.logger.child({ component: 'watchdog-healthz' });
  const now = options.now ?? Date.now;
  const startedAt = options.startedAt ?? now();
  const minReadySeconds = options.minReadySeconds ?? 0;
  const { alwaysHealthyAfterSeconds } = options;
  const cacheMs = options.cacheMs ?? DEFAULT_POD_CACHE_MS;
  const readPod = cacheMs > 0 ? cachePodReader(options.readPod, cacheMs, now) : options.readPod;
  let last: { healthy: boolean; reason: string } | undefined;

  const alwaysHealthyNow = () => alwaysHealthyAfterSeconds !== undefined && now() - startedAt >= alwaysHealthyAfterSeconds * 1000;

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.get('/healthz', async (_req, res) => {
    let body: HealthzBody;
    if (alwaysHealthyNow()) {
      // Regardless of the pod, so not read at all: a hung apiserver cannot delay the answer.
      const decision = decideHealthz({
        watchdogs: [],
        now: new Date(now()),
        minReadySeconds,
        alwaysHealthyAfterSeconds,
        startedAt: new Date(startedAt),
      });
      body = { ...decision, watchdogs: null, aggregate: null };
    } else {
      let report: ReturnType<typeof readWatchdogs> | undefined;
      let readError: string | undefined;
      try {
        report = readWatchdogs(await readPod());
      } catch (err) {
        // Our readers' messages are complete (createPodReader's cause is the raw ApiException).
        readError = err instanceof Error ? err.message : describeError(err);
      }
      const decision = decideHealthz({
        watchdogs: report?.watchdogs ?? { readError: readError ?? 'unknown error' },
        now: new Date(now()),
        minReadySeconds,
        alwaysHealthyAfterSeconds,
        startedAt: new Date(startedAt),
      });
      body = { ...decision, watchdogs: report?.watchdogs ?? null, aggregate: report?.aggregate ?? null };
    }
    if (last === undefined || last.healthy !== body.healthy) {
      const log = body.healthy ? logger.info.bind(logger) : logger.warn.bind(logger);
      log({ healthy: body.healthy, reason: body.reason }, body.healthy ? 'healthz: healthy' : 'healthz: unhealthy');
    }
    last = { healthy: body.healthy, reason: body.reason };
    res
      .status(body.healthy ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(body);
  });

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

// ---------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------

/** A whole number of seconds from 0 to MAX_SECONDS. */
export function parseSeconds(value: string): number {
  const text = value.trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > MAX_SECONDS) {
    throw new InvalidArgumentError(`Expected a whole number of seconds from 0 to ${MAX_SECONDS}.`);
  }
  return n;
}

export interface WatchdogHealthzCommandOptions {
  host: string;
  port: number;
  minReadySeconds: number;
  alwaysHealthyAfterSeconds?: number;
}

/** Serves /healthz until SIGTERM/SIGINT. Returns once it listens. */
export async function runWatchdogHealthz(options: WatchdogHealthzCommandOptions): Promise<void> {
  const startedAt = Date.now();
  const config = exitOnConfigError(() => loadConfig());
  const pod = exitOnConfigError(() => podFromEnv());
  const kc = exitOnConfigError(() => loadKubeConfig(config));
  const rootLogger = createLogger(config);
  const logger = rootLogger.child({ component: 'watchdog-healthz' });
  try {
    const app = createWatchdogHealthzServer({
      readPod: createPodReader(kc, pod),
      logger: rootLogger,
      minReadySeconds: options.minReadySeconds,
      alwaysHealthyAfterSeconds: options.alwaysHealthyAfterSeconds,
      startedAt,
    });
    const server = http.createServer(app);
    const listenError = await new Promise<Error | undefined>((resolve) => {
      server.once('listening', () => resolve(undefined));
      server.once('error', resolve);
      server.listen(options.port, options.host);
    });
    if (listenError !== undefined) {
      logger.fatal(`watchdog healthz failed: cannot listen on ${options.host}:${options.port}: ${listenError.message}`);
      process.exitCode = 1;
      return;
    }
    const { port } = server.address() as AddressInfo;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    logger.info(
      {
        url: `http://${host}:${port}/healthz`,
        pod: `${pod.namespace}/${pod.name}`,
        minReadySeconds: options.minReadySeconds,
        alwaysHealthyAfterSeconds: options.alwaysHealthyAfterSeconds ?? null,
      },
      'watchdog healthz listening',
    );

    // A probe waiting on a slow apiserver read ends within POD_READ_TIMEOUT_MS anyway.
    stopOnSignals(server, logger, 'watchdog healthz', POD_READ_TIMEOUT_MS);
  } catch (err) {
    reportFatal(logger, 'watchdog healthz failed', err);
    process.exitCode = 1;
  }
}

export function registerWatchdogHealthzCommand(program: Command): Command {
  return program
    .command('watchdog-healthz')
    .description('Serve GET /healthz for this pod: 200 when its watchdogs say it is healthy, 503 otherwise (a sidecar).')
    .option('--host <host>', 'address to listen on', parseListenHost, DEFAULT_HEALTHZ_HOST)
    .option('--port <port>', 'port to listen on; 0 picks a free port (the log says which)', parseListenPort, DEFAULT_HEALTHZ_PORT)
    .addOption(
      new Option('--min-ready-seconds <seconds>', 'healthy only once no error watchdog has been seen for MORE than this long')
        .env(MIN_READY_SECONDS_VARIABLE)
        .argParser(parseSeconds)
        .default(0),
    )
    .addOption(
      new Option('--always-healthy-after-seconds <seconds>', 'once the sidecar has run this long, always answer 200 (default: never)')
        .env(ALWAYS_HEALTHY_AFTER_SECONDS_VARIABLE)
        .argParser(parseSeconds),
    )
    .addHelpText(
      'after',
      `
Environment (required, from the downward API):
  ${POD_NAME_VARIABLE}        fieldRef metadata.name
  ${POD_NAMESPACE_VARIABLE}   fieldRef metadata.namespace

GET /healthz answers 200 when no watchdog of the pod is in error and its newest watchdog
status is more than --min-ready-seconds old (exactly that old is still 503), or once the
sidecar has run --always-healthy-after-seconds; 503 otherwise, including when the pod
cannot be read. The body is JSON: {healthy, reason, watchdogs, aggregate}.`,
    )
    .action((options: WatchdogHealthzCommandOptions) => runWatchdogHealthz(options));
}

/** The HTTP API: health, readiness, metrics and (when given their dependencies) the watchdog, repair and rollout APIs. */
import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { describeError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { createHttpRequestDuration } from './http-metrics';
import type { Authorizer } from './auth';
import { methodNotAllowed, optionsNotServed } from './allowed-methods';
import { errorHandler, notFound } from './http-errors';
import type { DataRolloutWorkflows } from './data/data-rollout-workflows';
import { createDataRolloutRouter } from './data/data-rollouts';
import { createRepairRouter, type RepairControl } from './repair/repair';
import { openApiDocument } from './openapi';
import type { RolloutWorkflows } from './rollout/rollout-workflows';
import type { WorkloadReader } from './rollout/rollout-workloads';
import { createRolloutRouter } from './rollout/rollouts';
import type { WatchdogCaps } from '../domain/watchdog/watchdog-caps';
import { createWatchdogRouter, type PodAccessor } from './watchdog/watchdogs';

export type ReadinessCheck = () => Promise<void>;

export interface AppDeps {
  logger: Logger;
  registry: Registry;
  checks: { temporal: ReadinessCheck; kubernetes: ReadinessCheck };
  /**
   * Backstop for each readiness check; a slower dependency counts as unready. Longer than the
   * checks' own timeouts (3 s) so their more specific messages win.
   */
  checkTimeoutMs?: number;
  /**
   * The watchdog API's pod access (a CoreV1Api) and who may use it (see auth.ts). Without
   * them the /v1 watchdog routes are not served.
   */
  watchdogs?: { pods: PodAccessor; authorizer: Authorizer; now?: () => Date; caps?: WatchdogCaps };
  /** The repair routes' access to the repair workflows. Without it they are not served. */
  repair?: { control: RepairControl; authorizer: Authorizer; temporalUi?: { url: string; namespace: string } };
  /**
   * The rollout routes' access to the rollout workflows and to the target workloads. Without
   * them the rollout routes are not served.
   */
  rollouts?: {
    workflows: RolloutWorkflows;
    workloads: WorkloadReader;
    authorizer: Authorizer;
    temporalUi?: { url: string; namespace: string };
  };
  /** The data-rollout routes' access to the data-rollout workflows. Without it they are not served. */
  dataRollouts?: { workflows: DataRolloutWorkflows; authorizer: Authorizer; temporalUi?: { url: string; namespace: string } };
}

const DEFAULT_CHECK_TIMEOUT_MS = 5000;
/** Polled by Kubernetes and Prometheus every few seconds: logged at debug so they don't drown the rest. */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

async function withTimeout(check: ReadinessCheck, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createApp(deps: AppDeps): Express {
  const { registry, checks } = deps;
  const logger = deps.logger.child({ component: 'http' });
  const checkTimeoutMs = deps.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const requestDuration = createHttpRequestDuration(registry);

  const app = express();
  app.disable('x-powered-by');

  // Logs method, path and outcome only: headers (Authorization) and query strings may carry secrets.
  const observeRequests: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The matched route pattern, not the raw path, keeps the label set bounded.
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      requestDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      const entry = { method: req.method, path: req.path, status: res.statusCode, durationMs: Math.round(seconds * 1000) };
      if (PROBE_PATHS.has(req.path) && res.statusCode < 500) logger.debug(entry, 'request');
      else logger.info(entry, 'request');
    });
    next();
  };
  app.use(observeRequests);
  app.use(optionsNotServed(app));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const names = Object.keys(checks) as (keyof typeof checks)[];
    const outcomes = await Promise.allSettled(names.map((name) => withTimeout(checks[name], checkTimeoutMs)));
    const results: Record<string, string> = {};
    let ready = true;
    outcomes.forEach((outcome, i) => {
      const name = names[i] as string;
      if (outcome.status === 'fulfilled') {
        results[name] = 'ok';
      } else {
        ready = false;
        results[name] = describeError(outcome.reason);
      }
    });
    if (!ready) logger.warn({ checks: results }, 'not ready');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unready', checks: results });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  if (deps.watchdogs) app.use(createWatchdogRouter({ ...deps.watchdogs, logger }));
  if (deps.repair) app.use(createRepairRouter({ ...deps.repair, logger }));
  if (deps.dataRollouts) app.use(createDataRolloutRouter({ ...deps.dataRollouts, logger }));
  // Public: the document describes the API, it holds nothing about any object.
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  if (deps.rollouts) app.use(createRolloutRouter({ ...deps.rollouts, logger }));

  app.use(methodNotAllowed(app));
  app.use(notFound);
  app.use(errorHandler(logger));

  return app;
}

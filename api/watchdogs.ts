/**
 * The watchdog REST API (issue 3 §4):
 *
 *   PUT /v1/namespaces/{ns}/pods/{pod}/watchdogs/{name}  {level, message}  → {namespace, pod, watchdog, aggregate}
 *   GET /v1/namespaces/{ns}/pods/{pod}/watchdogs                          → {namespace, pod, watchdogs[], aggregate}
 *
 * Every request is authenticated first (401), its input validated once with zod (400 naming
 * the field, 413 for a body over 16 KiB), then authorized (403, see auth.ts), and only then is
 * the pod read (404). Writes go through writePodStatuses: a merge patch of our own keys and the
 * recomputed health label, guarded by resourceVersion.
 */
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { CoreV1Api } from '@kubernetes/client-node';
import { z } from 'zod';
import { writePodStatuses } from '../activities/pod-status';
import { dns1123LabelError, dns1123SubdomainError } from '../domain/k8s-names';
import { readWatchdogs, type WatchdogRecord } from '../domain/watchdog-annotations';
import {
  formatStatus,
  formatStatusTime,
  MAX_WATCHDOG_MESSAGE_LENGTH,
  parseWatchdogLevel,
  statusAnnotationKey,
  validateWatchdogMessage,
  validateWatchdogName,
  WATCHDOG_LEVELS,
  type ReadLevel,
} from '../domain/watchdog-status';
import { kubernetesErrorStatus } from '../platform/kubernetes';
import type { Logger } from '../platform/logger';
import type { Authorizer, Caller, PodAction } from './auth';
import { HttpError, invalidInput, type ErrorDetail } from './http-errors';

/** The pod calls the API makes; a CoreV1Api has them. */
export type PodAccessor = Pick<CoreV1Api, 'readNamespacedPod' | 'patchNamespacedPod'>;

export interface WatchdogRouterDeps {
  pods: PodAccessor;
  authorizer: Authorizer;
  logger: Logger;
  /** The clock stamping posted statuses; default `() => new Date()`. */
  now?: () => Date;
}

/** A watchdog as the API shows it. */
export interface WatchdogView {
  name: string;
  level: ReadLevel;
  /** RFC 3339 UTC to the second; null when the stored value's time could not be parsed. */
  time: string | null;
  message: string;
  /** Only for values that were not understood (level 'unknown'): why, and the value as found. */
  problem?: string;
  raw?: string;
}

export interface WatchdogListBody {
  namespace: string;
  pod: string;
  watchdogs: WatchdogView[];
  aggregate: ReadLevel;
}

export interface WatchdogPutBody {
  namespace: string;
  pod: string;
  watchdog: WatchdogView;
  aggregate: ReadLevel;
}

/** Largest request body accepted: a maximal message, fully \u-escaped, fits well within it. */
export const MAX_BODY = '16kb';

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

const fromProblem =
  (problemOf: (value: string) => string | null) =>
  (value: string, ctx: z.core.$RefinementCtx<string>): void => {
    const problem = problemOf(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  };

const podParams = z.object({
  namespace: z.string().superRefine(fromProblem((v) => (dns1123LabelError(v) === null ? null : `'${v}' is not a namespace name: ${dns1123LabelError(v)}`))),
  pod: z.string().superRefine(fromProblem((v) => (dns1123SubdomainError(v) === null ? null : `'${v}' is not a pod name: ${dns1123SubdomainError(v)}`))),
});

const watchdogParams = podParams.extend({ name: z.string().superRefine(fromProblem(validateWatchdogName)) });

const levelsText = WATCHDOG_LEVELS.join(', ');
const putBody = z.strictObject({
  level: z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : `expected one of ${levelsText}`) })
    .transform((value, ctx) => {
      const level = parseWatchdogLevel(value);
      if (level === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected one of ${levelsText}, got '${value}'` });
        return z.NEVER;
      }
      return level;
    }),
  message: z
    .string({ error: `expected a string of at most ${MAX_WATCHDOG_MESSAGE_LENGTH} characters` })
    .superRefine(fromProblem(validateWatchdogMessage))
    .default(''),
});

function issuesToDetails(issues: readonly z.core.$ZodIssue[], where: 'path' | 'body'): ErrorDetail[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: key, message: 'unknown field, expected level or message' }));
    }
    if (issue.path.length === 0) {
      return [{ field: where, message: issue.code === 'invalid_type' ? 'expected a JSON object {level, message}' : issue.message }];
    }
    return [{ field: issue.path.map(String).join('.'), message: issue.message }];
  });
}

function parse<T extends z.ZodType>(schema: T, input: unknown, where: 'path' | 'body'): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw invalidInput(issuesToDetails(parsed.error.issues, where));
  return parsed.data;
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

export function watchdogView(record: WatchdogRecord): WatchdogView {
  const view: WatchdogView = {
    name: record.name,
    level: record.level,
    time: record.time === undefined ? null : formatStatusTime(record.time),
    message: record.message,
  };
  if (record.problem !== undefined) {
    view.problem = record.problem;
    view.raw = record.raw;
  }
  return view;
}

// ---------------------------------------------------------------------------
// The router
// ---------------------------------------------------------------------------

const hasBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? '0') > 0;
const podNotFound = (namespace: string, pod: string) => new HttpError(404, `pod ${namespace}/${pod} not found`);

interface Authenticated {
  caller: Caller;
}

export function createWatchdogRouter(deps: WatchdogRouterDeps): Router {
  const { pods, authorizer, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const router = Router();

  /** 5xx HttpErrors (the cluster did not answer an auth review) are logged with their cause. */
  const fail = (req: Request, next: NextFunction, err: unknown) => {
    if (err instanceof HttpError && err.status >= 500) {
      logger.warn({ err: (err as { cause?: unknown }).cause ?? err, method: req.method, path: req.path }, err.message);
    }
    next(err);
  };
  const handle =
    (fn: (req: Request, res: Response) => Promise<void>): RequestHandler =>
    (req, res, next) => {
      fn(req, res).catch((err: unknown) => fail(req, next, err));
    };

  // Authentication comes before the body is read, so unauthenticated callers cost no parsing.
  const requireCaller: RequestHandler = (req, res, next) => {
    authorizer.authenticate(req.headers.authorization).then(
      (caller) => {
        (res.locals as Authenticated).caller = caller;
        next();
      },
      (err: unknown) => {
        if (err instanceof HttpError && err.status === 401) res.set('WWW-Authenticate', 'Bearer');
        fail(req, next, err);
      },
    );
  };

  const authorize = async (res: Response, action: PodAction) => {
    const { caller } = res.locals as Authenticated;
    if (!(await authorizer.authorize(caller, action))) {
      const what = action.verb === 'patch' ? 'write watchdogs of' : 'read watchdogs of';
      throw new HttpError(403, `not allowed to ${what} pod ${action.namespace}/${action.pod} (needs ${action.verb} on pods in namespace ${action.namespace})`);
    }
  };

  const json = express.json({ type: () => true, limit: MAX_BODY });

  router.put(
    '/v1/namespaces/:namespace/pods/:pod/watchdogs/:name',
    requireCaller,
    json,
    handle(async (req, res) => {
      const { namespace, pod, name } = parse(watchdogParams, req.params, 'path');
      // body-parser turns an empty body into {}; an empty body is a missing one.
      const { level, message } = parse(putBody, hasBody(req) ? req.body : undefined, 'body');
      await authorize(res, { verb: 'patch', namespace, pod });

      const value = formatStatus({ level, time: now(), message });
      const key = statusAnnotationKey(name);
      let annotationsSeen: Readonly<Record<string, string>> = {};
      // writePodStatuses calls only readNamespacedPod and patchNamespacedPod, which PodAccessor has.
      const outcome = await writePodStatuses(pods as CoreV1Api, { namespace, name: pod }, (annotations) => {
        annotationsSeen = annotations;
        return { [name]: value };
      });
      if (outcome === 'pod-gone') throw podNotFound(namespace, pod);

      const report = readWatchdogs({ ...annotationsSeen, [key]: value });
      const record = report.watchdogs.find((w) => w.name === name);
      if (record === undefined) throw new Error(`watchdog ${name} missing from its own write`);
      res.json({ namespace, pod, watchdog: watchdogView(record), aggregate: report.aggregate } satisfies WatchdogPutBody);
    }),
  );

  router.get(
    '/v1/namespaces/:namespace/pods/:pod/watchdogs',
    requireCaller,
    handle(async (req, res) => {
      const { namespace, pod } = parse(podParams, req.params, 'path');
      await authorize(res, { verb: 'get', namespace, pod });
      let annotations: Record<string, string> | undefined;
      try {
        annotations = (await pods.readNamespacedPod({ namespace, name: pod })).metadata?.annotations;
      } catch (err) {
        if (kubernetesErrorStatus(err) === 404) throw podNotFound(namespace, pod);
        throw err;
      }
      const report = readWatchdogs(annotations);
      res.json({ namespace, pod, watchdogs: report.watchdogs.map(watchdogView), aggregate: report.aggregate } satisfies WatchdogListBody);
    }),
  );

  return router;
}

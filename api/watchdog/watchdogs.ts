/**
 * The watchdog REST API:
 *
 *   PUT /v1/namespaces/{ns}/pods/{pod}/watchdogs/{name}  {level, message}  → {namespace, pod, watchdog, aggregate}
 *   GET /v1/namespaces/{ns}/pods/{pod}/watchdogs                          → {namespace, pod, watchdogs[], aggregate}
 *
 * Every request is authenticated first (401), its input validated once with zod (400 naming
 * the field, 413 for a body over 16 KiB), then authorized (403, see auth.ts), and only then is
 * the pod read (404), and the per-pod caps checked (409 too many watchdogs, 422 too many bytes).
 * Writes go through writePodStatuses: a merge patch of our own keys and the
 * recomputed health label, guarded by resourceVersion.
 */
import { Router, type Response } from 'express';
import type { CoreV1Api } from '@kubernetes/client-node';
import { z } from 'zod';
import { writePodStatuses } from '../../activities/shared/pod-status';
import { namespaceName, ruledString, subdomainName } from '../../domain/shared/checked-string';
import { QUALIFIED_NAME_PART_RULE } from '../../domain/shared/k8s-names';
import { DEFAULTS } from '../../domain/shared/keys';
import { readWatchdogs, type WatchdogRecord } from '../../domain/watchdog/watchdog-annotations';
import { checkWatchdogCaps, type WatchdogCaps } from '../../domain/watchdog/watchdog-caps';
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
} from '../../domain/watchdog/watchdog-status';
import { kubernetesErrorStatus } from '../../platform/kubernetes';
import type { Logger } from '../../platform/logger';
import { podAction, type Authorizer } from '../auth';
import { fromProblem, hasBody, jsonBody, parseInput, routeHelpers } from '../routes';
import { HttpError } from '../http-errors';

/** The pod calls the API makes; a CoreV1Api has them. */
export type PodAccessor = Pick<CoreV1Api, 'readNamespacedPod' | 'patchNamespacedPod'>;

export interface WatchdogRouterDeps {
  pods: PodAccessor;
  authorizer: Authorizer;
  logger: Logger;
  /** The clock stamping posted statuses; default `() => new Date()`. */
  now?: () => Date;
  /** Per-pod caps on what callers write; default the configuration's defaults. */
  caps?: WatchdogCaps;
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

export const WatchdogPodParamsSchema = z.object({ namespace: namespaceName(), pod: subdomainName('pod name') });

export const WatchdogParamsSchema = WatchdogPodParamsSchema.extend({ name: ruledString(QUALIFIED_NAME_PART_RULE, validateWatchdogName) });

const levelsText = WATCHDOG_LEVELS.join(', ');
/** A level in any letter case ("Error" is error), spelled as a pattern so the document shows it. */
const LEVEL_PATTERN = new RegExp(
  `^(?:${WATCHDOG_LEVELS.map((level) => [...level].map((c) => `[${c}${c.toUpperCase()}]`).join('')).join('|')})$`,
);
export const WatchdogPutSchema = z.strictObject({
  level: z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : `expected one of ${levelsText}`) })
    .regex(LEVEL_PATTERN, { error: (issue) => `expected one of ${levelsText}, got '${String(issue.input)}'` })
    .transform((value) => parseWatchdogLevel(value) ?? 'error')
    .meta({ description: `One of ${levelsText}, in any letter case.` }),
  message: z
    .string({ error: `expected a string of at most ${MAX_WATCHDOG_MESSAGE_LENGTH} characters` })
    .superRefine(fromProblem(validateWatchdogMessage))
    .default('')
    // Code points, as JSON Schema counts them (zod's max would count UTF-16 units).
    // The control characters (Unicode Cc) as ranges, which every regex dialect reads.
    .meta({
      maxLength: MAX_WATCHDOG_MESSAGE_LENGTH,
      pattern: '^[^\\x00-\\x1F\\x7F-\\x9F]*$',
      description: 'One line of well-formed text: no control characters.',
    }),
});

const PATH = { where: 'path', expected: 'a path', fields: 'namespace, pod or name' };
const BODY = { where: 'body', expected: 'a JSON object {level, message}', fields: 'level or message' };

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

const podNotFound = (namespace: string, pod: string) => new HttpError(404, `pod ${namespace}/${pod} not found`);

export function createWatchdogRouter(deps: WatchdogRouterDeps): Router {
  const { pods, authorizer, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const caps = deps.caps ?? { maxWatchdogsPerPod: DEFAULTS.watchdogsPerPod, maxStatusBytesPerPod: DEFAULTS.watchdogStatusBytesPerPod };
  const router = Router();

  const { requireCaller, handle, authorize: allow } = routeHelpers(authorizer, logger);
  const authorize = (res: Response, verb: 'get' | 'patch', namespace: string, pod: string) =>
    allow(res, podAction(verb, namespace, pod), `${verb === 'patch' ? 'write' : 'read'} watchdogs of pod ${namespace}/${pod}`);

  const json = jsonBody(MAX_BODY);

  router.put(
    '/v1/namespaces/:namespace/pods/:pod/watchdogs/:name',
    requireCaller,
    json,
    handle(async (req, res) => {
      const { namespace, pod, name } = parseInput(WatchdogParamsSchema, req.params, PATH);
      // body-parser turns an empty body into {}; an empty body is a missing one.
      const { level, message } = parseInput(WatchdogPutSchema, hasBody(req) ? req.body : undefined, BODY);
      await authorize(res, 'patch', namespace, pod);

      const value = formatStatus({ level, time: now(), message });
      const key = statusAnnotationKey(name);
      let annotationsSeen: Readonly<Record<string, string>> = {};
      // writePodStatuses calls only readNamespacedPod and patchNamespacedPod, which PodAccessor has.
      const outcome = await writePodStatuses(pods as CoreV1Api, { namespace, name: pod }, (annotations) => {
        annotationsSeen = annotations;
        // Checked on every (re-)read, so a concurrent writer cannot slip us past a cap.
        const violation = checkWatchdogCaps(annotations, name, value, caps);
        if (violation)
          throw new HttpError(violation.status, `invalid ${violation.field}: ${violation.message}`, [
            { field: violation.field, message: violation.message },
          ]);
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
      const { namespace, pod } = parseInput(WatchdogPodParamsSchema, req.params, PATH);
      await authorize(res, 'get', namespace, pod);
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

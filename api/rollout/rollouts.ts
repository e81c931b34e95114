/**
 * The rollout REST API:
 *
 *   POST /v1/rollouts                 RolloutSpec → 202 started (200 when the request ID was seen before)
 *   GET  /v1/rollouts/{id}            the rollout's full status, with live pod counts during a bake
 *   GET  /v1/rollouts?namespace=&state=   rollouts from visibility (search attributes and memo only)
 *   POST /v1/rollouts/{id}/{pause|resume|approve|abort|promote}   {reason?} → the status after it
 *
 * Who may: starting and steering need `patch` on the target Deployment or StatefulSet (the
 * power a rollout exercises), reading one needs `get` on it, listing needs `list` on
 * deployments in the namespace (in every namespace without one).
 *
 * The routes and their schemas; the workflows behind them are reached through the
 * RolloutWorkflows port (rollout-workflows.ts), the target workload through the WorkloadReader
 * (rollout-workloads.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { namespaceName } from '../../domain/shared/checked-string';
import { ROLLOUT_CONTROLS, ROLLOUT_STATES } from '../../domain/gate/stage-controls';
import { differingFields, liveChangeProblems, ROLLOUT_ID_PATTERN, sameRolloutRequest } from '../../domain/rollout/rollout-request';
import { parseRolloutSpec, type RolloutSpec, type RolloutTarget, type WorkloadKind } from '../../domain/rollout/rollout-spec';
import { describeTarget, targetKey } from '../../domain/rollout/rollout-summary';
import type { Logger } from '../../platform/logger';
import { MAX_CONTROL_REASON_LENGTH, rolloutWorkflowId, type RolloutPods, type RolloutStatus } from '../../contracts/rollout-messages';
import { callerName, type Authorizer, type Caller, type ResourceAction } from '../auth';
import { HttpError, invalidInput, type ErrorBody } from '../http-errors';
import { RolloutEndedError, RolloutRefusedError, type RolloutRecord, type RolloutWorkflows } from './rollout-workflows';
import type { LiveWorkload, WorkloadReader } from './rollout-workloads';
import { hasBody, jsonBody, parseInput, routeHelpers } from '../routes';

/** Longest request body: a whole pod template may be large, but not this large. */
export const MAX_SPEC_BODY = '256kb';
/** Rows a list answers at most (`truncated` says when there were more). */
export const MAX_LIST_ROWS = 200;

// ---------------------------------------------------------------------------
// Inputs (the OpenAPI document is generated from these same schemas)
// ---------------------------------------------------------------------------

export const RolloutIdParamsSchema = z.object({
  id: z
    .string()
    .regex(ROLLOUT_ID_PATTERN, { error: 'expected a rollout ID: letters, digits, ".", "_" or "-", at most 64' })
    .meta({ description: 'The rollout ID answered by POST /v1/rollouts.', example: '3f9a0c1b2d4e' }),
});
const ID_PARAMS = { where: 'path', expected: 'a path', fields: 'id' };

export const RolloutListQuerySchema = z.strictObject({
  namespace: z
    .string({ error: 'expected one namespace name' })
    .pipe(namespaceName())
    .optional()
    .meta({ description: 'Only rollouts of workloads in this namespace (all namespaces when left out).' }),
  state: z
    .enum(ROLLOUT_STATES, { error: (issue) => `expected one of ${ROLLOUT_STATES.join(', ')}, got ${JSON.stringify(issue.input)}` })
    .optional()
    .meta({ description: 'Only rollouts in this state.' }),
});
const LIST_QUERY = { where: 'query', expected: 'a query string', fields: 'namespace, state' };

export const RolloutControlRequestSchema = z
  .strictObject({
    reason: z
      .string({ error: 'expected a string' })
      .max(MAX_CONTROL_REASON_LENGTH, { error: `at most ${MAX_CONTROL_REASON_LENGTH} characters` })
      .optional()
      .meta({ description: 'Why, kept in the rollout’s decisions.' }),
  })
  .meta({ id: 'RolloutControlRequest' });
const CONTROL_BODY = { where: 'body', expected: 'a JSON object {reason?}', fields: 'reason' };

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

/** 202 (started, or superseding), or 200 with `existing: true` for a request ID seen before. */
export interface RolloutStartedBody {
  rolloutId: string;
  workflowId: string;
  statusUrl: string;
  temporalUiUrl?: string;
  existing: boolean;
  /** The rollout this one replaced (supersede: true). */
  supersededRolloutId?: string;
}

export interface RolloutStatusBody extends RolloutStatus {
  runId: string;
  statusUrl: string;
  temporalUiUrl?: string;
  /** True when `pods` comes from the running bake's last heartbeat rather than the workflow's last gate observation. */
  podsLive: boolean;
}

/** A list row: the record as visibility has it. */
export type RolloutListItem = Omit<RolloutRecord, 'running'>;

export interface RolloutListBody {
  rollouts: RolloutListItem[];
  /** More rollouts matched than the answer holds (MAX_LIST_ROWS). */
  truncated: boolean;
}

/** 409 for a start while another rollout runs on the target. */
export interface RolloutConflictBody extends ErrorBody {
  runningRolloutId: string;
}

// ---------------------------------------------------------------------------
// The router
// ---------------------------------------------------------------------------

export interface RolloutRouterDeps {
  workflows: RolloutWorkflows;
  workloads: WorkloadReader;
  authorizer: Authorizer;
  logger: Logger;
  /** Temporal Web UI base URL and namespace, for links. */
  temporalUi?: { url: string; namespace: string };
  /** Random rollout IDs (tests pass their own). */
  newRolloutId?: () => string;
}

/** A stable ID for a target and request ID: the same request started twice is one rollout. */
export function requestRolloutId(target: RolloutTarget, requestId: string): string {
  return createHash('sha256')
    .update(`${targetKey(target)}\n${requestId}`, 'utf8')
    .digest('hex')
    .slice(0, 12);
}

const randomRolloutId = (): string => randomBytes(6).toString('hex');

export const rolloutStatusUrl = (rolloutId: string): string => `/v1/rollouts/${encodeURIComponent(rolloutId)}`;

const RESOURCES: Record<WorkloadKind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets' };

const workloadAction = (verb: 'get' | 'patch', target: RolloutTarget): ResourceAction => ({
  verb,
  group: 'apps',
  resource: RESOURCES[target.kind],
  namespace: target.namespace,
  name: target.name,
});

const listItem = ({ running: _running, ...item }: RolloutRecord): RolloutListItem => item;

/** The state to name for an ended run: its last state, or how Temporal ended it. */
const endedState = (r: RolloutRecord): string => r.state ?? r.executionStatus;

export function createRolloutRouter(deps: RolloutRouterDeps): Router {
  const { workflows, workloads, logger, temporalUi } = deps;
  const newRolloutId = deps.newRolloutId ?? randomRolloutId;
  const { requireCaller, handle, authorize } = routeHelpers(deps.authorizer, logger);
  const router = Router();
  const specJson = jsonBody(MAX_SPEC_BODY);
  const controlJson = jsonBody('4kb');

  const uiUrl = (workflowId: string, runId?: string): { temporalUiUrl?: string } =>
    temporalUi
      ? {
          temporalUiUrl: `${temporalUi.url}/namespaces/${encodeURIComponent(temporalUi.namespace)}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${encodeURIComponent(runId)}` : ''}`,
        }
      : {};

  const startedBody = (
    rolloutId: string,
    workflowId: string,
    runId: string | undefined,
    extra: Partial<RolloutStartedBody>,
  ): RolloutStartedBody => ({
    rolloutId,
    workflowId,
    statusUrl: rolloutStatusUrl(rolloutId),
    ...uiUrl(workflowId, runId),
    existing: false,
    ...extra,
  });

  const statusBody = (record: RolloutRecord, status: RolloutStatus, livePods: RolloutPods | null): RolloutStatusBody => ({
    ...status,
    ...(livePods !== null && { pods: livePods }),
    runId: record.runId,
    statusUrl: rolloutStatusUrl(record.rolloutId),
    ...uiUrl(record.workflowId, record.runId),
    podsLive: livePods !== null,
  });

  const findOr404 = async (id: string): Promise<RolloutRecord> => {
    const record = await workflows.find(id);
    if (record === null) throw new HttpError(404, `no rollout ${id}`, [{ field: 'id', message: 'no rollout has this ID' }]);
    return record;
  };

  const readWorkload = async (target: RolloutTarget): Promise<LiveWorkload | null> => {
    try {
      return await workloads.read(target);
    } catch (err) {
      throw Object.assign(new HttpError(503, `cannot read ${describeTarget(target)}: the Kubernetes apiserver did not answer`), {
        cause: err,
      });
    }
  };

  router.post(
    '/v1/rollouts',
    requireCaller,
    specJson,
    handle(async (req, res) => {
      const parsed = parseRolloutSpec(req.body);
      if (!parsed.ok) throw invalidInput(parsed.problems.map((p) => ({ field: p.path === '' ? 'body' : p.path, message: p.message })));
      const spec: RolloutSpec = parsed.spec;
      const { target } = spec;
      await authorize(res, workloadAction('patch', target), `roll out ${describeTarget(target)}`);
      const live = await readWorkload(target);
      if (live === null) {
        throw new HttpError(422, `${describeTarget(target)} does not exist`, [
          { field: 'target', message: `no ${target.kind} named ${target.name} in namespace ${target.namespace}` },
        ]);
      }
      const rolloutId = spec.requestId === undefined ? newRolloutId() : requestRolloutId(target, spec.requestId);
      const workflowId = rolloutWorkflowId(target);

      /**
       * The request ID was used before on this target: the same start again answers 200 with the
       * rollout it started; a different spec under it (a retry that changed the image but kept
       * the ID) is refused with 422 rather than silently doing nothing.
       */
      const answerExisting = async (existing: Pick<RolloutRecord, 'workflowId' | 'runId' | 'waitsFor'>) => {
        const started = await workflows.specOf({ rolloutId, ...existing });
        if (started === null) {
          logger.warn(
            { rolloutId, requestId: spec.requestId },
            "rollout start repeated: the existing rollout's spec could not be read back; answering it as the same",
          );
        } else if (!sameRolloutRequest(started, spec)) {
          logger.info({ rolloutId, requestId: spec.requestId }, 'rollout start repeated with a different spec: refused');
          const message = `request ID ${JSON.stringify(spec.requestId)} already started rollout ${rolloutId} on ${describeTarget(target)} with a different spec; send a new request ID to roll out this one`;
          throw new HttpError(422, message, [
            {
              field: 'requestId',
              message: `already used by rollout ${rolloutId} with a different spec (${differingFields(started, spec).join(', ')} differ)`,
            },
          ]);
        }
        logger.info({ rolloutId, requestId: spec.requestId }, 'rollout start repeated: answering the existing rollout');
        res.status(200).json(startedBody(rolloutId, workflowId, existing.runId, { existing: true }));
      };
      if (spec.requestId !== undefined) {
        const seen = await workflows.find(rolloutId);
        if (seen !== null) return answerExisting(seen);
      }
      // The change against the live template, as prepareRollout will check it. Not while a
      // rollout holds the workload: its own template may be in flight (a StatefulSet's, a
      // promotion's), and the start answers 409 or supersedes it, after whose rollback
      // prepareRollout checks the change against the restored template.
      if (live.heldBy === null) {
        const problems = liveChangeProblems(live, spec);
        if (problems.length > 0)
          throw new HttpError(422, `the change cannot be rolled out to ${describeTarget(target)} as it is now`, problems);
      }

      const outcome = await workflows.start({ rolloutId, spec }).catch((err: unknown) => {
        if (err instanceof RolloutRefusedError)
          throw new HttpError(409, `the running rollout refused to be superseded: ${err.message}`, [
            { field: 'supersede', message: err.message },
          ]);
        throw err;
      });
      switch (outcome.outcome) {
        case 'existing':
          return answerExisting({
            workflowId,
            runId: outcome.runId,
            ...(outcome.waitsFor === undefined ? {} : { waitsFor: outcome.waitsFor }),
          });
        case 'conflict': {
          const message = `a rollout is already running on ${describeTarget(target)}: ${outcome.runningRolloutId}`;
          res.status(409).json({
            error: message,
            details: [
              {
                field: 'target',
                message: `rollout ${outcome.runningRolloutId} is running on this target; abort it first, or send supersede: true to replace it`,
              },
            ],
            runningRolloutId: outcome.runningRolloutId,
          } satisfies RolloutConflictBody);
          return;
        }
        case 'superseded':
          logger.info(
            { rolloutId, supersededRolloutId: outcome.supersededRolloutId, target: targetKey(target) },
            'rollout superseded through the API',
          );
          res.status(202).json(startedBody(rolloutId, workflowId, undefined, { supersededRolloutId: outcome.supersededRolloutId }));
          return;
        case 'started':
          logger.info({ rolloutId, target: targetKey(target), requestId: spec.requestId }, 'rollout started through the API');
          res.status(202).json(startedBody(rolloutId, workflowId, outcome.runId, {}));
          return;
      }
    }),
  );

  router.get(
    '/v1/rollouts',
    requireCaller,
    handle(async (req, res) => {
      const filter = parseInput(RolloutListQuerySchema, req.query, LIST_QUERY);
      const action: ResourceAction = { verb: 'list', group: 'apps', resource: 'deployments', namespace: filter.namespace ?? '' };
      await authorize(
        res,
        action,
        filter.namespace === undefined ? 'list rollouts in every namespace' : `list rollouts in namespace ${filter.namespace}`,
      );
      const { records, truncated } = await workflows.list(filter, MAX_LIST_ROWS);
      res.json({ rollouts: records.map(listItem), truncated } satisfies RolloutListBody);
    }),
  );

  router.get(
    '/v1/rollouts/:id',
    requireCaller,
    handle(async (req, res) => {
      const { id } = parseInput(RolloutIdParamsSchema, req.params, ID_PARAMS);
      const record = await findOr404(id);
      await authorize(res, workloadAction('get', record.target), `read rollout ${id} of ${describeTarget(record.target)}`);
      const { status, livePods } = await workflows.status(record);
      res.json(statusBody(record, status, livePods));
    }),
  );

  const refused = (res: Response, status: number, message: string, field: string) => {
    res.status(status).json({ error: message, details: [{ field, message }] } satisfies ErrorBody);
  };

  for (const action of ROLLOUT_CONTROLS) {
    router.post(
      `/v1/rollouts/:id/${action}`,
      requireCaller,
      controlJson,
      handle(async (req, res) => {
        const { id } = parseInput(RolloutIdParamsSchema, req.params, ID_PARAMS);
        const { reason } = parseInput(RolloutControlRequestSchema, hasBody(req) ? req.body : {}, CONTROL_BODY);
        const record = await findOr404(id);
        await authorize(res, workloadAction('patch', record.target), `${action} rollout ${id} of ${describeTarget(record.target)}`);
        const ended = (r: RolloutRecord) => refused(res, 409, `cannot ${action} rollout ${id}: it has ended (${endedState(r)})`, 'id');
        if (record.waitsFor !== undefined) {
          return refused(
            res,
            409,
            `cannot ${action} rollout ${id}: it has not started; it waits for rollout ${record.waitsFor}, which it superseded, to roll back`,
            'id',
          );
        }
        if (!record.running) return ended(record);
        try {
          const by = callerName((res.locals as { caller?: Caller }).caller);
          const status = await workflows.control(record, action, {
            ...(reason === undefined ? {} : { reason }),
            ...(by === undefined ? {} : { by }),
          });
          logger.info({ rolloutId: id, action, reason, by }, 'rollout control accepted');
          res.json(statusBody(record, status, null));
        } catch (err) {
          if (err instanceof RolloutRefusedError) {
            logger.info({ rolloutId: id, action, refusal: err.message }, 'rollout control refused');
            return refused(res, 409, err.message, 'action');
          }
          if (err instanceof RolloutEndedError) return ended((await workflows.find(id)) ?? { ...record, executionStatus: 'ended' });
          throw err;
        }
      }),
    );
  }

  return router;
}

/**
 * The repair REST API:
 *
 *   GET  /v1/namespaces/{ns}/repair          → the repair workflow's state (RepairStatusBody)
 *   POST /v1/namespaces/{ns}/repair/pause    {reason?}  → the state after pausing
 *   POST /v1/namespaces/{ns}/repair/resume             → the state after resuming
 *
 * Who may: reading needs `list` on pods in the namespace (the state names its failing pods);
 * pausing and resuming need `create` on pods/eviction there, the power repair exercises.
 * A namespace without a repair workflow gets 404; one whose workflow has stopped, 409.
 */
import { Router } from 'express';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { namespaceName } from '../../domain/shared/checked-string';
import type { RepairView } from '../../domain/repair/repair';
import type { Logger } from '../../platform/logger';
import {
  MAX_PAUSE_REASON_LENGTH,
  pauseRepairUpdate,
  repairStateQuery,
  repairWorkflowId,
  resumeRepairUpdate,
} from '../../contracts/repair-messages';
import type { Authorizer, ResourceAction } from '../auth';
import { HttpError } from '../http-errors';
import { hasBody, jsonBody, parseInput, routeHelpers } from '../routes';

/** What the routes need from Temporal; temporalRepairControl is the real one. */
export interface RepairControl {
  state(namespace: string): Promise<RepairView>;
  pause(namespace: string, reason: string | undefined): Promise<RepairView>;
  resume(namespace: string): Promise<RepairView>;
}

export interface RepairStatusBody extends RepairView {
  workflowId: string;
  /** The workflow in the Temporal Web UI, when AUTOCRANE_TEMPORAL_UI_URL is set. */
  temporalUiUrl?: string;
}

export interface RepairRouterDeps {
  control: RepairControl;
  authorizer: Authorizer;
  logger: Logger;
  /** Temporal Web UI base URL and namespace, for links. */
  temporalUi?: { url: string; namespace: string };
}

/** The repair workflow is missing (404) or not running (409). */
export class RepairUnavailableError extends Error {
  constructor(
    readonly reason: 'missing' | 'stopped',
    message: string,
  ) {
    super(message);
  }
}

function isStoppedWorkflowError(err: unknown): boolean {
  const message = err instanceof Error ? `${err.message} ${String((err as { cause?: Error }).cause?.message ?? '')}` : '';
  return /already completed|workflow execution already finished|not running/i.test(message);
}

/** RepairControl over a Temporal client: a query for the state, updates for pause and resume. */
export function temporalRepairControl(client: Client): RepairControl {
  const call = async <T>(namespace: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new RepairUnavailableError(
          'missing',
          `no repair workflow for namespace ${namespace}: the worker starts one for each namespace in AUTOCRANE_WATCH_NAMESPACES`,
        );
      }
      if (isStoppedWorkflowError(err)) {
        throw new RepairUnavailableError(
          'stopped',
          `the repair workflow of namespace ${namespace} is not running; restart the worker to start it again`,
        );
      }
      throw err;
    }
  };
  const handle = (namespace: string) => client.workflow.getHandle(repairWorkflowId(namespace));
  return {
    state: (namespace) => call(namespace, () => handle(namespace).query(repairStateQuery)),
    pause: (namespace, reason) =>
      call(namespace, () => handle(namespace).executeUpdate(pauseRepairUpdate, { args: [reason === undefined ? {} : { reason }] })),
    resume: (namespace) => call(namespace, () => handle(namespace).executeUpdate(resumeRepairUpdate)),
  };
}

export const RepairParamsSchema = z.object({ namespace: namespaceName() });
const PATH = { where: 'path', expected: 'a path', fields: 'namespace' };

export const RepairPauseSchema = z.strictObject({
  reason: z
    .string({ error: 'expected a string' })
    .max(MAX_PAUSE_REASON_LENGTH, { error: `at most ${MAX_PAUSE_REASON_LENGTH} characters` })
    .optional(),
});
const PAUSE_BODY = { where: 'body', expected: 'a JSON object {reason?}', fields: 'reason' };

const readAction = (namespace: string): ResourceAction => ({ verb: 'list', group: '', resource: 'pods', namespace });
const controlAction = (namespace: string): ResourceAction => ({
  verb: 'create',
  group: '',
  resource: 'pods',
  subresource: 'eviction',
  namespace,
});

export function createRepairRouter(deps: RepairRouterDeps): Router {
  const { control, logger, temporalUi } = deps;
  const { requireCaller, handle, authorize } = routeHelpers(deps.authorizer, logger);
  const router = Router();
  const json = jsonBody('4kb');

  const body = (namespace: string, view: RepairView): RepairStatusBody => {
    const workflowId = repairWorkflowId(namespace);
    return {
      workflowId,
      ...(temporalUi && {
        temporalUiUrl: `${temporalUi.url}/namespaces/${encodeURIComponent(temporalUi.namespace)}/workflows/${encodeURIComponent(workflowId)}`,
      }),
      ...view,
    };
  };
  const unavailable = (err: unknown): never => {
    if (err instanceof RepairUnavailableError) throw new HttpError(err.reason === 'missing' ? 404 : 409, err.message);
    throw err;
  };

  router.get(
    '/v1/namespaces/:namespace/repair',
    requireCaller,
    handle(async (req, res) => {
      const { namespace } = parseInput(RepairParamsSchema, req.params, PATH);
      await authorize(res, readAction(namespace), `read the repair state of namespace ${namespace}`);
      res.json(body(namespace, await control.state(namespace).catch(unavailable)));
    }),
  );

  router.post(
    '/v1/namespaces/:namespace/repair/pause',
    requireCaller,
    json,
    handle(async (req, res) => {
      const { namespace } = parseInput(RepairParamsSchema, req.params, PATH);
      const { reason } = parseInput(RepairPauseSchema, hasBody(req) ? req.body : {}, PAUSE_BODY);
      await authorize(res, controlAction(namespace), `pause repair in namespace ${namespace}`);
      const view = await control.pause(namespace, reason).catch(unavailable);
      logger.info({ namespace, reason }, 'repair paused through the API');
      res.json(body(namespace, view));
    }),
  );

  router.post(
    '/v1/namespaces/:namespace/repair/resume',
    requireCaller,
    handle(async (req, res) => {
      const { namespace } = parseInput(RepairParamsSchema, req.params, PATH);
      await authorize(res, controlAction(namespace), `resume repair in namespace ${namespace}`);
      const view = await control.resume(namespace).catch(unavailable);
      logger.info({ namespace }, 'repair resumed through the API');
      res.json(body(namespace, view));
    }),
  );

  return router;
}

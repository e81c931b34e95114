/**
 * The data-rollout REST API, one workflow per namespace and source:
 *
 *   GET  /v1/namespaces/{ns}/data/{source}          → DataRolloutStatusBody (LKG, latest, rollout, recent, decisions)
 *   POST /v1/namespaces/{ns}/data/{source}/start    {version?, stages?, maxErrorPods?, ackTimeoutSeconds?, reason?}
 *   POST /v1/namespaces/{ns}/data/{source}/pause    {reason?}
 *   POST /v1/namespaces/{ns}/data/{source}/resume   {reason?}
 *   POST /v1/namespaces/{ns}/data/{source}/abort    {reason?}   (every upgraded pod back to the LKG)
 *
 * Each answers with the status after the control took effect. Who may: reading needs `get` on
 * pods in the namespace; steering needs `patch` on pods there, the power a data rollout
 * exercises (it writes the pods' request annotations). A source without a workflow gets 404 (it
 * starts when the data repository first announces a version); a refused control, 409 with the
 * workflow's reason ("pause: rollout is already paused (state Paused, from Baking)").
 */
import { Router } from 'express';
import { z } from 'zod';
import { DATA_ROLLOUT_LIMITS, shareError } from '../../domain/data/data-rollout';
import { namespaceName, sourceName } from '../../domain/shared/checked-string';
import { DATA_ROLLOUT_CONTROLS } from '../../domain/gate/stage-controls';
import type { Logger } from '../../platform/logger';
import { MAX_DATA_CONTROL_REASON_LENGTH, type DataRolloutStatus } from '../../contracts/data-rollout-messages';
import { callerName, type Authorizer, type Caller, type ResourceAction } from '../auth';
import { DataRolloutRefusedError, DataRolloutUnavailableError, type DataRolloutWorkflows } from './data-rollout-workflows';
import { HttpError } from '../http-errors';
import { hasBody, jsonBody, parseInput, routeHelpers } from '../routes';

export interface DataRolloutStatusBody extends DataRolloutStatus {
  temporalUiUrl?: string;
}

export interface DataRolloutRouterDeps {
  workflows: DataRolloutWorkflows;
  authorizer: Authorizer;
  logger: Logger;
  temporalUi?: { url: string; namespace: string };
}

export const DataRolloutParamsSchema = z.object({ namespace: namespaceName(), source: sourceName() });
const PATH = { where: 'path', expected: 'a path', fields: 'namespace, source' };

const reason = z
  .string({ error: 'expected a string' })
  .max(MAX_DATA_CONTROL_REASON_LENGTH, { error: `at most ${MAX_DATA_CONTROL_REASON_LENGTH} characters` });
const wholeNumber = (min: number, max: number) =>
  z
    .number({ error: `expected a whole number from ${min} to ${max}` })
    .int({ error: `expected a whole number from ${min} to ${max}` })
    .min(min, { error: `expected a whole number from ${min} to ${max}` })
    .max(max, { error: `expected a whole number from ${min} to ${max}` });

export const DataRolloutStartSchema = z.strictObject({
  version: z.string({ error: 'expected a version ID' }).optional(),
  stages: z
    .array(
      z.strictObject({
        pods: z.union([z.number(), z.string()], { error: 'expected a pod count or a percentage' }).superRefine((v, ctx) => {
          const problem = shareError(v);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
        probationSeconds: wholeNumber(0, DATA_ROLLOUT_LIMITS.maxProbationSeconds),
      }),
      { error: 'expected a list of {pods, probationSeconds}' },
    )
    .min(1, { error: `expected 1 to ${DATA_ROLLOUT_LIMITS.maxStages} stages` })
    .max(DATA_ROLLOUT_LIMITS.maxStages, { error: `expected 1 to ${DATA_ROLLOUT_LIMITS.maxStages} stages` })
    .optional(),
  maxErrorPods: wholeNumber(0, DATA_ROLLOUT_LIMITS.maxErrorPods).optional(),
  ackTimeoutSeconds: wholeNumber(1, DATA_ROLLOUT_LIMITS.maxAckTimeoutSeconds).optional(),
  reason: reason.optional(),
});
const START_BODY = {
  where: 'body',
  expected: 'a JSON object {version?, stages?, maxErrorPods?, ackTimeoutSeconds?, reason?}',
  fields: 'version, stages, maxErrorPods, ackTimeoutSeconds, reason',
};
export const DataRolloutControlSchema = z.strictObject({ reason: reason.optional() });
const CONTROL_BODY = { where: 'body', expected: 'a JSON object {reason?}', fields: 'reason' };

const readAction = (namespace: string): ResourceAction => ({ verb: 'get', group: '', resource: 'pods', namespace });
const steerAction = (namespace: string): ResourceAction => ({ verb: 'patch', group: '', resource: 'pods', namespace });

export function createDataRolloutRouter(deps: DataRolloutRouterDeps): Router {
  const { workflows, logger, temporalUi } = deps;
  const { requireCaller, handle, authorize } = routeHelpers(deps.authorizer, logger);
  const router = Router();
  const json = jsonBody('16kb');
  const base = '/v1/namespaces/:namespace/data/:source';

  const body = (status: DataRolloutStatus): DataRolloutStatusBody => ({
    ...(temporalUi && {
      temporalUiUrl: `${temporalUi.url}/namespaces/${encodeURIComponent(temporalUi.namespace)}/workflows/${encodeURIComponent(status.workflowId)}`,
    }),
    ...status,
  });
  const translate = (err: unknown): never => {
    if (err instanceof DataRolloutUnavailableError) throw new HttpError(404, err.message);
    if (err instanceof DataRolloutRefusedError) throw new HttpError(409, err.message);
    throw err;
  };

  router.get(
    base,
    requireCaller,
    handle(async (req, res) => {
      const { namespace, source } = parseInput(DataRolloutParamsSchema, req.params, PATH);
      await authorize(res, readAction(namespace), `read the data rollouts of ${source} in namespace ${namespace}`);
      res.json(body(await workflows.status(namespace, source).catch(translate)));
    }),
  );

  router.post(
    `${base}/start`,
    requireCaller,
    json,
    handle(async (req, res) => {
      const { namespace, source } = parseInput(DataRolloutParamsSchema, req.params, PATH);
      const request = parseInput(DataRolloutStartSchema, hasBody(req) ? req.body : {}, START_BODY);
      await authorize(res, steerAction(namespace), `start a data rollout of ${source} in namespace ${namespace}`);
      const by = callerName((res.locals as { caller?: Caller }).caller);
      const status = await workflows.start(namespace, source, { ...request, ...(by === undefined ? {} : { by }) }).catch(translate);
      logger.info({ namespace, source, version: status.rollout?.version ?? request.version, by }, 'data rollout started through the API');
      res.json(body(status));
    }),
  );

  for (const name of DATA_ROLLOUT_CONTROLS) {
    router.post(
      `${base}/${name}`,
      requireCaller,
      json,
      handle(async (req, res) => {
        const { namespace, source } = parseInput(DataRolloutParamsSchema, req.params, PATH);
        const request = parseInput(DataRolloutControlSchema, hasBody(req) ? req.body : {}, CONTROL_BODY);
        await authorize(res, steerAction(namespace), `${name} the data rollout of ${source} in namespace ${namespace}`);
        const by = callerName((res.locals as { caller?: Caller }).caller);
        const status = await workflows
          .control(namespace, source, name, { ...request, ...(by === undefined ? {} : { by }) })
          .catch(translate);
        logger.info({ namespace, source, control: name, by }, `data rollout ${name} through the API`);
        res.json(body(status));
      }),
    );
  }

  return router;
}

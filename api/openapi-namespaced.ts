/**
 * The namespaced routes in the OpenAPI document (openapi.ts): watchdogs, repair and data
 * rollouts, with the very path and body schemas their routes validate with.
 *
 * The watchdog answers are described field by field and checked against their interfaces at
 * compile time, both ways. The repair and data-rollout states are the workflows' own views,
 * large and still growing: their top-level fields are described and checked the same way,
 * the records inside them are objects whose fields docs/repair.md and docs/data-rollouts.md describe.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { DATA_ROLLOUT_CONTROLS } from '../domain/gate/stage-controls';
import { WATCHDOG_LEVELS } from '../domain/watchdog/watchdog-status';
import type { DataRolloutStatusBody } from './data/data-rollouts';
import { DataRolloutControlSchema, DataRolloutParamsSchema, DataRolloutStartSchema } from './data/data-rollouts';
import { AUTH_ERRORS, bodyErrors, type Same, errors, json, jsonRequest, type Security } from './openapi-common';
import { RepairParamsSchema, RepairPauseSchema, type RepairStatusBody } from './repair/repair';
import {
  WatchdogParamsSchema,
  WatchdogPodParamsSchema,
  WatchdogPutSchema,
  type WatchdogListBody,
  type WatchdogPutBody,
  type WatchdogView,
} from './watchdog/watchdogs';

const ReadLevelSchema = z
  .enum([...WATCHDOG_LEVELS, 'unknown'])
  .meta({ description: "The level; 'unknown' for a stored value that was not understood." });

const WatchdogViewSchema = z
  .object({
    name: z.string(),
    level: ReadLevelSchema,
    time: z.string().nullable().meta({ description: 'RFC 3339 UTC to the second; null when the stored time could not be parsed.' }),
    message: z.string(),
    problem: z.string().optional().meta({ description: 'Why a stored value was not understood (level unknown).' }),
    raw: z.string().optional().meta({ description: 'The stored value, when it was not understood.' }),
  })
  .meta({ id: 'Watchdog' });

const WatchdogListSchema = z
  .object({ namespace: z.string(), pod: z.string(), watchdogs: z.array(WatchdogViewSchema), aggregate: ReadLevelSchema })
  .meta({ id: 'WatchdogList' });
const WatchdogPutAnswerSchema = z
  .object({ namespace: z.string(), pod: z.string(), watchdog: WatchdogViewSchema, aggregate: ReadLevelSchema })
  .meta({ id: 'WatchdogWritten' });

const record = z.looseObject({});
const RepairStatusSchema = z
  .looseObject({
    workflowId: z.string(),
    temporalUiUrl: z.string().optional(),
    namespace: z.string(),
    paused: z.boolean(),
    pauseReason: z.string().nullable(),
    policy: record,
    sweep: z.number().int(),
    lastSweepAt: z.string().nullable(),
    lastError: z.string().nullable(),
    failing: z.array(record).meta({ description: 'Failing pods, longest-failing first.' }),
    recentEvictions: z.array(record),
    refusals: z.array(record),
    heldBack: z.array(record),
    totals: record,
  })
  .meta({ id: 'RepairStatus' });

const DataRolloutStatusSchema = z
  .looseObject({
    workflowId: z.string(),
    temporalUiUrl: z.string().optional(),
    namespace: z.string(),
    source: z.string(),
    lkg: record.nullable().meta({ description: 'The last known good version and its archive URL.' }),
    latest: record.nullable(),
    settings: record.nullable(),
    rollout: record.nullable().meta({ description: 'The rollout in progress, or null.' }),
    recent: z.array(record).meta({ description: 'The last few finished rollouts, newest first.' }),
    decisions: z.array(record),
    decisionsDropped: z.number().int(),
  })
  .meta({ id: 'DataRolloutStatus' });

const _schemasMatch: [
  Same<z.infer<typeof WatchdogViewSchema>, WatchdogView>,
  Same<z.infer<typeof WatchdogListSchema>, WatchdogListBody>,
  Same<z.infer<typeof WatchdogPutAnswerSchema>, WatchdogPutBody>,
  Same<Exclude<keyof z.infer<typeof RepairStatusSchema>, string & {}> | keyof RepairStatusBody, keyof RepairStatusBody>,
  Same<Exclude<keyof z.infer<typeof DataRolloutStatusSchema>, string & {}> | keyof DataRolloutStatusBody, keyof DataRolloutStatusBody>,
] = [true, true, true, true, true];
void _schemasMatch;

/** Registers the watchdog, repair and data-rollout routes. */
export function registerNamespacedPaths(registry: OpenAPIRegistry, security: Security): void {
  registry.registerPath({
    method: 'put',
    path: '/v1/namespaces/{namespace}/pods/{pod}/watchdogs/{name}',
    summary: "Set a watchdog's status on a pod",
    description:
      "Needs patch on pods in the namespace, or the pod's own service-account token. Writes the status annotation and the health label.",
    security,
    request: { params: WatchdogParamsSchema, body: jsonRequest(WatchdogPutSchema, true) },
    responses: {
      200: json(WatchdogPutAnswerSchema, "Written: the watchdog as stored, and the pod's aggregate."),
      ...errors({
        400: 'The path or body is invalid; each detail names the field.',
        ...AUTH_ERRORS,
        404: 'No such pod.',
        409: 'The apiserver refused the write with a conflict (after retries).',
        422: 'The apiserver refused the write (e.g. metadata.annotations too long): its message, and its field in the detail.',
        429: 'The apiserver is throttling (Retry-After is passed on).',
      }),
      ...bodyErrors('16 KiB'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/namespaces/{namespace}/pods/{pod}/watchdogs',
    summary: "A pod's watchdogs",
    description: 'Needs get on pods in the namespace.',
    security,
    request: { params: WatchdogPodParamsSchema },
    responses: {
      200: json(WatchdogListSchema, 'The parsed statuses and the aggregate.'),
      ...errors({ 400: 'The path is invalid.', ...AUTH_ERRORS, 404: 'No such pod.' }),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/namespaces/{namespace}/repair',
    summary: "The namespace's repair state",
    description: 'Needs list on pods in the namespace.',
    security,
    request: { params: RepairParamsSchema },
    responses: {
      200: json(RepairStatusSchema, "The repair workflow's state."),
      ...errors({
        400: 'The path is invalid.',
        ...AUTH_ERRORS,
        404: 'No repair workflow for this namespace.',
        409: 'The repair workflow is not running.',
      }),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/namespaces/{namespace}/repair/pause',
    summary: 'Pause repair in the namespace',
    description: 'Needs create on pods/eviction in the namespace.',
    security,
    request: { params: RepairParamsSchema, body: jsonRequest(RepairPauseSchema, false) },
    responses: {
      200: json(RepairStatusSchema, 'The state after pausing.'),
      ...errors({
        400: 'The path or body is invalid.',
        ...AUTH_ERRORS,
        404: 'No repair workflow for this namespace.',
        409: 'The repair workflow is not running.',
      }),
      ...bodyErrors('4 KiB'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/namespaces/{namespace}/repair/resume',
    summary: 'Resume repair in the namespace',
    description: 'Needs create on pods/eviction in the namespace. Takes no body.',
    security,
    request: { params: RepairParamsSchema },
    responses: {
      200: json(RepairStatusSchema, 'The state after resuming.'),
      ...errors({
        400: 'The path is invalid.',
        ...AUTH_ERRORS,
        404: 'No repair workflow for this namespace.',
        409: 'The repair workflow is not running.',
      }),
    },
  });

  const dataBase = '/v1/namespaces/{namespace}/data/{source}';
  const dataErrors = (what: string) =>
    errors({
      400: `The path${what} is invalid.`,
      ...AUTH_ERRORS,
      404: 'No data rollout workflow for this source (it starts when the data repository first announces a version).',
    });
  registry.registerPath({
    method: 'get',
    path: dataBase,
    summary: "A data source's rollouts",
    description:
      'The known-good and latest versions, the rollout in progress, recent ones and every decision. Needs get on pods in the namespace.',
    security,
    request: { params: DataRolloutParamsSchema },
    responses: { 200: json(DataRolloutStatusSchema, 'The status.'), ...dataErrors('') },
  });
  registry.registerPath({
    method: 'post',
    path: `${dataBase}/start`,
    summary: 'Start a data rollout',
    description: 'Of the given version (default: the latest). Needs patch on pods in the namespace.',
    security,
    request: { params: DataRolloutParamsSchema, body: jsonRequest(DataRolloutStartSchema, false) },
    responses: {
      200: json(DataRolloutStatusSchema, 'Started: the status after it.'),
      ...dataErrors(' or body'),
      ...errors({ 409: 'Refused by the workflow (the message is its reason: unknown version, already the known-good one…).' }),
      ...bodyErrors('16 KiB'),
    },
  });
  for (const control of DATA_ROLLOUT_CONTROLS) {
    registry.registerPath({
      method: 'post',
      path: `${dataBase}/${control}`,
      summary: `${control[0]?.toUpperCase()}${control.slice(1)} the data rollout`,
      description: `${control === 'abort' ? 'Every upgraded pod goes back to the known-good version. ' : ''}Needs patch on pods in the namespace.`,
      security,
      request: { params: DataRolloutParamsSchema, body: jsonRequest(DataRolloutControlSchema, false) },
      responses: {
        200: json(DataRolloutStatusSchema, 'The status after it.'),
        ...dataErrors(' or body'),
        ...errors({ 409: 'Refused by the workflow (the message is its reason).' }),
        ...bodyErrors('16 KiB'),
      },
    });
  }
}

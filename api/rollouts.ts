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
 * One workflow per target (rolloutWorkflowId) lets Temporal refuse a second running rollout
 * atomically; each rollout run has its own short rollout ID, found again through the
 * AutoCraneRolloutId search attribute. A rollout that superseded the running one is found,
 * Pending, through the old run's AutoCraneSupersededBy until that run rolls back and
 * continues as it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { fromPayloadsAtIndex } from '@temporalio/common';
import { z } from 'zod';
import { namespaceName } from '../domain/checked-string';
import { isTerminal, ROLLOUT_STATES } from '../domain/stage-controls';
import { ROLLOUT_ANNOTATION } from '../domain/keys';
import { checkTemplateChange, type ChangeProblem, type PodTemplate } from '../domain/pod-template-change';
import { parseRolloutSpec, WORKLOAD_KINDS, type RolloutSpec, type RolloutTarget, type WorkloadKind } from '../domain/rollout-spec';
import { describeTarget, targetKey } from '../domain/rollout-summary';
import { kubernetesErrorStatus, requestTimeout } from '../platform/kubernetes';
import type { Logger } from '../platform/logger';
import {
  MAX_CONTROL_REASON_LENGTH,
  ROLLOUT_CONTROLS,
  rolloutControlUpdates,
  rolloutRunStart,
  rolloutStatusQuery,
  rolloutWorkflowId,
  supersedeRolloutUpdate,
  supersedingStatusQuery,
  type ControlRequest,
  type RolloutControl as RolloutControlName,
  type RolloutPods,
  type RolloutState,
  type RolloutStatus,
  type RolloutWorkflowInput,
} from '../workflows/rollout-messages';
import { AUTOCRANE_NAMESPACE, AUTOCRANE_ROLLOUT_ID, AUTOCRANE_STAGE, AUTOCRANE_STATE, AUTOCRANE_SUPERSEDED_BY, AUTOCRANE_TARGET } from '../workflows/search-attributes';
import { callerName, type Authorizer, type Caller, type ResourceAction } from './auth';
import { HttpError, invalidInput, type ErrorBody } from './http-errors';
import { hasBody, jsonBody, parseInput, routeHelpers } from './routes';

/** The rollout workflow's type name (workflows/rollout.ts exports `rolloutWorkflow`). */
export const ROLLOUT_WORKFLOW_TYPE = 'rolloutWorkflow';
/** The activity whose heartbeats carry live pod counts during a bake. */
export const WATCH_GATE_ACTIVITY = 'watchGate';


/**
 * A value as canonical JSON: object keys sorted, undefined members left out, arrays in order,
 * nothing else dropped. Two parsed specs are the same request when their JSON is. (Not
 * pod-template-change's canonicalJson, which drops empty values: in change.env a null
 * removes a variable, so it must not compare equal to leaving it out.)
 */
export function specJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : specJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${specJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What a repeated start must match: the parsed spec without `supersede` (how to start, not what). */
const requestPart = (spec: RolloutSpec): Record<string, unknown> => {
  const { supersede: _supersede, ...rest } = spec;
  return rest;
};

/** Whether two parsed specs ask for the same rollout (`supersede` aside). */
export function sameRolloutRequest(a: RolloutSpec, b: RolloutSpec): boolean {
  return specJson(requestPart(a)) === specJson(requestPart(b));
}

/** The top-level fields in which two parsed specs differ (`supersede` aside). */
export function differingFields(a: RolloutSpec, b: RolloutSpec): string[] {
  const left = requestPart(a);
  const right = requestPart(b);
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
  return keys.filter((k) => specJson(left[k] ?? null) !== specJson(right[k] ?? null));
}

/** Longest request body: a whole pod template may be large, but not this large. */
export const MAX_SPEC_BODY = '256kb';
/** Rows a list answers at most (`truncated` says when there were more). */
export const MAX_LIST_ROWS = 200;

// ---------------------------------------------------------------------------
// What the routes need from Temporal and Kubernetes
// ---------------------------------------------------------------------------

/** A rollout as visibility describes it: enough to authorize, address and list it. */
export interface RolloutRecord {
  rolloutId: string;
  workflowId: string;
  runId: string;
  target: RolloutTarget;
  /** AutoCraneState, null when the workflow has not set a known state. */
  state: RolloutState | null;
  /** AutoCraneStage, null before the first stage. */
  stage: number | null;
  /** Temporal's status of the run: RUNNING, COMPLETED, CONTINUED_AS_NEW (superseded), TERMINATED… */
  executionStatus: string;
  running: boolean;
  /** The memo's one-line spec summary (memo.summary). */
  summary: string | null;
  startedAt: string;
  closedAt: string | null;
  /**
   * Set on a rollout that superseded another and waits, Pending, for its rollback: the ID of
   * the rollout it waits for. workflowId and runId are then that rollout's run, which holds
   * this one's status until it continues as this rollout.
   */
  waitsFor?: string;
}

export type StartOutcome =
  | { outcome: 'started'; runId: string }
  /**
   * The running rollout is this very one (same request ID, visibility not caught up yet);
   * `waitsFor` when it is Pending in the run it superseded (see RolloutRecord.waitsFor).
   */
  | { outcome: 'existing'; runId: string; waitsFor?: string }
  | { outcome: 'conflict'; runningRolloutId: string }
  | { outcome: 'superseded'; supersededRolloutId: string };

/** What the routes need from Temporal; temporalRolloutControl is the real one. */
export interface RolloutControl {
  /** The rollout with this ID, running or ended, or null. */
  find(rolloutId: string): Promise<RolloutRecord | null>;
  /** Starts the rollout unless one runs on the target; supersedes it when the spec asks. */
  start(input: RolloutWorkflowInput): Promise<StartOutcome>;
  /**
   * The spec the rollout was started with, as the workflow received it (null when its history
   * does not hold it in the expected shape): its run's first event, or, for a rollout Pending
   * after a supersede, the accepted supersede update in the run it waits for.
   */
  specOf(record: Pick<RolloutRecord, 'rolloutId' | 'workflowId' | 'runId' | 'waitsFor'>): Promise<RolloutSpec | null>;
  /** The run's status query, and the running bake's live pod counts when there is one. */
  status(record: RolloutRecord): Promise<{ status: RolloutStatus; livePods: RolloutPods | null }>;
  list(filter: RolloutFilter, limit: number): Promise<{ records: RolloutRecord[]; truncated: boolean }>;
  /** Sends the control; throws RolloutRefusedError or RolloutEndedError. */
  control(record: RolloutRecord, action: RolloutControlName, request: ControlRequest): Promise<RolloutStatus>;
}

export interface RolloutFilter {
  namespace?: string | undefined;
  state?: RolloutState | undefined;
}

/** The workflow rejected a control or a supersede; the message is its reason. */
export class RolloutRefusedError extends Error {}
/** The run ended before the control reached it. */
export class RolloutEndedError extends Error {}

/** What a start checks its change against: the target's live pod template and selector. */
export interface LiveWorkload {
  template: PodTemplate;
  /** spec.selector.matchLabels ({} when it has none). */
  matchLabels: Record<string, string>;
  /** The rollout annotation's value: the ID of the rollout holding the workload, null when none does. */
  heldBy: string | null;
}

/** Reads a target workload (null when it does not exist); kubernetesWorkloadReader is the real one. */
export interface WorkloadReader {
  read(target: RolloutTarget): Promise<LiveWorkload | null>;
}

/**
 * The problems of a change against the live workload, each with the spec's field path: the
 * checks prepareRollout makes (checkTemplateChange), made before anything
 * starts so that such a change is answered 422 instead of starting a rollout that fails.
 */
export function liveChangeProblems(live: LiveWorkload, spec: RolloutSpec): ChangeProblem[] {
  const checked = checkTemplateChange(live.template, live.matchLabels, spec.change, describeTarget(spec.target));
  return checked.ok ? [] : checked.problems;
}

const KUBERNETES_TIMEOUT_MS = 5000;

export function kubernetesWorkloadReader(kc: KubeConfig): WorkloadReader {
  const apps = kc.makeApiClient(AppsV1Api);
  return {
    async read({ namespace, kind, name }) {
      try {
        const workload =
          kind === 'Deployment'
            ? await apps.readNamespacedDeployment({ name, namespace }, requestTimeout(KUBERNETES_TIMEOUT_MS))
            : await apps.readNamespacedStatefulSet({ name, namespace }, requestTimeout(KUBERNETES_TIMEOUT_MS));
        // The client's model as JSON: a pod template's keys are the apiserver's. Should a detail
        // differ (a date's format), a whole-template change would only look changed when it is
        // not, and prepareRollout still refuses it: the check errs towards starting.
        return {
          template: JSON.parse(JSON.stringify(workload.spec?.template ?? {})) as PodTemplate,
          matchLabels: workload.spec?.selector.matchLabels ?? {},
          heldBy: workload.metadata?.annotations?.[ROLLOUT_ANNOTATION] ?? null,
        };
      } catch (err) {
        if (kubernetesErrorStatus(err) === 404) return null;
        throw err;
      }
    },
  };
}

// ---------------------------------------------------------------------------
// The Temporal implementation
// ---------------------------------------------------------------------------

/** "Deployment shop/web". */

/** `shop/Deployment/web` (AutoCraneTarget, or a workflow ID without its `rollout/`) → the target. */
export function parseTargetKey(key: string): RolloutTarget | null {
  const parts = key.split('/');
  if (parts.length !== 3) return null;
  const [namespace, kind, name] = parts as [string, string, string];
  if (!(WORKLOAD_KINDS as readonly string[]).includes(kind)) return null;
  return { namespace, kind: kind as WorkloadKind, name };
}

const isRolloutState = (value: unknown): value is RolloutState => (ROLLOUT_STATES as readonly unknown[]).includes(value);

const WORKFLOW_ID_PREFIX = 'rollout/';

function recordOf(info: WorkflowExecutionInfo | WorkflowExecutionDescription): RolloutRecord | null {
  const attributes = info.typedSearchAttributes;
  const memoId = info.memo?.rolloutId;
  const rolloutId = attributes.get(AUTOCRANE_ROLLOUT_ID) ?? (typeof memoId === 'string' ? memoId : undefined);
  const target = parseTargetKey(attributes.get(AUTOCRANE_TARGET) ?? info.workflowId.slice(WORKFLOW_ID_PREFIX.length));
  if (rolloutId === undefined || target === null) return null;
  const state = attributes.get(AUTOCRANE_STATE);
  const stage = attributes.get(AUTOCRANE_STAGE);
  const summary = info.memo?.summary;
  return {
    rolloutId,
    workflowId: info.workflowId,
    runId: info.runId,
    target,
    state: isRolloutState(state) ? state : null,
    stage: typeof stage === 'number' && stage >= 0 ? stage : null,
    executionStatus: info.status.name,
    running: info.status.name === 'RUNNING',
    summary: typeof summary === 'string' ? summary : null,
    startedAt: info.startTime.toISOString(),
    closedAt: info.closeTime?.toISOString() ?? null,
  };
}

/** The running bake's heartbeat, when it has the shape watchGate gives it. */
function heartbeatPods(description: WorkflowExecutionDescription, decode: (payloads: unknown[]) => unknown): RolloutPods | null {
  const activity = description.raw.pendingActivities?.find((a) => a.activityType?.name === WATCH_GATE_ACTIVITY);
  const payloads = activity?.heartbeatDetails?.payloads;
  if (!payloads || payloads.length === 0) return null;
  const details = decode(payloads) as Partial<RolloutPods> | null;
  if (
    details === null ||
    typeof details !== 'object' ||
    typeof details.updated !== 'number' ||
    typeof details.ready !== 'number' ||
    !Array.isArray(details.erroring) ||
    !details.erroring.every((name) => typeof name === 'string')
  ) {
    return null;
  }
  return { updated: details.updated, ready: details.ready, erroring: details.erroring };
}

/** Updates and queries need a worker; without one they would wait for ever. */
const QUERY_DEADLINE_MS = 10_000;
const UPDATE_DEADLINE_MS = 30_000;
const START_ATTEMPTS = 3;
/** How long a start waits for a rollout in its end state to close. */
const FINISHING_WAIT_MS = 15_000;
/** How long a start waits for visibility to find the rollout it answers. */
const VISIBLE_WAIT_MS = 5_000;

/** The superseding rollout `rolloutId`, Pending in the run of the rollout it superseded. */
const pendingRecord = (superseded: RolloutRecord, rolloutId: string): RolloutRecord => ({
  ...superseded,
  rolloutId,
  state: 'Pending',
  stage: null,
  summary: null,
  waitsFor: superseded.rolloutId,
});

export interface TemporalRolloutOptions {
  taskQueue: string;
}

export function temporalRolloutControl(client: Client, options: TemporalRolloutOptions): RolloutControl {
  const converter = client.options.loadedDataConverter.payloadConverter;
  const decode = (payloads: unknown[]) => fromPayloadsAtIndex(converter, 0, payloads as Parameters<typeof fromPayloadsAtIndex>[2]);
  const within = <T>(ms: number, fn: () => Promise<T>) => client.withDeadline(Date.now() + ms, fn);

  /**
   * The rollouts of the runs `query` matches, at most `limit`. A running run that a rollout
   * superseded also stands for that rollout, Pending until the run continues as it; `keep`
   * says which of the two records are listed.
   */
  async function collect(query: string, limit: number, keep: (record: RolloutRecord) => boolean = () => true): Promise<{ records: RolloutRecord[]; truncated: boolean }> {
    const records: RolloutRecord[] = [];
    for await (const info of client.workflow.list({ query, pageSize: Math.min(limit + 1, 1000) })) {
      const record = recordOf(info);
      if (record === null) continue;
      const supersededBy = record.running ? info.typedSearchAttributes.get(AUTOCRANE_SUPERSEDED_BY) : undefined;
      const found = [...(supersededBy !== undefined ? [pendingRecord(record, supersededBy)] : []), record].filter(keep);
      for (const r of found) {
        if (records.length === limit) return { records, truncated: true };
        records.push(r);
      }
    }
    return { records, truncated: false };
  }

  async function closesWithin(workflowId: string, runId: string, ms: number): Promise<boolean> {
    const handle = client.workflow.getHandle(workflowId, runId);
    // Its outcome is not ours to report; only whether it closed in time matters.
    await within(ms, () => handle.result()).catch(() => undefined);
    return (await handle.describe()).status.name !== 'RUNNING';
  }

  async function find(rolloutId: string): Promise<RolloutRecord | null> {
    const own: RolloutRecord[] = [];
    let waiting: RolloutRecord | null = null;
    const query = `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}' AND (${AUTOCRANE_ROLLOUT_ID.name} = '${rolloutId}' OR ${AUTOCRANE_SUPERSEDED_BY.name} = '${rolloutId}')`;
    for await (const info of client.workflow.list({ query, pageSize: 10 })) {
      const record = recordOf(info);
      if (record === null) continue;
      if (record.rolloutId === rolloutId) own.push(record);
      else if (info.typedSearchAttributes.get(AUTOCRANE_SUPERSEDED_BY) === rolloutId) waiting = pendingRecord(record, rolloutId);
    }
    // Should a run continued from this one still carry its ID, the first run is the rollout.
    return own.sort((a, b) => a.startedAt.localeCompare(b.startedAt))[0] ?? waiting;
  }

  /**
   * Answers a 202 once GET on its status URL finds the rollout: visibility follows a start or a
   * supersede a moment later. Not finding it in time is no error; the CLI waits a 404 out.
   */
  async function untilFound(rolloutId: string): Promise<void> {
    const deadline = Date.now() + VISIBLE_WAIT_MS;
    while ((await find(rolloutId)) === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  async function startOnce(input: RolloutWorkflowInput): Promise<StartOutcome | 'retry'> {
    const { rolloutId, spec } = input;
    const workflowId = rolloutWorkflowId(spec.target);
    const runStart = rolloutRunStart(rolloutId, spec);
    try {
      const handle = await client.workflow.start(ROLLOUT_WORKFLOW_TYPE, {
        taskQueue: options.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        typedSearchAttributes: runStart.searchAttributes,
        // The same memo the workflow upserts in every run (a run continued after a supersede overwrites it).
        memo: runStart.memo,
      });
      await untilFound(rolloutId);
      return { outcome: 'started', runId: handle.firstExecutionRunId };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const description = await client.workflow.getHandle(workflowId).describe();
    const running = recordOf(description);
    // Ended between the refused start and now: start again.
    if (description.status.name !== 'RUNNING' || running === null) return 'retry';
    if (running.rolloutId === rolloutId) return { outcome: 'existing', runId: running.runId };
    // This very rollout already superseded the running one, which is rolling back before it starts.
    if (description.typedSearchAttributes.get(AUTOCRANE_SUPERSEDED_BY) === rolloutId) return { outcome: 'existing', runId: running.runId, waitsFor: running.rolloutId };
    // A rollout already in its end state is only tidying up (finishRollout); a client that saw
    // it end may start the next one at once, so wait for it to close rather than refuse. A
    // promotion, which cannot be interrupted, ends within seconds too: the start (or supersede)
    // waits for it, then starts after it.
    const finishing = running.state !== null && (isTerminal(running.state) || running.state === 'Promoting');
    if (finishing && (await closesWithin(workflowId, running.runId, FINISHING_WAIT_MS))) return 'retry';
    if (!spec.supersede) return { outcome: 'conflict', runningRolloutId: running.rolloutId };
    try {
      await within(UPDATE_DEADLINE_MS, () =>
        client.workflow.getHandle(workflowId, running.runId).executeUpdate(supersedeRolloutUpdate, { args: [{ rolloutId, spec }] }),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'retry';
      if (err instanceof WorkflowUpdateFailedError) throw new RolloutRefusedError(err.cause?.message ?? err.message);
      throw err;
    }
    await untilFound(rolloutId);
    return { outcome: 'superseded', supersededRolloutId: running.rolloutId };
  }

  /** The events of a run's history, page by page (one page of `pageSize` when enough). */
  async function* historyEvents(workflowId: string, runId: string, pageSize: number) {
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await within(QUERY_DEADLINE_MS, () =>
        client.workflowService.getWorkflowExecutionHistory({ namespace: client.options.namespace, execution: { workflowId, runId }, maximumPageSize: pageSize, ...(nextPageToken ? { nextPageToken } : {}) }),
      );
      yield* page.history?.events ?? [];
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken !== undefined);
  }

  const requestOf = (value: unknown, rolloutId: string): RolloutSpec | null => {
    const input = value as Partial<RolloutWorkflowInput> | null;
    return input !== null && typeof input === 'object' && input.rolloutId === rolloutId && typeof input.spec === 'object' && input.spec !== null ? input.spec : null;
  };

  return {
    find: (rolloutId) => find(rolloutId),

    async specOf(record) {
      if (record.waitsFor === undefined) {
        // The run's first event holds its input: one small page.
        for await (const event of historyEvents(record.workflowId, record.runId, 1)) {
          const payloads = event.workflowExecutionStartedEventAttributes?.input?.payloads;
          return payloads ? requestOf(decode(payloads), record.rolloutId) : null;
        }
        return null;
      }
      for await (const event of historyEvents(record.workflowId, record.runId, 200)) {
        const accepted = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
        if (accepted?.name !== supersedeRolloutUpdate.name || !accepted.args?.payloads) continue;
        const spec = requestOf(decode(accepted.args.payloads), record.rolloutId);
        if (spec !== null) return spec;
      }
      return null;
    },

    async start(input) {
      for (let attempt = 1; ; attempt++) {
        const outcome = await startOnce(input);
        if (outcome !== 'retry') return outcome;
        if (attempt === START_ATTEMPTS) throw new Error(`could not start rollout ${input.rolloutId}: the rollout running on ${describeTarget(input.spec.target)} kept ending and starting`);
      }
    },

    async status(record) {
      const handle = client.workflow.getHandle(record.workflowId, record.runId);
      if (record.waitsFor !== undefined) {
        const waiting = await within(QUERY_DEADLINE_MS, () => handle.query(supersedingStatusQuery));
        if (waiting === null) throw new Error(`rollout ${record.waitsFor} holds no status of rollout ${record.rolloutId}, which superseded it`);
        return { status: waiting, livePods: null };
      }
      const [status, description] = await Promise.all([
        within(QUERY_DEADLINE_MS, () => handle.query(rolloutStatusQuery)),
        // Live counts are a bonus: the status stands without them.
        record.running ? handle.describe().catch(() => null) : Promise.resolve(null),
      ]);
      const livePods = description !== null && description.status.name === 'RUNNING' ? heartbeatPods(description, decode) : null;
      return { status, livePods };
    },

    list(filter, limit) {
      const clauses = [`WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'`];
      if (filter.namespace !== undefined) clauses.push(`${AUTOCRANE_NAMESPACE.name} = '${filter.namespace}'`);
      const { state } = filter;
      if (state === undefined) return collect(clauses.join(' AND '), limit);
      // A superseding rollout is Pending in the run it waits for, whatever that run's own state.
      const waiting = state === 'Pending' ? ` OR (${AUTOCRANE_SUPERSEDED_BY.name} IS NOT NULL AND ExecutionStatus = 'Running')` : '';
      clauses.push(`(${AUTOCRANE_STATE.name} = '${state}'${waiting})`);
      return collect(clauses.join(' AND '), limit, (r) => r.state === state);
    },

    async control(record, action, request) {
      const handle = client.workflow.getHandle(record.workflowId, record.runId);
      try {
        return await within(UPDATE_DEADLINE_MS, () => handle.executeUpdate(rolloutControlUpdates[action], { args: [request] }));
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) throw new RolloutRefusedError(err.cause?.message ?? err.message);
        if (err instanceof WorkflowNotFoundError) throw new RolloutEndedError(`rollout ${record.rolloutId} is no longer running`);
        throw err;
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Inputs (the OpenAPI document is generated from these same schemas)
// ---------------------------------------------------------------------------

/** Rollout IDs are 12 hex digits; anything safe in a visibility query string is accepted. */
const ROLLOUT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const RolloutIdParamsSchema = z.object({
  id: z
    .string()
    .regex(ROLLOUT_ID, { error: 'expected a rollout ID: letters, digits, ".", "_" or "-", at most 64' })
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
  control: RolloutControl;
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
  return createHash('sha256').update(`${targetKey(target)}\n${requestId}`, 'utf8').digest('hex').slice(0, 12);
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
  const { control, workloads, logger, temporalUi } = deps;
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

  const startedBody = (rolloutId: string, workflowId: string, runId: string | undefined, extra: Partial<RolloutStartedBody>): RolloutStartedBody => ({
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
    const record = await control.find(id);
    if (record === null) throw new HttpError(404, `no rollout ${id}`, [{ field: 'id', message: 'no rollout has this ID' }]);
    return record;
  };

  const readWorkload = async (target: RolloutTarget): Promise<LiveWorkload | null> => {
    try {
      return await workloads.read(target);
    } catch (err) {
      throw Object.assign(new HttpError(503, `cannot read ${describeTarget(target)}: the Kubernetes apiserver did not answer`), { cause: err });
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
        throw new HttpError(422, `${describeTarget(target)} does not exist`, [{ field: 'target', message: `no ${target.kind} named ${target.name} in namespace ${target.namespace}` }]);
      }
      const rolloutId = spec.requestId === undefined ? newRolloutId() : requestRolloutId(target, spec.requestId);
      const workflowId = rolloutWorkflowId(target);

      /**
       * The request ID was used before on this target: the same start again answers 200 with the
       * rollout it started; a different spec under it (a retry that changed the image but kept
       * the ID) is refused with 422 rather than silently doing nothing.
       */
      const answerExisting = async (existing: Pick<RolloutRecord, 'workflowId' | 'runId' | 'waitsFor'>) => {
        const started = await control.specOf({ rolloutId, ...existing });
        if (started === null) {
          logger.warn({ rolloutId, requestId: spec.requestId }, 'rollout start repeated: the existing rollout\'s spec could not be read back; answering it as the same');
        } else if (!sameRolloutRequest(started, spec)) {
          logger.info({ rolloutId, requestId: spec.requestId }, 'rollout start repeated with a different spec: refused');
          const message = `request ID ${JSON.stringify(spec.requestId)} already started rollout ${rolloutId} on ${describeTarget(target)} with a different spec; send a new request ID to roll out this one`;
          throw new HttpError(422, message, [{ field: 'requestId', message: `already used by rollout ${rolloutId} with a different spec (${differingFields(started, spec).join(', ')} differ)` }]);
        }
        logger.info({ rolloutId, requestId: spec.requestId }, 'rollout start repeated: answering the existing rollout');
        res.status(200).json(startedBody(rolloutId, workflowId, existing.runId, { existing: true }));
      };
      if (spec.requestId !== undefined) {
        const seen = await control.find(rolloutId);
        if (seen !== null) return answerExisting(seen);
      }
      // The change against the live template, as prepareRollout will check it. Not while a
      // rollout holds the workload: its own template may be in flight (a StatefulSet's, a
      // promotion's), and the start answers 409 or supersedes it, after whose rollback
      // prepareRollout checks the change against the restored template.
      if (live.heldBy === null) {
        const problems = liveChangeProblems(live, spec);
        if (problems.length > 0) throw new HttpError(422, `the change cannot be rolled out to ${describeTarget(target)} as it is now`, problems);
      }

      const outcome = await control.start({ rolloutId, spec }).catch((err: unknown) => {
        if (err instanceof RolloutRefusedError) throw new HttpError(409, `the running rollout refused to be superseded: ${err.message}`, [{ field: 'supersede', message: err.message }]);
        throw err;
      });
      switch (outcome.outcome) {
        case 'existing':
          return answerExisting({ workflowId, runId: outcome.runId, ...(outcome.waitsFor === undefined ? {} : { waitsFor: outcome.waitsFor }) });
        case 'conflict': {
          const message = `a rollout is already running on ${describeTarget(target)}: ${outcome.runningRolloutId}`;
          res.status(409).json({
            error: message,
            details: [{ field: 'target', message: `rollout ${outcome.runningRolloutId} is running on this target; abort it first, or send supersede: true to replace it` }],
            runningRolloutId: outcome.runningRolloutId,
          } satisfies RolloutConflictBody);
          return;
        }
        case 'superseded':
          logger.info({ rolloutId, supersededRolloutId: outcome.supersededRolloutId, target: targetKey(target) }, 'rollout superseded through the API');
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
      await authorize(res, action, filter.namespace === undefined ? 'list rollouts in every namespace' : `list rollouts in namespace ${filter.namespace}`);
      const { records, truncated } = await control.list(filter, MAX_LIST_ROWS);
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
      const { status, livePods } = await control.status(record);
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
          return refused(res, 409, `cannot ${action} rollout ${id}: it has not started; it waits for rollout ${record.waitsFor}, which it superseded, to roll back`, 'id');
        }
        if (!record.running) return ended(record);
        try {
          const by = callerName((res.locals as { caller?: Caller }).caller);
          const status = await control.control(record, action, { ...(reason === undefined ? {} : { reason }), ...(by === undefined ? {} : { by }) });
          logger.info({ rolloutId: id, action, reason, by }, 'rollout control accepted');
          res.json(statusBody(record, status, null));
        } catch (err) {
          if (err instanceof RolloutRefusedError) {
            logger.info({ rolloutId: id, action, refusal: err.message }, 'rollout control refused');
            return refused(res, 409, err.message, 'action');
          }
          if (err instanceof RolloutEndedError) return ended((await control.find(id)) ?? { ...record, executionStatus: 'ended' });
          throw err;
        }
      }),
    );
  }

  return router;
}

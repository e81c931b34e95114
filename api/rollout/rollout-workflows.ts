/**
 * The rollout workflows as the API sees them: the port the router depends on (find, start,
 * read and steer a rollout) and its Temporal implementation.
 *
 * One workflow per target (rolloutWorkflowId) lets Temporal refuse a second running rollout
 * atomically; each rollout run has its own short rollout ID, found again through the
 * AutoCraneRolloutId search attribute. A rollout that superseded the running one is found,
 * Pending, through the old run's AutoCraneSupersededBy until that run rolls back and
 * continues as it.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { fromPayloadsAtIndex } from '@temporalio/common';
import { isTerminal, ROLLOUT_STATES, type Control } from '../../domain/gate/stage-controls';
import { WORKLOAD_KINDS, type RolloutSpec, type RolloutTarget, type WorkloadKind } from '../../domain/rollout/rollout-spec';
import { describeTarget } from '../../domain/rollout/rollout-summary';
import {
  rolloutControlUpdates,
  rolloutRunStart,
  rolloutStatusQuery,
  rolloutWorkflowId,
  supersedeRolloutUpdate,
  supersedingStatusQuery,
  type ControlRequest,
  type RolloutPods,
  type RolloutState,
  type RolloutStatus,
  type RolloutWorkflowInput,
} from '../../contracts/rollout-messages';
import {
  AUTOCRANE_NAMESPACE,
  AUTOCRANE_ROLLOUT_ID,
  AUTOCRANE_STAGE,
  AUTOCRANE_STATE,
  AUTOCRANE_SUPERSEDED_BY,
  AUTOCRANE_TARGET,
} from '../../contracts/search-attributes';
import { ROLLOUT_WORKFLOW_TYPE } from '../../contracts/workflow-types';

/** The activity whose heartbeats carry live pod counts during a bake. */
export const WATCH_GATE_ACTIVITY = 'watchGate';

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

/** The rollout workflows as the routes see them; temporalRolloutWorkflows is the real one. */
export interface RolloutWorkflows {
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
  control(record: RolloutRecord, action: Control, request: ControlRequest): Promise<RolloutStatus>;
}

export interface RolloutFilter {
  namespace?: string | undefined;
  state?: RolloutState | undefined;
}

/** The workflow rejected a control or a supersede; the message is its reason. */
export class RolloutRefusedError extends Error {}
/** The run ended before the control reached it. */
export class RolloutEndedError extends Error {}

// ---------------------------------------------------------------------------
// The Temporal implementation
// ---------------------------------------------------------------------------

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

export function temporalRolloutWorkflows(client: Client, options: TemporalRolloutOptions): RolloutWorkflows {
  const converter = client.options.loadedDataConverter.payloadConverter;
  const decode = (payloads: unknown[]) => fromPayloadsAtIndex(converter, 0, payloads as Parameters<typeof fromPayloadsAtIndex>[2]);
  const within = <T>(ms: number, fn: () => Promise<T>) => client.withDeadline(Date.now() + ms, fn);

  /**
   * The rollouts of the runs `query` matches, at most `limit`. A running run that a rollout
   * superseded also stands for that rollout, Pending until the run continues as it; `keep`
   * says which of the two records are listed.
   */
  async function collect(
    query: string,
    limit: number,
    keep: (record: RolloutRecord) => boolean = () => true,
  ): Promise<{ records: RolloutRecord[]; truncated: boolean }> {
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
    if (description.typedSearchAttributes.get(AUTOCRANE_SUPERSEDED_BY) === rolloutId)
      return { outcome: 'existing', runId: running.runId, waitsFor: running.rolloutId };
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
        client.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId, runId },
          maximumPageSize: pageSize,
          ...(nextPageToken ? { nextPageToken } : {}),
        }),
      );
      yield* page.history?.events ?? [];
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken !== undefined);
  }

  const requestOf = (value: unknown, rolloutId: string): RolloutSpec | null => {
    const input = value as Partial<RolloutWorkflowInput> | null;
    return input !== null &&
      typeof input === 'object' &&
      input.rolloutId === rolloutId &&
      typeof input.spec === 'object' &&
      input.spec !== null
      ? input.spec
      : null;
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
        if (attempt === START_ATTEMPTS)
          throw new Error(
            `could not start rollout ${input.rolloutId}: the rollout running on ${describeTarget(input.spec.target)} kept ending and starting`,
          );
      }
    },

    async status(record) {
      const handle = client.workflow.getHandle(record.workflowId, record.runId);
      if (record.waitsFor !== undefined) {
        const waiting = await within(QUERY_DEADLINE_MS, () => handle.query(supersedingStatusQuery));
        if (waiting === null)
          throw new Error(`rollout ${record.waitsFor} holds no status of rollout ${record.rolloutId}, which superseded it`);
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

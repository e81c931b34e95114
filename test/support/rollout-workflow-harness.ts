import { CancelledFailure, Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import type { RolloutActivities } from '../../activities/rollout/rollout';
import type { RolloutSnapshot, StageOutcome, WatchGateInput, WatchGateResult } from '../../domain/rollout/rollout-types';
import { decideControl, type Control, type ControlContext } from '../../domain/gate/stage-controls';
import type { RolloutSpecInput } from '../../domain/rollout/rollout-spec';
import { createWorker } from '../../workers/worker-factory';
import { rolloutWorkflow } from '../../workflows';
import { rolloutControlUpdates, rolloutWorkflowId, type ControlRequest, type RolloutStatus } from '../../contracts/rollout-messages';
import { newRolloutId, rolloutSpec, waitForState } from './rollouts';
import { tierStack } from './stacks';
import { temporalClients, type TemporalClients, uniqueTaskQueue } from './temporal';

/**
 * Workflow tier: the rollout workflow on the real dev server, its activities stubbed by a
 * fake cluster the test drives (which stage scales, when a gate passes or fails).
 */

export const POLL_MS = 50;

export interface GateWatch {
  input: WatchGateInput;
  /** Set by the test to end this watch with a verdict. */
  verdict: WatchGateResult | null;
  cancelled: boolean;
}

/** 'linger': once cancelled, goes on scaling a while before it stops (as the real one did until its next heartbeat). */
export type AdvanceScript = 'gate-failed' | 'hold' | 'linger' | Error;

export const gateResult = (verdict: 'pass' | 'fail', reason: string, expected: number, erroring: string[] = []): WatchGateResult => ({
  verdict,
  reason,
  counts: { expected, updated: expected, ready: verdict === 'pass' ? expected : expected - erroring.length, erroring: erroring.length },
  erroring,
});

/** A cluster the test controls; every activity call is recorded. */
export class FakeCluster {
  readonly calls: string[] = [];
  readonly watches: GateWatch[] = [];
  readonly advances: Array<Parameters<RolloutActivities['advanceStage']>[0]> = [];
  readonly rollbacks: string[] = [];
  readonly prepared: string[] = [];
  replicas = 4;
  /** While set, every gate watch fails with this reason (a pod turned to error). */
  failing: string | null = null;
  prepareError: Error | null = null;
  rollbackError: Error | null = null;
  /** By advanceStage call number (1-based): what that call does instead of succeeding. */
  readonly advanceScript = new Map<number, AdvanceScript>();
  /** A 'hold' advanceStage waits until this is set. */
  advanceReleased = false;
  watchError: Error | null = null;
  /** prepareRollout waits while this is set. */
  prepareHeld = false;
  /** rollbackRollout waits while this is set. */
  rollbackHeld = false;
  /** promoteRollout waits while this is set. */
  promoteHeld = false;
  /** prepareRollout begins stage 1 when asked (as for a first stage within maxSurge). */
  firstStageBegins = true;
  /** advanceStage's gate does not pass yet as the scaling ends (e.g. minReadySeconds not over). */
  gateWaitsAfterScaling = false;

  /** Sleeps in the activity, heartbeating; a cancelled activity stops here with CancelledFailure. */
  private async tick(details: object): Promise<void> {
    const ctx = Context.current();
    ctx.heartbeat(details);
    await ctx.sleep(POLL_MS);
  }

  activities(): RolloutActivities {
    return {
      prepareRollout: async ({ rolloutId, spec, beginFirstStage }) => {
        this.calls.push('prepareRollout');
        this.prepared.push(rolloutId);
        if (this.prepareError) throw this.prepareError;
        while (this.prepareHeld) await this.tick({});
        const template = { metadata: { labels: { app: spec.target.name } }, spec: { containers: [{ name: 'app', image: 'old' }] } };
        const snapshot: RolloutSnapshot = {
          target: spec.target,
          uid: 'uid-1',
          replicas: this.replicas,
          selector: { app: spec.target.name },
          oldTemplate: template,
          newTemplate: { ...template, spec: { containers: [{ name: 'app', image: 'new' }] } },
          ...(beginFirstStage && this.firstStageBegins ? { firstStageBegun: ['create the canary'] } : {}),
        };
        return snapshot;
      },
      advanceStage: async (input): Promise<StageOutcome> => {
        this.calls.push('advanceStage');
        this.advances.push(input);
        const script = this.advanceScript.get(this.advances.length);
        if (script instanceof Error) throw script;
        if (script === 'gate-failed')
          return { outcome: 'gate-failed', actions: ['scale canary'], reason: 'pod web-x errors while scaling', erroring: ['web-x'] };
        if (script === 'hold') while (!this.advanceReleased) await this.tick({ updated: 0, ready: 0, erroring: [] });
        if (script === 'linger') {
          const ctx = Context.current();
          while (!ctx.cancellationSignal.aborted) {
            ctx.heartbeat({ updated: 0, ready: 0, erroring: [] });
            await new Promise((r) => setTimeout(r, POLL_MS));
          }
          await new Promise((r) => setTimeout(r, 1000));
          this.calls.push('advanceStage scaled after its cancellation');
          this.calls.push('advanceStage stopped');
          ctx.cancellationSignal.throwIfAborted();
        }
        const done = { outcome: 'done' as const, actions: [`scale canary to ${input.count}`], finishedAt: new Date().toISOString() };
        // Like the activity: with no bake, a gate that passes as the scaling ends says so.
        if (input.gateAfterScaling && !this.gateWaitsAfterScaling && !this.failing && !this.watchError) {
          const gatePassed = gateResult('pass', 'pods ready, no bake', input.count);
          const nextStarted =
            input.nextCount !== undefined
              ? [`scale canary to ${input.nextCount}`]
              : input.beginPromotion
                ? ['pause stable', 'release the canary']
                : undefined;
          return { ...done, gatePassed, ...(nextStarted ? { nextStarted } : {}) };
        }
        return done;
      },
      watchGate: async (input) => {
        this.calls.push('watchGate');
        const watch: GateWatch = { input, verdict: null, cancelled: false };
        this.watches.push(watch);
        const bakeEnds = Date.parse(input.bakeStartedAt) + input.bakeSeconds * 1000;
        try {
          for (;;) {
            if (this.watchError) throw this.watchError;
            if (this.failing) return gateResult('fail', this.failing, input.expectedPods, ['web-x']);
            if (watch.verdict) return watch.verdict;
            if (!input.holdAfterPass && Date.now() >= bakeEnds) return gateResult('pass', 'bake over, pods ready', input.expectedPods);
            await this.tick({ updated: input.expectedPods, ready: input.expectedPods, erroring: [] });
          }
        } catch (err) {
          if (err instanceof CancelledFailure) watch.cancelled = true;
          throw err;
        }
      },
      promoteRollout: async () => {
        this.calls.push('promoteRollout');
        while (this.promoteHeld) await this.tick({});
        return { actions: ['promote stable', 'delete canary'], released: true };
      },
      rollbackRollout: async ({ rolloutId }) => {
        this.calls.push('rollbackRollout');
        this.rollbacks.push(rolloutId);
        while (this.rollbackHeld) await this.tick({});
        if (this.rollbackError) throw this.rollbackError;
        return { actions: ['scale stable to 4', 'delete canary'] };
      },
      finishRollout: async () => {
        this.calls.push('finishRollout');
      },
    };
  }

  /** The latest gate watch (bake or hold). */
  get watch(): GateWatch {
    const last = this.watches.at(-1);
    if (!last) throw new Error('no gate watch yet');
    return last;
  }
}

export const kinds = (s: RolloutStatus) => s.decisions.map((d) => d.kind);

/** Each scheduled activity as the Temporal UI's timeline shows it: its type and its summary. */
export async function activityTimeline(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (!type) return [];
    const summary = e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary as Payload) : '(none)';
    return [`${type}: ${summary}`];
  });
}
export const decision = (s: RolloutStatus, kind: string) => s.decisions.find((d) => d.kind === kind);

/**
 * One worker for the calling test file on the workflow tier's dev server, each activity going to the fake
 * cluster of its target's namespace. Call it inside the file's describe: it registers the hooks that start
 * the worker, terminate each test's workflows and shut down.
 */
export function rolloutWorkflowHarness(queuePrefix = 'wf-rollout') {
  let temporal: TemporalClients;
  let worker: Worker;
  let running: Promise<void>;
  const fakes = new Map<string, FakeCluster>();
  const handles: WorkflowHandle[] = [];
  const taskQueue = uniqueTaskQueue(queuePrefix);

  const fakeOf = (namespace: string) => {
    const fake = fakes.get(namespace);
    if (!fake) throw new Error(`no fake cluster for namespace ${namespace}`);
    return fake.activities();
  };

  beforeAll(async () => {
    temporal = await temporalClients(tierStack('workflow'));
    // One worker for the file; each activity goes to the fake cluster of its target's namespace.
    const dispatch: RolloutActivities = {
      prepareRollout: (input) => fakeOf(input.spec.target.namespace).prepareRollout(input),
      advanceStage: (input) => fakeOf(input.snapshot.target.namespace).advanceStage(input),
      watchGate: (input) => fakeOf(input.snapshot.target.namespace).watchGate(input),
      promoteRollout: (input) => fakeOf(input.snapshot.target.namespace).promoteRollout(input),
      rollbackRollout: (input) => fakeOf(input.snapshot.target.namespace).rollbackRollout(input),
      finishRollout: (input) => fakeOf(input.target.namespace).finishRollout(input),
    };
    worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: tierStack('workflow').temporalNamespace,
      taskQueue,
      activities: dispatch,
    });
    running = worker.run();
  });

  afterEach(async () => {
    for (const handle of handles.splice(0)) await handle.terminate('test done').catch(() => undefined);
  });

  afterAll(async () => {
    worker.shutdown();
    await running;
    await temporal.close();
  });

  let counter = 0;
  async function start(input: Partial<RolloutSpecInput> & Pick<RolloutSpecInput, 'stages'>, fake = new FakeCluster()) {
    const namespace = `${taskQueue}-${++counter}`;
    const spec = rolloutSpec({ target: { namespace, kind: 'Deployment', name: 'web' }, ...input });
    fakes.set(namespace, fake);
    const rolloutId = newRolloutId();
    const handle = await temporal.client.workflow.start(rolloutWorkflow, {
      taskQueue,
      workflowId: rolloutWorkflowId(spec.target),
      args: [{ rolloutId, spec }],
    });
    handles.push(handle);
    return { fake, handle, spec, rolloutId };
  }

  const control = (handle: WorkflowHandle, name: Control, request: ControlRequest = {}) =>
    handle.executeUpdate(rolloutControlUpdates[name], { args: [request] });
  const until = (handle: WorkflowHandle, wanted: (s: RolloutStatus) => boolean) => waitForState(handle, wanted, 20_000);
  const searchAttributes = async (handle: WorkflowHandle) => (await handle.describe()).typedSearchAttributes;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** The update is rejected with exactly decideControl's reason for that state. */
  async function expectRefused(handle: WorkflowHandle, name: Control, ctx: ControlContext) {
    const expected = decideControl(name, ctx);
    if (expected.accepted) throw new Error(`decideControl accepts ${name} in ${JSON.stringify(ctx)}`);
    const error = await control(handle, name).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((error as WorkflowUpdateFailedError).cause?.message).toBe(expected.reason);
  }

  return {
    /** Set once the file's beforeAll has run. */
    get temporal(): TemporalClients {
      return temporal;
    },
    taskQueue,
    start,
    control,
    until,
    searchAttributes,
    sleep,
    expectRefused,
  };
}

import { CancelledFailure, Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import type { RolloutActivities } from '../../activities/rollout/rollout';
import type { RolloutSnapshot, StageOutcome, WatchGateInput, WatchGateResult } from '../../domain/rollout/rollout-types';
import { temporalRolloutWorkflows } from '../../api/rollout/rollout-workflows';
import { decideControl, type Control, type ControlContext, type RolloutState } from '../../domain/gate/stage-controls';
import type { RolloutSpec, RolloutSpecInput } from '../../domain/rollout/rollout-spec';
import { createWorker } from '../../workers/worker-factory';
import { rolloutWorkflow } from '../../workflows';
import {
  rolloutControlUpdates,
  rolloutWorkflowId,
  supersedeRolloutUpdate,
  supersedingStatusQuery,
  type ControlRequest,
  type RolloutStatus,
} from '../../contracts/rollout-messages';
import {
  AUTOCRANE_NAMESPACE,
  AUTOCRANE_ROLLOUT_ID,
  AUTOCRANE_STAGE,
  AUTOCRANE_STATE,
  AUTOCRANE_SUPERSEDED_BY,
  AUTOCRANE_TARGET,
} from '../../contracts/search-attributes';
import { eventually } from '../support/kube';
import { newRolloutId, recordHistory, rolloutSpec, rolloutState, waitForState } from '../support/rollouts';
import { tierStack } from '../support/stacks';
import { temporalClients, type TemporalClients, uniqueTaskQueue } from '../support/temporal';

/**
 * Workflow tier: the rollout workflow on the real dev server, its activities stubbed by a
 * fake cluster the test drives (which stage scales, when a gate passes or fails).
 */

const POLL_MS = 50;

interface GateWatch {
  input: WatchGateInput;
  /** Set by the test to end this watch with a verdict. */
  verdict: WatchGateResult | null;
  cancelled: boolean;
}

/** 'linger': once cancelled, goes on scaling a while before it stops (as the real one did until its next heartbeat). */
type AdvanceScript = 'gate-failed' | 'hold' | 'linger' | Error;

const gateResult = (verdict: 'pass' | 'fail', reason: string, expected: number, erroring: string[] = []): WatchGateResult => ({
  verdict,
  reason,
  counts: { expected, updated: expected, ready: verdict === 'pass' ? expected : expected - erroring.length, erroring: erroring.length },
  erroring,
});

/** A cluster the test controls; every activity call is recorded. */
class FakeCluster {
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

const kinds = (s: RolloutStatus) => s.decisions.map((d) => d.kind);

/** Each scheduled activity as the Temporal UI's timeline shows it: its type and its summary. */
async function activityTimeline(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (!type) return [];
    const summary = e.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(e.userMetadata.summary as Payload) : '(none)';
    return [`${type}: ${summary}`];
  });
}
const decision = (s: RolloutStatus, kind: string) => s.decisions.find((d) => d.kind === kind);

describe('rolloutWorkflow (stubbed activities)', () => {
  let temporal: TemporalClients;
  let worker: Worker;
  let running: Promise<void>;
  const fakes = new Map<string, FakeCluster>();
  const handles: WorkflowHandle[] = [];
  const taskQueue = uniqueTaskQueue('wf-rollout');

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

  test('stages without bake whose gate passes as they scale need no watchGate; promotion releases the target, so no finishRollout', async () => {
    const { fake, handle } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 0 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(fake.calls).toEqual(['prepareRollout', 'advanceStage', 'advanceStage', 'promoteRollout']);
    expect(fake.advances.map((a) => a.gateAfterScaling)).toEqual([true, true]);
    expect(kinds(result)).toEqual([
      'started',
      'stageStarted',
      'stageScaled',
      'gatePassed',
      'stageStarted',
      'stageScaled',
      'gatePassed',
      'promotionStarted',
      'succeeded',
    ]);
    expect(result.pods).toEqual({ updated: 4, ready: 4, erroring: [] });
  });

  test('a stage without bake or approval begins the next stage as its gate passes, and the next stage says so; one with an approval does not', async () => {
    const { fake, handle } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 0 },
        { replicas: 2, bakeSeconds: 0, approval: { timeoutSeconds: 1, onTimeout: 'proceed' } },
        { replicas: 3, bakeSeconds: 0 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(fake.advances.map((a) => a.nextCount)).toEqual([2, undefined, 4, undefined]);
    // The last stage begins the promotion instead, which still has an activity of its own.
    expect(fake.advances.map((a) => a.beginPromotion)).toEqual([undefined, undefined, undefined, true]);
    expect(fake.calls.filter((c) => c === 'promoteRollout')).toHaveLength(1);
    expect(decision(result, 'promotionStarted')?.reason).toBe(
      "every replica goes to the new template (begun as the last stage's gate passed: pause stable; release the canary)",
    );
    // Released by the promotion: no finishRollout.
    expect(fake.calls.at(-1)).toBe('promoteRollout');
    await recordHistory(handle, 'wf-stages-begun-early');
    const started = result.decisions.filter((d) => d.kind === 'stageStarted').map((d) => d.reason);
    expect(started).toEqual([
      'stage 1 of 4: 1 of 4 replicas on the new template (begun as the rollout was prepared: create the canary)',
      "stage 2 of 4: 2 of 4 replicas on the new template (begun as stage 1's gate passed: scale canary to 2)",
      'stage 3 of 4: 3 of 4 replicas on the new template',
      "stage 4 of 4: 4 of 4 replicas on the new template (begun as stage 3's gate passed: scale canary to 4)",
    ]);
  });

  test('a stage without bake whose gate has not passed as it scales is watched; a stage with a bake always is', async () => {
    const fake = new FakeCluster();
    fake.gateWaitsAfterScaling = true;
    const { handle } = await start(
      {
        stages: [
          { replicas: 1, bakeSeconds: 1 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    expect((await handle.result()).state).toBe('Succeeded');
    expect(fake.calls).toEqual(['prepareRollout', 'advanceStage', 'watchGate', 'advanceStage', 'watchGate', 'promoteRollout']);
    expect(fake.advances.map((a) => a.gateAfterScaling)).toEqual([false, true]);
    expect(fake.watches.map((w) => w.input.bakeSeconds)).toEqual([1, 0]);
  });

  test('pause during a bake holds (the gate still watched), resume bakes on to success', async () => {
    const { fake, handle } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 2 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    await until(handle, (s) => s.state === 'Baking');
    const paused = await control(handle, 'pause', { reason: 'checking dashboards', by: 'alice' });
    expect(paused.state).toBe('Paused');
    expect(decision(paused, 'paused')).toMatchObject({ stage: 0, by: 'alice', reason: 'paused stage 1 of 2: checking dashboards' });

    // Longer than the bake: a paused rollout does not move on.
    await sleep(3000);
    const held = await rolloutState(handle);
    expect(held.state).toBe('Paused');
    expect(held.stages[0]?.result).toBe('baking');
    expect(fake.calls.filter((c) => c === 'advanceStage')).toHaveLength(1);
    expect(fake.watches.map((w) => w.input.holdAfterPass ?? false)).toEqual([false, true]);
    expect((await searchAttributes(handle)).get(AUTOCRANE_STATE)).toBe('Paused');

    const resumed = await control(handle, 'resume', { by: 'alice' });
    expect(resumed.state).toBe('Baking');
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(result.stages.map((s) => s.result)).toEqual(['promoted', 'promoted']);
    expect(kinds(result)).toEqual([
      'started',
      'stageStarted',
      'stageScaled',
      'paused',
      'resumed',
      'gatePassed',
      'stageStarted',
      'stageScaled',
      'gatePassed',
      'promotionStarted',
      'succeeded',
    ]);
    // The bake resumed where it was (same start), after the hold watch was cancelled.
    const [bake, hold, rebake] = fake.watches;
    expect(rebake?.input).toMatchObject({ bakeStartedAt: bake?.input.bakeStartedAt, bakeSeconds: 2 });
    expect(rebake?.input.holdAfterPass).toBeUndefined();
    expect(hold?.input).toMatchObject({ bakeSeconds: 0, holdAfterPass: true, expectedPods: 1 });
    expect(fake.calls).not.toContain('rollbackRollout');
    await recordHistory(handle, 'wf-pause-resume');
  });

  test('a gate failure while paused rolls back', async () => {
    const { fake, handle, spec } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 3600 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    await until(handle, (s) => s.state === 'Baking');
    await control(handle, 'pause');
    await eventually(async () => expect(fake.watch.input.holdAfterPass).toBe(true), 10_000);
    fake.failing = 'pod web-x: watchdog http is at error';
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    expect(result.stages[0]).toMatchObject({ result: 'failed', reason: 'pod web-x: watchdog http is at error' });
    expect(decision(result, 'rollbackStarted')?.reason).toBe('pod web-x: watchdog http is at error');
    expect(kinds(result).slice(-4)).toEqual(['paused', 'gateFailed', 'rollbackStarted', 'rolledBack']);
    expect(fake.calls.filter((c) => c === 'rollbackRollout')).toHaveLength(1);
    expect((await searchAttributes(handle)).get(AUTOCRANE_STATE)).toBe('RolledBack');
    // In the Temporal UI, each activity says what it was for.
    const target = `Deployment ${spec.target.namespace}/web`;
    expect(await activityTimeline(handle)).toEqual([
      `prepareRollout: prepare the rollout of ${target}`,
      `advanceStage: stage 1/2: scale to 1 of 4 replicas on the new template`,
      `watchGate: stage 1/2: bake 3600s with the gate watched`,
      `watchGate: stage 1/2: watch the gate while paused`,
      `rollbackRollout: roll back: pod web-x: watchdog http is at error`,
      `finishRollout: release ${target}`,
    ]);
  });

  test.each([
    [true, 'begun by the preparation: held once stage 1 has scaled', 1],
    [false, 'not begun: held before stage 1 starts', 0],
  ])('pause while the rollout is prepared, stage 1 %s (%s)', async (begins, _what, advancesWhileHeld) => {
    const fake = new FakeCluster();
    fake.prepareHeld = true;
    fake.firstStageBegins = begins;
    const { handle } = await start(
      {
        stages: [
          { replicas: 1, bakeSeconds: 0 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    await eventually(async () => expect(fake.calls).toContain('prepareRollout'), 10_000);
    expect((await control(handle, 'pause')).state).toBe('Paused');
    fake.prepareHeld = false;
    await sleep(1500);
    const held = await rolloutState(handle);
    expect(held.state).toBe('Paused');
    expect(fake.advances).toHaveLength(advancesWhileHeld);
    expect(kinds(held)).not.toContain('gatePassed');
    expect((await control(handle, 'resume')).state).not.toBe('Paused');
    expect((await handle.result()).state).toBe('Succeeded');
  });

  test('pause while a stage scales holds once it has scaled, until resume', async () => {
    const fake = new FakeCluster();
    fake.advanceScript.set(1, 'hold');
    const { handle } = await start(
      {
        stages: [
          { replicas: 1, bakeSeconds: 0 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    await until(handle, (s) => s.state === 'Progressing');
    expect((await control(handle, 'pause')).state).toBe('Paused');
    fake.advanceReleased = true;
    await eventually(async () => expect(kinds(await rolloutState(handle))).toContain('stageScaled'), 10_000);
    await sleep(1000);
    const held = await rolloutState(handle);
    expect(held.state).toBe('Paused');
    // Held at stage 1 although its activity had begun stage 2 (the pause came before the gate passed).
    expect(fake.advances).toHaveLength(1);
    expect(fake.advances[0]?.nextCount).toBe(4);
    expect(kinds(held)).not.toContain('gatePassed');
    expect(held.stage).toBe(0);

    expect((await control(handle, 'resume')).state).toBe('Progressing');
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(kinds(result)).toEqual(expect.arrayContaining(['paused', 'resumed', 'succeeded']));
  });

  test('promote during a bake skips the rest of it: the gate is checked once more with no bake', async () => {
    const { fake, handle } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 3600 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    await until(handle, (s) => s.state === 'Baking');
    await eventually(async () => expect(fake.watches).toHaveLength(1), 10_000);
    const promoted = await control(handle, 'promote', { reason: 'metrics look fine', by: 'bob' });
    expect(decision(promoted, 'bakeSkipped')).toMatchObject({
      stage: 0,
      by: 'bob',
      reason: 'skipping the rest of the bake of stage 1 of 2: metrics look fine',
    });
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    const stage1 = fake.watches.filter((w) => w.input.expectedPods === 1);
    expect(stage1.map((w) => w.input.bakeSeconds)).toEqual([3600, 0]);
    expect(stage1[1]?.input.bakeStartedAt).toBe(stage1[0]?.input.bakeStartedAt);
    expect(kinds(result)).toEqual(expect.arrayContaining(['bakeSkipped', 'gatePassed', 'succeeded']));
    await recordHistory(handle, 'wf-promote-skips-bake');
  });

  test("rollback 'freeze': a failed gate freezes; resume re-gates with a fresh bake; promote overrides and goes on", async () => {
    const { fake, handle } = await start({
      rollback: 'freeze',
      stages: [
        { replicas: 1, bakeSeconds: 3600 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    await until(handle, (s) => s.state === 'Baking');
    fake.failing = 'pod web-x: watchdog http is at error';
    const frozen = await until(handle, (s) => s.state === 'Frozen');
    expect(frozen.stages[0]).toMatchObject({ result: 'failed', reason: 'pod web-x: watchdog http is at error' });
    expect(kinds(frozen).slice(-2)).toEqual(['gateFailed', 'frozen']);
    expect((await searchAttributes(handle)).get(AUTOCRANE_STATE)).toBe('Frozen');
    expect(fake.calls).not.toContain('rollbackRollout');
    await expectRefused(handle, 'pause', { state: 'Frozen', stage: 0, stageCount: 2 });

    fake.failing = null;
    const firstBake = fake.watch.input.bakeStartedAt;
    await control(handle, 'resume', { reason: 'fixed the probe' });
    const regated = await until(handle, (s) => s.state === 'Baking');
    expect(regated.stages[0]?.result).toBe('baking');
    await eventually(async () => expect(fake.watches).toHaveLength(2), 10_000);
    expect(fake.watch.input.bakeSeconds).toBe(3600);
    expect(Date.parse(fake.watch.input.bakeStartedAt)).toBeGreaterThan(Date.parse(firstBake));

    fake.failing = 'pod web-x: watchdog http is at error again';
    await until(handle, (s) => s.state === 'Frozen' && s.decisions.filter((d) => d.kind === 'frozen').length === 2);
    const overridden = await control(handle, 'promote', { by: 'carol' });
    expect(decision(overridden, 'gateOverridden')).toMatchObject({
      by: 'carol',
      reason: 'overriding the failed gate of stage 1 of 2; going to stage 2',
    });
    fake.failing = null;
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(result.stages.map((s) => [s.result, s.reason])).toEqual([
      ['promoted', null],
      ['promoted', null],
    ]);
    expect(fake.calls).not.toContain('rollbackRollout');
    await recordHistory(handle, 'wf-freeze-regate-override');
  });

  test("rollback 'freeze': a stage frozen while it was scaling scales again when resumed, then gets its fresh gate", async () => {
    const fake = new FakeCluster();
    fake.advanceScript.set(1, 'gate-failed');
    const { handle } = await start(
      {
        rollback: 'freeze',
        stages: [
          { replicas: 2, bakeSeconds: 1 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    const frozen = await until(handle, (s) => s.state === 'Frozen');
    expect(decision(frozen, 'gateFailed')?.reason).toBe('pod web-x errors while scaling');
    expect(fake.advances).toHaveLength(1);
    await control(handle, 'resume');
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    // The stage's scaling ran again (to the same count), before a watch of its gate with a bake.
    expect(fake.advances.map((a) => a.count)).toEqual([2, 2, 4]);
    expect(fake.calls.slice(0, 4)).toEqual(['prepareRollout', 'advanceStage', 'advanceStage', 'watchGate']);
    expect(kinds(result)).toEqual([
      'started',
      'stageStarted',
      'gateFailed',
      'frozen',
      'resumed',
      'stageScaled',
      'gatePassed',
      'stageStarted',
      'stageScaled',
      'gatePassed',
      'promotionStarted',
      'succeeded',
    ]);
  });

  test("rollback 'freeze': abort while frozen rolls back", async () => {
    const { fake, handle } = await start({ rollback: 'freeze', stages: [{ replicas: 2, bakeSeconds: 3600 }] });
    await until(handle, (s) => s.state === 'Baking');
    fake.failing = 'pod web-x: watchdog http is at error';
    await until(handle, (s) => s.state === 'Frozen');
    await control(handle, 'abort', { by: 'dave' });
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    expect(decision(result, 'rollbackStarted')?.reason).toBe('aborted by an operator while frozen');
    expect(decision(result, 'aborted')).toMatchObject({ by: 'dave', stage: 0 });
    expect(fake.rollbacks).toHaveLength(1);
  });

  test("rollback 'freeze': a re-gated stage with an approval still waits for it", async () => {
    const { fake, handle } = await start({
      rollback: 'freeze',
      stages: [
        { replicas: 1, bakeSeconds: 3600, approval: { timeoutSeconds: 600 } },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    await until(handle, (s) => s.state === 'Baking');
    fake.failing = 'pod web-x: watchdog http is at error';
    await until(handle, (s) => s.state === 'Frozen');
    fake.failing = null;
    await control(handle, 'resume');
    await until(handle, (s) => s.state === 'Baking');
    await control(handle, 'promote');
    const awaiting = await until(handle, (s) => s.state === 'AwaitingApproval');
    expect(awaiting.stages[0]?.result).toBe('awaiting-approval');
    expect(fake.advances).toHaveLength(1);
    await control(handle, 'approve');
    expect((await handle.result()).state).toBe('Succeeded');
  });

  test('refused controls reject with the reason decideControl gives and leave no trace', async () => {
    const { handle } = await start({ stages: [{ replicas: 1, bakeSeconds: 3600, approval: { timeoutSeconds: 600 } }] });
    await until(handle, (s) => s.state === 'Baking');
    const baking: ControlContext = { state: 'Baking', stage: 0, stageCount: 1 };
    await expectRefused(handle, 'approve', baking);
    await expectRefused(handle, 'resume', baking);

    await control(handle, 'pause');
    const paused: ControlContext = { state: 'Paused', pausedFrom: 'Baking', stage: 0, stageCount: 1 };
    await expectRefused(handle, 'pause', paused);
    await expectRefused(handle, 'promote', paused);
    await expectRefused(handle, 'approve', paused);
    await control(handle, 'resume');

    await control(handle, 'promote');
    await until(handle, (s) => s.state === 'AwaitingApproval');
    const awaiting: ControlContext = { state: 'AwaitingApproval', stage: 0, stageCount: 1 };
    await expectRefused(handle, 'promote', awaiting);
    await expectRefused(handle, 'resume', awaiting);
    // A reason that is too long is refused before any history is written, too.
    await expect(control(handle, 'approve', { reason: 'x'.repeat(300) })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    await control(handle, 'approve', { by: 'erin' });

    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(kinds(result)).not.toContain('controlRefused');
    expect(kinds(result).filter((k) => ['paused', 'resumed', 'bakeSkipped', 'approved'].includes(k))).toEqual([
      'paused',
      'resumed',
      'bakeSkipped',
      'approved',
    ]);
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    // Only the four accepted updates are in history; the nine refused ones are not.
    expect(events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(4);
    expect(events.filter((e) => e.workflowExecutionUpdateRejectedEventAttributes)).toHaveLength(0);
    await recordHistory(handle, 'wf-refused-controls');
  });

  test('abort, pause and supersede during the promotion are refused with the reason (not accepted and then ignored); the rollout succeeds', async () => {
    const fake = new FakeCluster();
    fake.promoteHeld = true;
    const { handle, spec } = await start({ stages: [{ replicas: '100%', bakeSeconds: 0 }] }, fake);
    await until(handle, (s) => s.state === 'Promoting');
    const reasonOf = async (p: Promise<unknown>) =>
      (
        (await p.then(
          () => null,
          (err: unknown) => err,
        )) as WorkflowUpdateFailedError | null
      )?.cause?.message;
    expect(await reasonOf(control(handle, 'abort', { reason: 'bad build' }))).toMatch(
      /^abort: the promotion is under way and cannot be interrupted; .* \(state Promoting\)$/,
    );
    expect(await reasonOf(control(handle, 'pause'))).toMatch(/^pause: the promotion is under way/);
    const nextSpec = rolloutSpec({ target: spec.target, stages: [{ replicas: '100%', bakeSeconds: 0 }] });
    expect(await reasonOf(handle.executeUpdate(supersedeRolloutUpdate, { args: [{ rolloutId: newRolloutId(), spec: nextSpec }] }))).toMatch(
      /is promoting, which cannot be interrupted/,
    );
    fake.promoteHeld = false;
    const result = await handle.result();
    expect(result.state).toBe('Succeeded');
    expect(kinds(result)).not.toContain('aborted');
    expect(fake.calls).not.toContain('rollbackRollout');
  });

  test("the API's supersede of a promoting rollout waits for the promotion, then starts the new rollout after it", async () => {
    const fake = new FakeCluster();
    fake.promoteHeld = true;
    const { handle, spec, rolloutId } = await start({ stages: [{ replicas: '100%', bakeSeconds: 0 }] }, fake);
    await until(handle, (s) => s.state === 'Promoting');
    const api = temporalRolloutWorkflows(temporal.client, { taskQueue });
    const nextId = newRolloutId();
    const starting = api.start({
      rolloutId: nextId,
      spec: rolloutSpec({ target: spec.target, stages: [{ replicas: '100%', bakeSeconds: 0 }], supersede: true }),
    });
    await sleep(1000);
    fake.promoteHeld = false;
    expect(await starting).toMatchObject({ outcome: 'started' });
    expect(await temporal.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).result()).toMatchObject({
      rolloutId,
      state: 'Succeeded',
    });
    const next = await temporal.client.workflow.getHandle(handle.workflowId).result();
    expect(next).toMatchObject({ rolloutId: nextId, state: 'Succeeded' });
  });

  test("an approval that times out with onTimeout rollback rolls back under the freeze policy too (it is the operator's default, not a gate failure)", async () => {
    const { fake, handle } = await start({
      rollback: 'freeze',
      stages: [
        { replicas: 1, bakeSeconds: 0, approval: { timeoutSeconds: 1, onTimeout: 'rollback' } },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    expect(kinds(result)).toEqual(expect.arrayContaining(['approvalTimedOut', 'rollbackStarted', 'rolledBack']));
    expect(kinds(result)).not.toContain('frozen');
    expect(decision(result, 'rollbackStarted')?.reason).toBe('approval of stage 1 timed out (onTimeout rollback)');
    expect(fake.calls).toContain('rollbackRollout');
  });

  test("an approval's timeout does not run while paused", async () => {
    const { handle } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 0, approval: { timeoutSeconds: 2, onTimeout: 'rollback' } },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    await until(handle, (s) => s.state === 'AwaitingApproval');
    const waitStarted = Date.now();
    expect((await control(handle, 'pause')).state).toBe('Paused');
    await sleep(3000);
    expect((await rolloutState(handle)).state).toBe('Paused');
    expect((await control(handle, 'resume')).state).toBe('AwaitingApproval');
    const after = await rolloutState(handle);
    expect(after.state).toBe('AwaitingApproval');
    expect(kinds(after)).not.toContain('approvalTimedOut');

    // What was left of the 2 s runs after the resume, and then the timeout takes onTimeout.
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    const timedOut = decision(result, 'approvalTimedOut');
    expect(timedOut?.reason).toBe('no approval within 2s; taking onTimeout: rollback');
    expect(Date.parse(timedOut!.at) - waitStarted).toBeGreaterThanOrEqual(4500);
    expect(decision(result, 'rollbackStarted')?.reason).toBe('approval of stage 1 timed out (onTimeout rollback)');
    await recordHistory(handle, 'wf-approval-paused');
  });

  test('supersede rolls the running rollout back and continues as the new one', async () => {
    const { fake, handle, spec, rolloutId } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 3600 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    await until(handle, (s) => s.state === 'Baking');
    const firstRunId = (await handle.describe()).runId;
    const nextId = newRolloutId();
    const nextSpec: RolloutSpec = rolloutSpec({
      target: spec.target,
      change: { images: { app: 'example.invalid/app:3' } },
      stages: [{ replicas: '100%', bakeSeconds: 0 }],
    });
    const accepted = await handle.executeUpdate(supersedeRolloutUpdate, { args: [{ rolloutId: nextId, spec: nextSpec }] });
    expect(accepted).toMatchObject({ rolloutId, supersededBy: nextId });

    const result = await handle.result();
    expect(result).toMatchObject({ rolloutId: nextId, state: 'Succeeded', supersededBy: null });
    expect(result.summary).toContain('example.invalid/app:3');
    expect(fake.prepared).toEqual([rolloutId, nextId]);
    expect(fake.rollbacks).toEqual([rolloutId]);

    const previous = temporal.client.workflow.getHandle(handle.workflowId, firstRunId);
    const old = await rolloutState(previous);
    expect(old).toMatchObject({ rolloutId, state: 'Superseded', supersededBy: nextId });
    expect(old.stages[0]?.result).toBe('aborted');
    expect(decision(old, 'superseded')?.reason).toBe(`superseded by rollout ${nextId}; rolling back before it starts`);
    expect(kinds(old).slice(-3)).toEqual(['superseded', 'rollbackStarted', 'rolledBack']);
    expect((await previous.describe()).status.name).toBe('CONTINUED_AS_NEW');

    const described = await handle.describe();
    expect(described.runId).not.toBe(firstRunId);
    expect(described.typedSearchAttributes.get(AUTOCRANE_ROLLOUT_ID)).toBe(nextId);
    expect(described.typedSearchAttributes.get(AUTOCRANE_STATE)).toBe('Succeeded');
    expect(described.memo).toMatchObject({ rolloutId: nextId, summary: result.summary });
    await recordHistory(previous, 'wf-superseded');
  });

  test('superseded: the new rollout waits Pending, found by AutoCraneSupersededBy; the same superseder again is a repeat, another is refused; the next run starts with its own attributes', async () => {
    const fake = new FakeCluster();
    fake.rollbackHeld = true;
    const { handle, spec, rolloutId } = await start(
      {
        stages: [
          { replicas: 1, bakeSeconds: 0, approval: { timeoutSeconds: 3600, onTimeout: 'rollback' } },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    await until(handle, (s) => s.state === 'AwaitingApproval');
    expect(await handle.query(supersedingStatusQuery)).toBeNull();
    const firstRunId = (await handle.describe()).runId;
    const nextId = newRolloutId();
    const nextSpec = rolloutSpec({
      target: spec.target,
      change: { images: { app: 'example.invalid/app:3' } },
      requestId: 'next-1',
      stages: [{ replicas: '100%', bakeSeconds: 0 }],
    });
    const supersede = (id: string) => handle.executeUpdate(supersedeRolloutUpdate, { args: [{ rolloutId: id, spec: nextSpec }] });
    expect(await supersede(nextId)).toMatchObject({ rolloutId, supersededBy: nextId });
    expect((await searchAttributes(handle)).get(AUTOCRANE_SUPERSEDED_BY)).toBe(nextId);

    // The rollback is held: the old run is RollingBack, the new rollout waits.
    const rollingBack = await until(handle, (s) => s.state === 'RollingBack');
    expect(rollingBack.stages[0]?.result).toBe('aborted');
    const waiting = await handle.query(supersedingStatusQuery);
    expect(waiting).toMatchObject({
      rolloutId: nextId,
      state: 'Pending',
      stage: -1,
      requestId: 'next-1',
      supersededBy: null,
      endedAt: null,
    });
    expect(waiting?.summary).toContain('example.invalid/app:3');
    expect(waiting?.stages.map((s) => s.result)).toEqual(['pending']);
    expect(waiting?.decisions).toEqual([
      expect.objectContaining({ kind: 'waiting', reason: expect.stringContaining(`waiting for rollout ${rolloutId}`) }),
    ]);

    // Listed as the API lists rollouts: the new one Pending (standing in the old run), the old one RollingBack.
    const api = temporalRolloutWorkflows(temporal.client, { taskQueue });
    const listed = async (state?: RolloutState) =>
      (await api.list({ namespace: spec.target.namespace, state }, 10)).records.map((r) => `${r.rolloutId} ${r.state}`);
    await eventually(async () => expect(await listed()).toEqual([`${nextId} Pending`, `${rolloutId} RollingBack`]), 10_000);
    expect(await listed('Pending')).toEqual([`${nextId} Pending`]);
    expect(await listed('RollingBack')).toEqual([`${rolloutId} RollingBack`]);

    // A client retrying the same start is answered; another rollout is not let in.
    const repeat = await supersede(nextId);
    expect(repeat).toMatchObject({ rolloutId, state: 'RollingBack', supersededBy: nextId });
    expect(kinds(repeat).filter((k) => k === 'superseded')).toHaveLength(1);
    const other = await supersede(newRolloutId()).then(
      () => null,
      (err: unknown) => err,
    );
    expect((other as WorkflowUpdateFailedError).cause?.message).toBe(
      `supersede: rollout ${rolloutId} is already superseded by rollout ${nextId}, which starts once it has rolled back`,
    );

    fake.rollbackHeld = false;
    const result = await handle.result();
    expect(result).toMatchObject({ rolloutId: nextId, state: 'Succeeded' });
    expect(fake.rollbacks).toEqual([rolloutId]);
    expect(fake.prepared).toEqual([rolloutId, nextId]);
    const previous = temporal.client.workflow.getHandle(handle.workflowId, firstRunId);
    expect(await rolloutState(previous)).toMatchObject({ state: 'Superseded', supersededBy: nextId });

    // The next run began with the new rollout's attributes and memo, none of the old run's.
    const described = await handle.describe();
    expect(described.runId).not.toBe(firstRunId);
    expect(described.typedSearchAttributes.get(AUTOCRANE_ROLLOUT_ID)).toBe(nextId);
    expect(described.typedSearchAttributes.get(AUTOCRANE_SUPERSEDED_BY)).toBeUndefined();
    expect(described.memo).toMatchObject({ rolloutId: nextId, requestId: 'next-1' });
    // Once it has started, the new rollout is listed by its own run, once.
    await eventually(async () => expect(await listed()).toEqual([`${nextId} Succeeded`, `${rolloutId} Superseded`]), 10_000);
    expect(await listed('Pending')).toEqual([]);
    const history = await handle.fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(Object.keys(started?.searchAttributes?.indexedFields ?? {}).sort()).toEqual(
      [AUTOCRANE_NAMESPACE.name, AUTOCRANE_ROLLOUT_ID.name, AUTOCRANE_STAGE.name, AUTOCRANE_STATE.name, AUTOCRANE_TARGET.name].sort(),
    );
    await recordHistory(previous, 'wf-superseded-waiting');
  });

  test('abort while a stage scales: the rollback starts only once the cancelled advanceStage has stopped', async () => {
    const fake = new FakeCluster();
    fake.advanceScript.set(1, 'linger');
    const { handle } = await start(
      {
        stages: [
          { replicas: 1, bakeSeconds: 0 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    await eventually(async () => expect(fake.calls).toContain('advanceStage'), 10_000);
    await control(handle, 'abort', { reason: 'wrong image' });
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    expect(result.stages[0]?.result).toBe('aborted');
    // Under TRY_CANCEL the rollback began at once, while the cancelled stage still scaled the canary.
    expect(fake.calls).toEqual([
      'prepareRollout',
      'advanceStage',
      'advanceStage scaled after its cancellation',
      'advanceStage stopped',
      'rollbackRollout',
      'finishRollout',
    ]);
  });

  test('advanceStage failing non-retryably rolls back with a reason naming it', async () => {
    const fake = new FakeCluster();
    fake.advanceScript.set(2, ApplicationFailure.nonRetryable('the apiserver refused the canary: spec.replicas invalid', 'InvalidChange'));
    const { handle } = await start(
      {
        stages: [
          { replicas: 1, bakeSeconds: 0 },
          { replicas: 2, bakeSeconds: 0 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    const reason = 'stage 2 could not scale: the apiserver refused the canary: spec.replicas invalid';
    expect(decision(result, 'rollbackStarted')?.reason).toBe(reason);
    expect(result.stages.map((s) => s.result)).toEqual(['passed', 'failed', 'pending']);
    expect(result.stages[1]?.reason).toBe(reason);
    expect(fake.rollbacks).toHaveLength(1);
    expect(fake.calls.at(-1)).toBe('finishRollout');
  });

  test('rollbackRollout failing ends the rollout Failed', async () => {
    const fake = new FakeCluster();
    fake.rollbackError = ApplicationFailure.nonRetryable('the canary Deployment web-canary was deleted by hand', 'WorkloadReplaced');
    const { handle } = await start({ stages: [{ replicas: 1, bakeSeconds: 3600 }] }, fake);
    await until(handle, (s) => s.state === 'Baking');
    await control(handle, 'abort');
    const result = await handle.result();
    expect(result.state).toBe('Failed');
    expect(decision(result, 'failed')?.reason).toBe('rollback failed: the canary Deployment web-canary was deleted by hand');
    expect(result.endedAt).not.toBeNull();
    expect((await searchAttributes(handle)).get(AUTOCRANE_STATE)).toBe('Failed');
    expect(fake.calls.at(-1)).toBe('finishRollout');
  });

  test('prepareRollout failing non-retryably ends Failed with its message and no rollback', async () => {
    const fake = new FakeCluster();
    fake.prepareError = ApplicationFailure.nonRetryable('Deployment wf/web not found', 'TargetNotFound');
    const { handle } = await start({ stages: [{ replicas: 1, bakeSeconds: 0 }] }, fake);
    const result = await handle.result();
    expect(result.state).toBe('Failed');
    expect(kinds(result)).toEqual(['started', 'failed']);
    expect(decision(result, 'failed')?.reason).toBe('could not start: Deployment wf/web not found');
    expect(result.stage).toBe(-1);
    expect(result.totalReplicas).toBeNull();
    expect(fake.calls).toEqual(['prepareRollout', 'finishRollout']);
  });

  test('watchGate failing non-retryably rolls back with a reason naming it', async () => {
    const { fake, handle } = await start({ stages: [{ replicas: 1, bakeSeconds: 3600 }] });
    await until(handle, (s) => s.state === 'Baking');
    fake.watchError = ApplicationFailure.nonRetryable('Deployment wf/web was deleted and recreated during the rollout', 'WorkloadReplaced');
    const result = await handle.result();
    expect(result.state).toBe('RolledBack');
    expect(decision(result, 'rollbackStarted')?.reason).toContain('Deployment wf/web was deleted and recreated during the rollout');
    expect(result.stages[0]?.result).toBe('failed');
  });

  test('the stage search attribute follows a stage that starts in the same state as the one before (stages without bake)', async () => {
    const fake = new FakeCluster();
    fake.advanceScript.set(2, 'hold');
    const { handle } = await start(
      {
        stages: [
          { replicas: 1, bakeSeconds: 0 },
          { replicas: 2, bakeSeconds: 0 },
          { replicas: '100%', bakeSeconds: 0 },
        ],
      },
      fake,
    );
    await until(handle, (s) => s.state === 'Progressing' && s.stage === 1);
    await eventually(async () => {
      const attributes = await searchAttributes(handle);
      expect(attributes.get(AUTOCRANE_STATE)).toBe('Progressing');
      expect(attributes.get(AUTOCRANE_STAGE)).toBe(1);
    }, 10_000);
    fake.advanceReleased = true;
    expect((await handle.result()).state).toBe('Succeeded');
    expect((await searchAttributes(handle)).get(AUTOCRANE_STAGE)).toBe(2);
  });

  test('search attributes follow the state and stage; the memo holds the summary', async () => {
    const { handle, spec, rolloutId } = await start({
      stages: [
        { replicas: 1, bakeSeconds: 0 },
        { replicas: 2, bakeSeconds: 3600 },
        { replicas: '100%', bakeSeconds: 0 },
      ],
    });
    const baking = await until(handle, (s) => s.state === 'Baking' && s.stage === 1);
    await eventually(async () => {
      const attributes = await searchAttributes(handle);
      expect(attributes.get(AUTOCRANE_STATE)).toBe('Baking');
      expect(attributes.get(AUTOCRANE_STAGE)).toBe(1);
    }, 10_000);
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(AUTOCRANE_TARGET)).toBe(`${spec.target.namespace}/Deployment/web`);
    expect(described.typedSearchAttributes.get(AUTOCRANE_NAMESPACE)).toBe(spec.target.namespace);
    expect(described.typedSearchAttributes.get(AUTOCRANE_ROLLOUT_ID)).toBe(rolloutId);
    // upsertMemo drops null values: no requestId key for a rollout started without one.
    expect(described.memo).toEqual({ summary: baking.summary, rolloutId });
    expect(baking.summary).toBe(
      `Deployment ${spec.target.namespace}/web: images app=example.invalid/app:2; 1 replica → 2 replicas → 100%, automatic rollback`,
    );

    await control(handle, 'pause');
    await eventually(async () => expect((await searchAttributes(handle)).get(AUTOCRANE_STATE)).toBe('Paused'), 10_000);
    await control(handle, 'resume');
    await control(handle, 'promote');
    expect((await handle.result()).state).toBe('Succeeded');
    const done = await searchAttributes(handle);
    expect(done.get(AUTOCRANE_STATE)).toBe('Succeeded');
    expect(done.get(AUTOCRANE_STAGE)).toBe(2);
  });
});

import { WorkflowUpdateFailedError } from '@temporalio/client';
import { type ControlContext } from '../../domain/gate/stage-controls';
import { supersedeRolloutUpdate } from '../../contracts/rollout-messages';
import { AUTOCRANE_STATE } from '../../contracts/search-attributes';
import { eventually } from '../support/kube';
import { newRolloutId, recordHistory, rolloutSpec, rolloutState } from '../support/rollouts';
import { FakeCluster, kinds, activityTimeline, decision, rolloutWorkflowHarness } from '../support/rollout-workflow-harness';

/** Workflow tier: pause, resume and promote at each step, refused controls, and approval timeouts. */
describe('rolloutWorkflow (stubbed activities): controls and approvals', () => {
  const harness = rolloutWorkflowHarness();
  const { start, control, until, searchAttributes, sleep, expectRefused } = harness;

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
});

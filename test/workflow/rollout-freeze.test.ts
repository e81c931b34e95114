import { AUTOCRANE_STATE } from '../../contracts/search-attributes';
import { eventually } from '../support/kube';
import { recordHistory } from '../support/rollouts';
import { FakeCluster, kinds, decision, rolloutWorkflowHarness } from '../support/rollout-workflow-harness';

/** Workflow tier: the 'freeze' rollback policy: a failed gate freezes the rollout for an operator. */
describe('rolloutWorkflow (stubbed activities): rollback freeze', () => {
  const harness = rolloutWorkflowHarness();
  const { start, control, until, searchAttributes, expectRefused } = harness;

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
});

import { ApplicationFailure } from '@temporalio/common';
import { AUTOCRANE_STATE } from '../../contracts/search-attributes';
import { eventually } from '../support/kube';
import { FakeCluster, kinds, decision, rolloutWorkflowHarness } from '../support/rollout-workflow-harness';

/** Workflow tier: an abort mid-scaling and activities that fail. */
describe('rolloutWorkflow (stubbed activities): failures', () => {
  const harness = rolloutWorkflowHarness();
  const { start, control, until, searchAttributes } = harness;

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
});

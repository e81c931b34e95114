import {
  AUTOCRANE_NAMESPACE,
  AUTOCRANE_ROLLOUT_ID,
  AUTOCRANE_STAGE,
  AUTOCRANE_STATE,
  AUTOCRANE_TARGET,
} from '../../contracts/search-attributes';
import { eventually } from '../support/kube';
import { recordHistory } from '../support/rollouts';
import { FakeCluster, kinds, decision, rolloutWorkflowHarness } from '../support/rollout-workflow-harness';

/** Workflow tier: how stages follow one another, and the search attributes and memo that follow the rollout. */
describe('rolloutWorkflow (stubbed activities): stages and search attributes', () => {
  const harness = rolloutWorkflowHarness();
  const { start, control, until, searchAttributes } = harness;

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

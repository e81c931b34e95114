import { WorkflowUpdateFailedError } from '@temporalio/client';
import { temporalRolloutWorkflows } from '../../api/rollout/rollout-workflows';
import { type RolloutState } from '../../domain/gate/stage-controls';
import type { RolloutSpec } from '../../domain/rollout/rollout-spec';
import { supersedeRolloutUpdate, supersedingStatusQuery } from '../../contracts/rollout-messages';
import {
  AUTOCRANE_NAMESPACE,
  AUTOCRANE_ROLLOUT_ID,
  AUTOCRANE_STAGE,
  AUTOCRANE_STATE,
  AUTOCRANE_SUPERSEDED_BY,
  AUTOCRANE_TARGET,
} from '../../contracts/search-attributes';
import { eventually } from '../support/kube';
import { newRolloutId, recordHistory, rolloutSpec, rolloutState } from '../support/rollouts';
import { FakeCluster, kinds, decision, rolloutWorkflowHarness } from '../support/rollout-workflow-harness';

/** Workflow tier: a newer rollout superseding a running one. */
describe('rolloutWorkflow (stubbed activities): supersede', () => {
  const harness = rolloutWorkflowHarness();
  const { start, until, searchAttributes, sleep, taskQueue } = harness;

  test("the API's supersede of a promoting rollout waits for the promotion, then starts the new rollout after it", async () => {
    const fake = new FakeCluster();
    fake.promoteHeld = true;
    const { handle, spec, rolloutId } = await start({ stages: [{ replicas: '100%', bakeSeconds: 0 }] }, fake);
    await until(handle, (s) => s.state === 'Promoting');
    const api = temporalRolloutWorkflows(harness.temporal.client, { taskQueue });
    const nextId = newRolloutId();
    const starting = api.start({
      rolloutId: nextId,
      spec: rolloutSpec({ target: spec.target, stages: [{ replicas: '100%', bakeSeconds: 0 }], supersede: true }),
    });
    await sleep(1000);
    fake.promoteHeld = false;
    expect(await starting).toMatchObject({ outcome: 'started' });
    expect(await harness.temporal.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).result()).toMatchObject({
      rolloutId,
      state: 'Succeeded',
    });
    const next = await harness.temporal.client.workflow.getHandle(handle.workflowId).result();
    expect(next).toMatchObject({ rolloutId: nextId, state: 'Succeeded' });
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

    const previous = harness.temporal.client.workflow.getHandle(handle.workflowId, firstRunId);
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
    const api = temporalRolloutWorkflows(harness.temporal.client, { taskQueue });
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
    const previous = harness.temporal.client.workflow.getHandle(handle.workflowId, firstRunId);
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
});

import { dataRolloutWorkflow } from '../../workflows';
import { dataRolloutWorkflowId } from '../../contracts/data-rollout-messages';
import { eventually } from '../support/kube';
import { FakeNamespace, release, kinds, dataRolloutWorkflowHarness } from '../support/data-rollout-workflow-harness';

/** Workflow tier: the data-rollout workflow on the real dev server, its activities stubbed by a fake namespace of consumer pods. */
describe('dataRolloutWorkflow (stubbed activities)', () => {
  const harness = dataRolloutWorkflowHarness();
  const { taskQueue, fakes, started, nextNamespace, bootstrapped, announce, status, until, start, control, refusal, v } = harness;

  test('bootstrap makes the first version the LKG; a new version rolls out in stages on acknowledgement and is promoted; the next run keeps the state', async () => {
    const { namespace, fake, handle } = await bootstrapped();
    const first = await status(handle);
    expect(first.lkg?.version.id).toBe(v(1));
    expect(kinds(first)).toEqual(['versionAvailable', 'bootstrap']);
    await eventually(async () => expect(fake.mirror?.lkg?.version.id).toBe(v(1)));
    const firstRun = (await handle.describe()).runId;

    await announce(namespace, 2);
    const done = await until(handle, (s) => s.recent[0]?.state === 'Succeeded');
    expect(done.lkg?.version.id).toBe(v(2));
    expect(done.latest?.version.id).toBe(v(2));
    expect(done.rollout).toBeNull();
    const run = done.recent[0]!;
    expect(run).toMatchObject({ number: 1, version: v(2), startedBy: 'auto', upgradedCount: 4 });
    expect(run.stages.map((s) => [s.pods, s.count, s.result])).toEqual([
      ['1 pod', 1, 'passed'],
      ['50%', 2, 'passed'],
      ['100%', 4, 'passed'],
    ]);
    expect(run.stages.every((s) => s.probationStartedAt !== null)).toBe(true);
    expect(kinds(done).slice(2)).toEqual([
      'versionAvailable',
      'started',
      'stageStarted',
      'acknowledged',
      'gatePassed',
      'stageStarted',
      'acknowledged',
      'gatePassed',
      'stageStarted',
      'acknowledged',
      'gatePassed',
      'succeeded',
    ]);
    expect(fake.calls.filter((c) => c.startsWith('advance'))).toEqual([`advance ${v(2)} 1`, `advance ${v(2)} 50%`, `advance ${v(2)} 100%`]);
    expect(Object.values(fake.requests())).toEqual(Array(4).fill(v(2)));
    await eventually(async () => expect(fake.mirror).toMatchObject({ lkg: { version: { id: v(2) } }, rollout: null }));

    // Continued as new after the rollout, carrying LKG, latest, the finished rollout and the decisions.
    await eventually(async () => expect((await handle.describe()).runId).not.toBe(firstRun));
    const after = await status(handle);
    expect(after.lkg?.version.id).toBe(v(2));
    expect(after.recent[0]?.state).toBe('Succeeded');
    expect(kinds(after)).toEqual(kinds(done));

    // A re-announced version is ignored; the next rollout is number 2.
    await announce(namespace, 2);
    await announce(namespace, 3);
    const next = await until(handle, (s) => s.recent[0]?.version === v(3) && s.recent[0]?.state === 'Succeeded');
    expect(next.recent[0]?.number).toBe(2);
    expect(next.lkg?.version.id).toBe(v(3));
  });

  test('a ConfigMap write lost with its worker is tried again within seconds, not after a minute, and the rollout goes on', async () => {
    const { namespace, fake, handle } = await bootstrapped();
    await eventually(async () => expect(fake.mirror?.lkg?.version.id).toBe(v(1)));
    fake.lostMirrors = 1;
    await announce(namespace, 2);
    // The short activities' start-to-close timeout bounds the wait (it was a minute).
    const done = await eventually(
      async () => {
        const s = await status(handle);
        if (s.recent[0]?.state !== 'Succeeded')
          throw new Error(`not yet: ${JSON.stringify({ rollout: s.rollout?.state, calls: fake.calls.slice(-3) })}`);
        return s;
      },
      45_000,
      200,
    );
    expect(done.lkg?.version.id).toBe(v(2));
    expect(fake.calls.filter((c) => c.startsWith('mirror lost'))).toHaveLength(1);
  });

  test('an interrupted activity has stopped before the workflow goes on: idle tending never undoes a stage', async () => {
    const fake = new FakeNamespace();
    fake.tendMs = 120_000;
    const { namespace, handle } = await bootstrapped(fake);
    await announce(namespace, 2);
    await until(handle, (s) => s.recent[0]?.state === 'Succeeded');
    const firstAdvance = fake.calls.findIndex((c) => c.startsWith('advance'));
    expect(firstAdvance).toBeGreaterThan(0);
    // The tending activity asks every pod for the LKG; still running during the rollout, it moved stage pods back.
    expect(fake.calls.slice(firstAdvance).filter((c) => c.startsWith('tend wrote'))).toEqual([]);
    expect(fake.calls.filter((c) => c.startsWith('advance'))).toEqual([`advance ${v(2)} 1`, `advance ${v(2)} 50%`, `advance ${v(2)} 100%`]);
  });

  test('with auto-start off a new version waits for a person; start refuses the LKG and unknown versions', async () => {
    const fake = new FakeNamespace(2);
    fake.settings = { ...fake.settings, autoStart: false };
    const { namespace, handle } = await bootstrapped(fake);
    await announce(namespace, 2);
    const waiting = await until(handle, (s) => s.latest?.version.id === v(2));
    expect(waiting.rollout).toBeNull();
    expect(kinds(waiting).at(-1)).toBe('waitingForStart');
    expect(fake.calls.some((c) => c.startsWith('advance'))).toBe(false);

    expect(await refusal(start(handle, { version: v(1) }))).toBe(`start: ${v(1)} is already the known-good version`);
    expect(await refusal(start(handle, { version: v(7) }))).toContain(`start: version ${v(7)} is not known; known versions:`);
    expect(await refusal(start(handle, { stages: [{ pods: '0%', probationSeconds: 1 }] }))).toContain('stages[0].pods');
    expect(await refusal(control(handle, 'abort'))).toBe('abort: no data rollout of cfg is in progress');

    const accepted = await start(handle, { stages: [{ pods: '100%', probationSeconds: 0 }], reason: 'ship it', by: 'bob' });
    expect(accepted.lkg?.version.id).toBe(v(1));
    const done = await until(handle, (s) => s.recent[0]?.state === 'Succeeded');
    expect(done.recent[0]).toMatchObject({ version: v(2), startedBy: 'bob' });
    expect(done.lkg?.version.id).toBe(v(2));
  });

  test('a newer version supersedes a running rollout: its pods go back to the LKG, then the newer one starts from stage 1', async () => {
    const fake = new FakeNamespace(4);
    const { namespace, handle } = await bootstrapped(fake);
    fake.held.add(v(2));
    await announce(namespace, 2);
    await until(handle, (s) => s.rollout?.state === 'Progressing');
    await eventually(async () => expect(fake.requests()['pod-1']).toBe(v(2)));

    await announce(namespace, 3);
    const done = await until(handle, (s) => s.recent[0]?.version === v(3) && s.recent[0]?.state === 'Succeeded');
    expect(done.recent[1]).toMatchObject({ version: v(2), state: 'Superseded', reason: `superseded by ${v(3)}` });
    expect(done.recent[1]?.stages[0]?.result).toBe('aborted');
    expect(fake.calls).toContain(`revert ${v(1)}`);
    const revertAt = fake.calls.indexOf(`revert ${v(1)}`);
    expect(fake.calls.slice(revertAt).filter((c) => c.startsWith('advance'))[0]).toBe(`advance ${v(3)} 1`);
    expect(done.lkg?.version.id).toBe(v(3));
    expect(kinds(done)).toContain('superseded');
  });

  test('a gate failure in stage 2 sends every upgraded pod back to the LKG and records why', async () => {
    const fake = new FakeNamespace(4);
    fake.settings = {
      ...fake.settings,
      stages: [
        { pods: 1, probationSeconds: 1 },
        { pods: '50%', probationSeconds: 30 },
        { pods: '100%', probationSeconds: 1 },
      ],
    };
    const { namespace, handle } = await bootstrapped(fake);
    await announce(namespace, 2);
    await until(handle, (s) => s.rollout?.stage === 1 && s.rollout.state === 'Baking');
    expect(Object.values(fake.requests()).filter((r) => r === v(2))).toHaveLength(2);

    fake.gateFailing = '1 updated pod has an error watchdog: pod-1 (http)';
    const done = await until(handle, (s) => s.recent[0]?.state === 'RolledBack');
    expect(done.lkg?.version.id).toBe(v(1));
    expect(done.recent[0]?.reason).toBe(`stage 2: ${fake.gateFailing}`);
    expect(done.recent[0]?.stages.map((s) => s.result)).toEqual(['passed', 'failed', 'pending']);
    expect(kinds(done).slice(-4)).toEqual(['acknowledged', 'gateFailed', 'rollbackStarted', 'rolledBack']);
    expect(Object.values(fake.requests())).toEqual(Array(4).fill(v(1)));
    expect(Object.values([...fake.pods.values()].map((p) => p.status?.version))).toEqual(Array(4).fill(v(1)));
    // The failed version is not started again by itself.
    fake.gateFailing = null;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await status(handle)).rollout).toBeNull();
  });

  test("a deployer's error for the version fails the stage; an acknowledgement that never comes fails it at the timeout", async () => {
    const fake = new FakeNamespace(3);
    fake.settings = { ...fake.settings, autoStart: false };
    const { namespace, handle } = await bootstrapped(fake);
    await announce(namespace, 2);
    await until(handle, (s) => s.latest?.version.id === v(2));
    fake.broken.add(v(2));
    await start(handle);
    const failed = await until(handle, (s) => s.recent[0]?.state === 'RolledBack');
    expect(failed.recent[0]?.reason).toBe(`stage 1: the data deployer could not activate ${v(2)}: pod-1: sha256 mismatch`);
    expect(fake.calls.filter((c) => c.startsWith('gate'))).toEqual([]);
    expect(Object.values(fake.requests())).toEqual(Array(3).fill(v(1)));

    fake.broken.clear();
    fake.held.add(v(2));
    await start(handle, { ackTimeoutSeconds: 1 });
    const timedOut = await until(handle, (s) => s.recent[0]?.number === 2 && s.recent[0].state === 'RolledBack');
    expect(timedOut.recent[0]?.reason).toBe('stage 1: not acknowledged within 1s');
  });

  test('pause holds a probation (the gate still watched) until resume; abort reverts to the LKG', async () => {
    const fake = new FakeNamespace(2);
    fake.settings = {
      ...fake.settings,
      stages: [
        { pods: 1, probationSeconds: 2 },
        { pods: '100%', probationSeconds: 30 },
      ],
    };
    const { namespace, handle } = await bootstrapped(fake);
    await announce(namespace, 2);
    await until(handle, (s) => s.rollout?.state === 'Baking');
    const paused = await control(handle, 'pause');
    expect(paused.rollout?.state).toBe('Paused');
    expect(await refusal(control(handle, 'pause'))).toBe('pause: rollout is already paused (state Paused, from Baking)');
    await new Promise((r) => setTimeout(r, 3000));
    const held = await status(handle);
    expect(held.rollout).toMatchObject({ state: 'Paused', stage: 0 });
    expect(fake.gateWatches.some((w) => w.holdAfterPass)).toBe(true);

    const resumed = await control(handle, 'resume');
    expect(resumed.rollout?.state).toBe('Baking');
    await until(handle, (s) => s.rollout?.stage === 1 && s.rollout.state === 'Baking');
    const aborted = await control(handle, 'abort', 'carol');
    expect(aborted.rollout?.state).toBe('RollingBack');
    const done = await until(handle, (s) => s.recent[0]?.state === 'RolledBack');
    expect(done.recent[0]?.reason).toBe('aborted by carol');
    expect(done.decisions.find((d) => d.kind === 'aborted')).toMatchObject({ by: 'carol', stage: 1 });
    expect(done.lkg?.version.id).toBe(v(1));
    expect(Object.values(fake.requests())).toEqual([v(1), v(1)]);
  });

  test('a workflow started with no state restores the LKG from the ConfigMap', async () => {
    const fake = new FakeNamespace(2);
    fake.mirror = { lkg: release(4), latest: release(5), rollout: null };
    fake.settings = { ...fake.settings, autoStart: false };
    const namespace = nextNamespace();
    fakes.clear();
    fakes.set(namespace, fake);
    const workflowId = dataRolloutWorkflowId(namespace, 'cfg');
    started.push(workflowId);
    await harness.temporal.client.workflow.start(dataRolloutWorkflow, { taskQueue, workflowId, args: [{ namespace, source: 'cfg' }] });
    const handle = harness.temporal.client.workflow.getHandle(workflowId);
    const restored = await until(handle, (s) => s.lkg !== null);
    expect(restored).toMatchObject({ lkg: { version: { id: v(4) } }, latest: { version: { id: v(5) } } });
    await eventually(async () => expect(Object.values(fake.requests())).toEqual([v(4), v(4)]));
    await start(handle, { version: v(5), stages: [{ pods: '100%', probationSeconds: 0 }] });
    await until(handle, (s) => s.lkg?.version.id === v(5));
  });
});

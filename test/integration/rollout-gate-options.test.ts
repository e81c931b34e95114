import type { WorkflowHandle } from '@temporalio/client';
import type { V1Pod } from '@kubernetes/client-node';
import { CANARY_SUFFIX } from '../../domain/shared/keys';
import type { RolloutSpecInput } from '../../domain/rollout/rollout-spec';
import { rolloutWorkflow } from '../../workflows';
import { abortRolloutUpdate, resumeRolloutUpdate, rolloutWorkflowId, type RolloutStatus } from '../../contracts/rollout-messages';
import { eventually } from '../support/kube';
import { IMAGE_V1, IMAGE_V2, newRolloutId, probedDeployment, rolloutSpec, rolloutState, waitForState } from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { deployment, livePods, markPodError, markPodHealthy, readyPods } from '../support/workloads';

/**
 * The gate policy's options on the sandbox: only named watchdogs, what to do
 * without watchdog data, error pods allowed, and a minimum ready time. The pods of
 * probedDeployment declare a probe named `http` (watchdog data for the gate); a watchdog error
 * is posted on a canary pod as an app or the prober would (markPodError).
 */
describe('rollout gate options on the sandbox cluster', () => {
  let sandbox: SandboxWorker;

  beforeAll(async () => {
    sandbox = await startSandboxWorker('rollout-gate');
  });
  afterAll(async () => sandbox?.close());

  type Spec = Omit<RolloutSpecInput, 'change' | 'target'>;

  /** A namespace with a Deployment `web` of `replicas` ready pods (probed: declaring the `http` probe; else watched by nothing). */
  async function workload(prefix: string, replicas: number, probed = true): Promise<string> {
    const ns = await sandbox.namespace(prefix);
    await sandbox.k.apps.createNamespacedDeployment({
      namespace: ns,
      body: probed ? probedDeployment('web', replicas) : deployment('web', replicas),
    });
    await readyPods(sandbox.k.core, ns, 'web', replicas, eventually);
    return ns;
  }

  async function start(ns: string, spec: Spec): Promise<WorkflowHandle<typeof rolloutWorkflow>> {
    const full = rolloutSpec({ target: { namespace: ns, kind: 'Deployment', name: 'web' }, ...spec });
    return sandbox.temporal.client.workflow.start(rolloutWorkflow, {
      taskQueue: sandbox.taskQueue,
      workflowId: rolloutWorkflowId(full.target),
      args: [{ rolloutId: newRolloutId(), spec: full }],
    });
  }

  const canaryPods = async (ns: string): Promise<V1Pod[]> =>
    (await livePods(sandbox.k.core, ns, 'web')).filter((p) => p.metadata?.name?.startsWith(`web${CANARY_SUFFIX}-`));
  const images = async (ns: string) => (await livePods(sandbox.k.core, ns, 'web')).map((p) => p.spec?.containers[0]?.image);
  const decision = (s: RolloutStatus, kind: string) => s.decisions.find((d) => d.kind === kind);
  const kinds = (s: RolloutStatus) => s.decisions.map((d) => d.kind);
  const baking = (handle: WorkflowHandle) => waitForState(handle, (s) => s.state === 'Baking' && s.stage === 0, 60_000);

  /** Posts an error for watchdog `name` on every pod of `pods`, returning when it was posted (before the first write). */
  async function postErrors(ns: string, pods: V1Pod[], name: string): Promise<number> {
    const posted = Date.now();
    for (const pod of pods) await markPodError(sandbox.k.core, ns, pod.metadata!.name!, name, 'HTTP 500');
    return posted;
  }

  /** The rollout ended with every pod back on the old template, the stage failed for `reason`. */
  async function expectRolledBack(ns: string, result: RolloutStatus, reason: RegExp, replicas: number) {
    expect(result.state).toBe('RolledBack');
    expect(result.stages[0]?.result).toBe('failed');
    expect(decision(result, 'gateFailed')?.reason).toMatch(reason);
    expect(kinds(result)).not.toContain('gatePassed');
    await eventually(async () => expect(await images(ns)).toEqual(Array(replicas).fill(IMAGE_V1)), 60_000);
  }

  async function expectSucceeded(ns: string, result: RolloutStatus, replicas: number) {
    expect(result.state).toBe('Succeeded');
    expect(kinds(result)).not.toContain('gateFailed');
    expect(result.stages.map((s) => s.result)).toEqual(result.stages.map(() => 'promoted'));
    await eventually(async () => expect(await images(ns)).toEqual(Array(replicas).fill(IMAGE_V2)), 60_000);
  }

  describe('gate.watchdogs: only the named watchdogs count', () => {
    const spec: Spec = { stages: [{ replicas: 1, bakeSeconds: 3 }], gate: { watchdogs: ['http'] } };

    test('an error on a watchdog not named does not fail the gate: the rollout succeeds', async () => {
      const ns = await workload('gate-unnamed', 2);
      const handle = await start(ns, spec);
      await baking(handle);
      const canary = await canaryPods(ns);
      expect(canary).toHaveLength(1);
      const posted = await postErrors(ns, canary, 'disk');
      const result = await handle.result();
      await expectSucceeded(ns, result, 2);
      // The error was there before the gate passed, and still is: the gate saw it and let it be.
      expect(Date.parse(decision(result, 'gatePassed')!.at)).toBeGreaterThan(posted);
      const pod = await sandbox.k.core.readNamespacedPod({ namespace: ns, name: canary[0]!.metadata!.name! });
      expect(pod.metadata?.annotations?.['status.autocrane.io/disk']).toMatch(/^error\//);
      expect(result.pods.erroring).toEqual([]);
    });

    test('an error on a named watchdog rolls back', async () => {
      const ns = await workload('gate-named', 2);
      const handle = await start(ns, spec);
      await baking(handle);
      const canary = await canaryPods(ns);
      await postErrors(ns, canary, 'http');
      const result = await handle.result();
      const name = canary[0]!.metadata!.name!;
      await expectRolledBack(
        ns,
        result,
        new RegExp(`^1 updated pod has an error watchdog, more than the 0 allowed: ${name} \\(http\\)$`),
        2,
      );
      expect(decision(result, 'rollbackStarted')?.reason).toContain(name);
    });
  });

  describe('gate.noData, for updated pods that no watchdog watches', () => {
    const stages = [{ replicas: 1, bakeSeconds: 1 }];

    test("'fail': the gate fails and the rollout rolls back", async () => {
      const ns = await workload('gate-nodata-fail', 2, false);
      const handle = await start(ns, { stages, gate: { noData: 'fail' } });
      const result = await handle.result();
      await expectRolledBack(ns, result, /^no watchdog watches web-canary-\S+ \(gate\.noData is fail\)$/, 2);
    });

    test("'pass': the stage passes without data and the rollout succeeds", async () => {
      const ns = await workload('gate-nodata-pass', 2, false);
      const result = await (await start(ns, { stages, gate: { noData: 'pass' } })).result();
      await expectSucceeded(ns, result, 2);
    });

    test("'wait' (the default): the stage holds past its bake until a watchdog reports, then passes", async () => {
      const ns = await workload('gate-nodata-wait', 2, false);
      const handle = await start(ns, { stages });
      const bakingStatus = await baking(handle);
      // Twice the bake later, the stage is still held.
      await new Promise((r) => setTimeout(r, 2000));
      const held = await rolloutState(handle);
      expect(held.state).toBe('Baking');
      expect(held.decisions).toEqual(bakingStatus.decisions);
      const [canary] = await canaryPods(ns);
      const reported = Date.now();
      await markPodHealthy(sandbox.k.core, ns, canary!.metadata!.name!, 'app');
      const result = await handle.result();
      await expectSucceeded(ns, result, 2);
      expect(Date.parse(decision(result, 'gatePassed')!.at)).toBeGreaterThanOrEqual(reported);
    });

    test("'wait' ends at gate.progressDeadlineSeconds: the gate fails naming the pods never watched", async () => {
      const ns = await workload('gate-nodata-deadline', 2, false);
      const handle = await start(ns, { stages, gate: { progressDeadlineSeconds: 3 } });
      const result = await handle.result();
      // The pods were all ready when the scaling ended: the deadline counts from the bake's start.
      await expectRolledBack(
        ns,
        result,
        /^stage not settled 3s after its bake began at \S+: waiting for watchdog data: no watchdog watches web-canary-\S+$/,
        2,
      );
      const failedAt = Date.parse(decision(result, 'gateFailed')!.at);
      expect(failedAt - Date.parse(result.stages[0]!.startedAt!)).toBeGreaterThanOrEqual(3000);
    });
  });

  describe('gate.maxErrorPods: 1', () => {
    const spec: Spec = { stages: [{ replicas: 2, bakeSeconds: 3 }], gate: { maxErrorPods: 1 } };

    test('one updated pod in error is allowed: the rollout succeeds', async () => {
      const ns = await workload('gate-maxerr-one', 3);
      const handle = await start(ns, spec);
      await baking(handle);
      const canary = await canaryPods(ns);
      expect(canary).toHaveLength(2);
      const posted = await postErrors(ns, canary.slice(0, 1), 'http');
      const result = await handle.result();
      await expectSucceeded(ns, result, 3);
      expect(Date.parse(decision(result, 'gatePassed')!.at)).toBeGreaterThan(posted);
      // The last gate saw the erroring pod and passed within the allowance.
      expect(result.pods.erroring).toEqual([canary[0]!.metadata!.name]);
    });

    test('two updated pods in error: the gate fails and the rollout rolls back', async () => {
      const ns = await workload('gate-maxerr-two', 3);
      const handle = await start(ns, spec);
      await baking(handle);
      const canary = await canaryPods(ns);
      await postErrors(ns, canary, 'http');
      const result = await handle.result();
      await expectRolledBack(
        ns,
        result,
        /^2 updated pods have an error watchdog, more than the 1 allowed: web-canary-\S+ \(http\), web-canary-\S+ \(http\)$/,
        3,
      );
      expect(result.pods.erroring.sort()).toEqual(canary.map((p) => p.metadata!.name).sort());
    });
  });

  test('gate.minReadySeconds holds the stage until its updated pods have been ready that long', async () => {
    const minReadySeconds = 4;
    const ns = await workload('gate-minready', 2);
    const handle = await start(ns, { stages: [{ replicas: 1, bakeSeconds: 0 }], gate: { minReadySeconds } });
    // Scaled, its pod ready, and held: no gate passed yet, nothing promoted.
    const scaled = await waitForState(handle, (s) => kinds(s).includes('stageScaled'), 60_000);
    expect(kinds(scaled)).not.toContain('gatePassed');
    const [canary, ...others] = await canaryPods(ns);
    expect(others).toEqual([]);
    const readySince = new Date(
      canary!.status!.conditions!.find((c) => c.type === 'Ready' && c.status === 'True')!.lastTransitionTime!,
    ).getTime();
    const result = await handle.result();
    await expectSucceeded(ns, result, 2);
    const scaledAt = Date.parse(decision(result, 'stageScaled')!.at);
    const passedAt = Date.parse(decision(result, 'gatePassed')!.at);
    // Scaled before the pod had been ready long enough; passed once it had, and not much later.
    expect(scaledAt).toBeLessThan(readySince + minReadySeconds * 1000);
    expect(passedAt).toBeGreaterThanOrEqual(readySince + minReadySeconds * 1000);
    expect(passedAt - (readySince + minReadySeconds * 1000)).toBeLessThan(3000);
    expect(Date.parse(result.stages[0]!.endedAt!)).toBeGreaterThanOrEqual(readySince + minReadySeconds * 1000);
  });
  test('gate.progressDeadlineSeconds: a canary pod replaced during a bake, past the deadline since the stage began, holds the gate and restarts the bake', async () => {
    const progressDeadlineSeconds = 4;
    const bakeSeconds = 8;
    const ns = await workload('gate-replaced', 2);
    const handle = await start(ns, { stages: [{ replicas: 1, bakeSeconds }], gate: { progressDeadlineSeconds } });
    const bakingStatus = await baking(handle);
    // Once the stage is older than the deadline (the gate used to fail at once then).
    const stageStartedAt = Date.parse(bakingStatus.stages[0]!.startedAt!);
    await new Promise((r) => setTimeout(r, Math.max(0, stageStartedAt + progressDeadlineSeconds * 1000 + 500 - Date.now())));
    expect((await rolloutState(handle)).state).toBe('Baking');
    const [old] = await canaryPods(ns);
    const deletedAt = Date.now();
    await sandbox.k.core.deleteNamespacedPod({ namespace: ns, name: old!.metadata!.name!, gracePeriodSeconds: 0 });
    const replacement = await eventually(async () => {
      const pods = (await canaryPods(ns)).filter(
        (p) => p.metadata?.name !== old!.metadata!.name && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      expect(pods).toHaveLength(1);
      return pods[0]!;
    }, 30_000);
    const replacementReady = new Date(
      replacement.status!.conditions!.find((c) => c.type === 'Ready' && c.status === 'True')!.lastTransitionTime!,
    ).getTime();
    const result = await handle.result();
    await expectSucceeded(ns, result, 2);
    // The replacement was watched for a whole bake (the ready condition's time has a 1 s grain).
    const passedAt = Date.parse(decision(result, 'gatePassed')!.at);
    expect(passedAt).toBeGreaterThanOrEqual(Math.max(deletedAt, replacementReady) + bakeSeconds * 1000 - 1000);
    expect(passedAt - deletedAt).toBeLessThan((bakeSeconds + progressDeadlineSeconds + 5) * 1000);
  });

  describe("rollback: 'freeze', a human decides after a failed gate", () => {
    const spec: Spec = { stages: [{ replicas: 1, bakeSeconds: 1 }], rollback: 'freeze' };

    /** Starts, fails the stage's gate, and waits until the rollout is Frozen; answers the canary pod. */
    async function frozen(ns: string, handle: WorkflowHandle): Promise<V1Pod> {
      await baking(handle);
      const [canary] = await canaryPods(ns);
      await postErrors(ns, [canary!], 'http');
      const held = await waitForState(handle, (s) => s.state === 'Frozen', 60_000);
      expect(kinds(held)).toContain('gateFailed');
      expect(kinds(held)).not.toContain('rollbackStarted');
      // Frozen holds everything as it is: the failing pod stays for a human to look at.
      await new Promise((r) => setTimeout(r, 2000));
      expect((await canaryPods(ns)).map((p) => [p.metadata?.name, p.spec?.containers[0]?.image])).toEqual([
        [canary!.metadata!.name, IMAGE_V2],
      ]);
      expect((await rolloutState(handle)).state).toBe('Frozen');
      return canary!;
    }

    test('abort while frozen rolls every pod back', async () => {
      const ns = await workload('gate-freeze-abort', 2);
      const handle = await start(ns, spec);
      await frozen(ns, handle);
      await handle.executeUpdate(abortRolloutUpdate, { args: [{ reason: 'it is broken', by: 'alice' }] });
      const result = await handle.result();
      expect(result.state).toBe('RolledBack');
      expect(decision(result, 'aborted')).toMatchObject({ by: 'alice' });
      await eventually(async () => expect(await images(ns)).toEqual([IMAGE_V1, IMAGE_V1]), 60_000);
      expect(await canaryPods(ns)).toEqual([]);
    });

    test('resume once the pod is healthy again re-gates with a fresh bake and goes on', async () => {
      const ns = await workload('gate-freeze-resume', 2);
      const handle = await start(ns, spec);
      const canary = await frozen(ns, handle);
      await markPodHealthy(sandbox.k.core, ns, canary.metadata!.name!, 'http');
      const resumedAt = Date.now();
      await handle.executeUpdate(resumeRolloutUpdate, { args: [{}] });
      const result = await handle.result();
      expect(result.state).toBe('Succeeded');
      expect(kinds(result)).toEqual([
        'started',
        'stageStarted',
        'stageScaled',
        'gateFailed',
        'frozen',
        'resumed',
        'gatePassed',
        'promotionStarted',
        'succeeded',
      ]);
      await eventually(async () => expect(await images(ns)).toEqual([IMAGE_V2, IMAGE_V2]), 60_000);
      // The fresh bake: the gate passed at least its bake time after the resume.
      expect(Date.parse(decision(result, 'gatePassed')!.at)).toBeGreaterThanOrEqual(resumedAt + 1000 - 50);
    });
  });
});

import type { WorkflowHandle } from '@temporalio/client';
import { startStoppedComponent, status, stopComponent } from '../../stack/stack';
import { type ComponentName } from '../../stack/stack-state';
import { rolloutWorkflow } from '../../workflows';
import { rolloutWorkflowId, type RolloutStatus } from '../../contracts/rollout-messages';
import { eventually } from '../support/kube';
import { probeAnswererUrl } from '../support/probe-answerer';
import { IMAGE_V1, IMAGE_V2, newRolloutId, probedDeployment, probedTemplate, rolloutSpec, waitForState } from '../support/rollouts';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';
import { tierStack } from '../support/stacks';
import { readyPods } from '../support/workloads';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BAKE_SECONDS = 10;
const OUTAGE_MS = 6000;
/** What leans on the apiserver and may give up while it is gone: each is started again if it died. */
const KUBE_CLIENTS: ComponentName[] = ['kube-controller-manager', 'kube-scheduler', 'kwok'];

/**
 * Time the gate could not watch does not count as bake: the real kube-apiserver is stopped for
 * about 6 s in the middle of a 10 s bake (in-process worker with the real activities, real
 * Temporal dev server). The gate's pass must come at least the whole outage after the 10 s a
 * wall clock would count, its decision must say the bake was extended by about the outage, and
 * a version that starts failing while the apiserver is gone must be rolled back, not promoted.
 * The bounds are causal (the outage as the test itself measured it, from process stopped to
 * process started again), not tight timings, so a loaded machine only makes the rollout slower.
 */
describe('an apiserver outage during a bake does not count as bake time', () => {
  let sandbox: SandboxWorker;
  beforeAll(async () => {
    sandbox = await startSandboxWorker('apiserver-outage');
  });
  afterAll(async () => sandbox?.close());
  // Whatever happened, the tier stack is whole again for the tests after this file.
  afterEach(async () => restoreKubernetes());

  async function restoreKubernetes(): Promise<void> {
    const stateDir = tierStack('integration').stateDir;
    const stopped = (name: ComponentName) => status(stateDir).find((c) => c.name === name)?.running === false;
    if (stopped('kube-apiserver')) await startStoppedComponent('kube-apiserver', { stateDir });
    for (const name of KUBE_CLIENTS) if (stopped(name)) await startStoppedComponent(name, { stateDir });
  }

  async function deployment(prefix: string, key: string): Promise<string> {
    const ns = await sandbox.namespace(prefix);
    await sandbox.k.apps.createNamespacedDeployment({ namespace: ns, body: probedDeployment('web', 3, undefined, key) });
    await readyPods(sandbox.k.core, ns, 'web', 3, eventually);
    return ns;
  }

  /** Stops the apiserver for OUTAGE_MS (after `during` has run) and starts it again; returns the span it was surely down. */
  async function outage(
    during: () => Promise<void> = async () => undefined,
  ): Promise<{ downFrom: number; downTo: number; backAt: number }> {
    const stateDir = tierStack('integration').stateDir;
    await stopComponent('kube-apiserver', stateDir);
    const downFrom = Date.now();
    await during();
    await sleep(Math.max(0, downFrom + OUTAGE_MS - Date.now()));
    const downTo = Date.now();
    await startStoppedComponent('kube-apiserver', { stateDir });
    const backAt = Date.now();
    await restoreKubernetes();
    return { downFrom, downTo, backAt };
  }

  async function start(ns: string, key: string): Promise<WorkflowHandle<typeof rolloutWorkflow>> {
    const spec = rolloutSpec({
      target: { namespace: ns, kind: 'Deployment', name: 'web' },
      change: {
        template: {
          ...probedTemplate('web', `${key}-v2`),
          spec: { containers: [{ name: 'app', image: IMAGE_V2 }], terminationGracePeriodSeconds: 0 },
        },
      },
      stages: [
        { replicas: 1, bakeSeconds: BAKE_SECONDS },
        { replicas: '100%', bakeSeconds: 1 },
      ],
    });
    return sandbox.temporal.client.workflow.start(rolloutWorkflow, {
      taskQueue: sandbox.taskQueue,
      workflowId: rolloutWorkflowId(spec.target),
      args: [{ rolloutId: newRolloutId(), spec }],
    });
  }

  test('a healthy version: the bake is extended by the outage, then the rollout succeeds', async () => {
    const key = `ao${newRolloutId()}`;
    const ns = await deployment('outage-ok', key);
    const handle = await start(ns, key);
    const baking = await waitForState(handle, (s) => s.state === 'Baking' && s.stage === 0, 90_000);
    const bakeStarted = Date.parse(baking.stages[0]!.startedAt!);
    await sleep(2000);
    const { downFrom, downTo, backAt } = await outage();
    const down = downTo - downFrom;

    const result: RolloutStatus = await handle.result();
    expect(result.state).toBe('Succeeded');
    const passed = result.decisions.find((d) => d.kind === 'gatePassed' && d.stage === 0)!;
    const extended = /bake extended by ([\d.]+)s the gate could not watch/.exec(passed.reason);
    expect({ reason: passed.reason, extended: extended !== null }).toEqual({ reason: passed.reason, extended: true });
    const extendedMs = Number(extended![1]) * 1000;
    // At least the time the apiserver was surely gone (the decision rounds to 0.1 s), and not
    // much more than the outage as seen from outside (stop to ready again): a look before it
    // (at most 2 s apart), the watch's retry backoff after it (at most 2 s), and a first look
    // begun while the apiserver was still starting, whose calls may wait out their 5 s timeout
    // (seen: 8 to 9 s past ready on a loaded machine).
    expect(extendedMs).toBeGreaterThanOrEqual(down - 100);
    expect(extendedMs).toBeLessThanOrEqual(backAt - downFrom + 15_000);
    // A wall-clock bake would have passed at bakeStarted + 10 s, about 2 s after the apiserver
    // came back; the watched bake passes no earlier than the whole outage later.
    const passedAt = Date.parse(passed.at);
    process.stderr.write(
      `apiserver outage: down ${down} ms, ready again ${backAt - downFrom} ms after the stop; bake extended by ${extendedMs} ms; passed ${passedAt - bakeStarted} ms after the bake began\n`,
    );
    expect(passedAt).toBeGreaterThan(backAt);
    expect(passedAt - bakeStarted).toBeGreaterThanOrEqual(BAKE_SECONDS * 1000 + down - 100);
    const pods = await readyPods(sandbox.k.core, ns, 'web', 3, eventually);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual([IMAGE_V2, IMAGE_V2, IMAGE_V2]);
  });

  test('a version that starts failing during the outage: rolled back, never promoted', async () => {
    const key = `ao${newRolloutId()}`;
    const ns = await deployment('outage-fail', key);
    const handle = await start(ns, key);
    await waitForState(handle, (s) => s.state === 'Baking' && s.stage === 0, 90_000);
    await sleep(2000);
    const { downFrom } = await outage(async () => {
      const res = await fetch(`${probeAnswererUrl()}/fail/${key}-v2`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      if (!res.ok) throw new Error(`POST /fail: ${res.status}`);
    });

    const result: RolloutStatus = await handle.result();
    const kinds = result.decisions.map((d) => d.kind);
    expect({ state: result.state, passed: kinds.includes('gatePassed'), promoted: kinds.includes('promotionStarted') }).toEqual({
      state: 'RolledBack',
      passed: false,
      promoted: false,
    });
    const failed = result.decisions.find((d) => d.kind === 'gateFailed')!;
    expect(failed.reason).toMatch(/an error watchdog.*web-canary-[a-z0-9-]+ \(http\)/);
    // The failure began during the outage, in the bake's first stage: seen by the gate's own probe.
    expect(Date.parse(failed.at)).toBeGreaterThan(downFrom);
    expect(failed.stage).toBe(0);
    const pods = await readyPods(sandbox.k.core, ns, 'web', 3, eventually);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual([IMAGE_V1, IMAGE_V1, IMAGE_V1]);
  });
});

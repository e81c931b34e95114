import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { RolloutStatusBody } from '../../api/rollout/rollouts';
import { stopBackgroundWorkload } from '../../demo/background-workload';
import { down, up } from '../../stack/stack';
import { envFile, REPO_ROOT, type StackState } from '../../stack/stack-state';
import { ensureProbeSchedules } from '../../workers/probe-schedules';
import { probeScheduleId } from '../../contracts/schedule-ids';
import { createWorker } from '../../workers/worker-factory';
import { freshNamespace, type KubeClients, sandboxClients } from '../support/kube';
import { recordHistory } from '../support/rollouts';
import { tierStack, tierStateDir } from '../support/stacks';
import { temporalClients, type TemporalClients, uniqueTaskQueue } from '../support/temporal';

const DEMO = join(REPO_ROOT, 'dist', 'demo', 'main.js');
const API = join(REPO_ROOT, 'dist', 'api', 'main.js');
const TOKEN = 'demo-test-token';

/** `export NAME='value'` lines of a stack.env (the file `make run` sources before the demo). */
function readStackEnv(stateDir: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const m of readFileSync(envFile(stateDir), 'utf8').matchAll(/^export (\w+)='((?:[^']|'\\'')*)'$/gm))
    vars[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  return vars;
}

/** Starts the real API process (dist/api/main.js, as the stack runs it) and resolves with its URL once it listens. */
function startApi(env: NodeJS.ProcessEnv, logFile: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [API], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stderr!.pipe(log);
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`the API did not listen within 20 s; log ${logFile}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`the API exited (${code}) before listening; log ${logFile}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const entry = /^\{.*\}$/.test(line) ? (JSON.parse(line) as { msg?: string; url?: string }) : {};
        if (entry.msg === 'api listening' && entry.url) {
          clearTimeout(timer);
          resolve({ child, url: entry.url });
        }
      }
    });
  });
}

/**
 * The demo script itself (dist/demo/main.js, as `make run` runs it), end to end: a
 * worker with the real activities and a probe schedule on the demo's namespace, the real API
 * process, the demo's own test workload process, on the integration tier's cluster.
 *
 * Temporal here is a stack of its own with the Web UI on (the tier's dev server is headless),
 * found through its stack.env as `make run` finds its stack: the API gets the UI's URL from
 * AUTOCRANE_TEMPORAL_UI_URL exactly as in `make run`, so the links the demo prints are the
 * ones a `make run` prints, and the test follows them on the real UI.
 */
describe('the rollout demo', () => {
  // Beside the tier's folder, not in it: the tier's setup deletes its folder, and with it the
  // record of a Temporal an interrupted run left running, which the down() below stops.
  const uiStateDir = join(REPO_ROOT, '.autocrane', 'test', 'demo-temporal-ui');
  const demoDir = join(tierStateDir('integration'), 'demo');
  let k: KubeClients;
  let uiStack: StackState;
  let stackEnv: Record<string, string>;
  let temporal: TemporalClients;
  let worker: Worker;
  let running: Promise<void>;
  let api: { child: ChildProcess; url: string };
  let namespace: string;

  beforeAll(async () => {
    for (const built of [DEMO, API])
      if (!existsSync(built))
        throw new Error(`${built} is missing: this test runs the built demo and API (npm run build; make test does it)`);
    k = sandboxClients();
    await down({ stateDir: uiStateDir, log: () => undefined });
    rmSync(uiStateDir, { recursive: true, force: true });
    uiStack = await up({ stateDir: uiStateDir, kubernetes: false, ui: true, log: () => undefined });
    stackEnv = readStackEnv(uiStateDir);
    expect(stackEnv.AUTOCRANE_TEMPORAL_UI_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    temporal = await temporalClients(uiStack);
    namespace = await freshNamespace(k.core, 'demo');
    const taskQueue = uniqueTaskQueue('demo');
    worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: uiStack.temporalNamespace,
      taskQueue,
      activities: createActivities({ kubeConfig: k.kc, watchdogs: { probeTimeoutSeconds: 2, probeConcurrency: 8 } }),
    });
    running = worker.run();
    // The embedded default probes every 5 s (the schedule's minimum there); 2 s keeps the test short.
    await ensureProbeSchedules(temporal.client, { namespaces: [namespace], intervalSeconds: 2, taskQueue, probeNotReadyPods: false });
    api = await startApi(
      {
        ...process.env,
        KUBECONFIG: tierStack('integration').kubeconfig!,
        TEMPORAL_ADDRESS: stackEnv.TEMPORAL_ADDRESS,
        TEMPORAL_NAMESPACE: stackEnv.TEMPORAL_NAMESPACE,
        AUTOCRANE_TEMPORAL_UI_URL: stackEnv.AUTOCRANE_TEMPORAL_UI_URL,
        AUTOCRANE_TASK_QUEUE: taskQueue,
        AUTOCRANE_API_HOST: '127.0.0.1',
        AUTOCRANE_API_PORT: '0',
        AUTOCRANE_API_TOKEN: TOKEN,
        AUTOCRANE_LOG_FORMAT: 'json',
      },
      join(uiStateDir, 'logs', 'api.log'),
    );
  });

  afterAll(async () => {
    if (api && api.child.exitCode === null) {
      const exited = new Promise((r) => api.child.once('exit', r));
      api.child.kill('SIGTERM');
      await exited;
    }
    await stopBackgroundWorkload(demoDir);
    await temporal?.client.schedule
      .getHandle(probeScheduleId(namespace))
      .delete()
      .catch(() => undefined);
    worker?.shutdown();
    await running;
    await temporal?.close();
    await down({ stateDir: uiStateDir, log: () => undefined });
    await k?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  const runDemo = () =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const env = {
        ...process.env,
        AUTOCRANE_API_URL: api.url,
        AUTOCRANE_API_TOKEN: TOKEN,
        KUBECONFIG: tierStack('integration').kubeconfig!,
        AUTOCRANE_STATE_DIR: tierStateDir('integration'),
      };
      const args = [DEMO, '--namespace', namespace, '--replicas', '4', '--bake-seconds', '1', '--failing-bake-seconds', '60'];
      execFile(process.execPath, args, { env, timeout: 90_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });

  const rolloutStatus = async (rolloutId: string): Promise<RolloutStatusBody> => {
    const response = await fetch(`${api.url}/v1/rollouts/${rolloutId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as RolloutStatusBody;
  };

  /**
   * The decisions printed (lines "   HH:MM:SS  kind  reason"), in order, each with the rollout
   * and the Temporal UI link of the block header above it ("   Rollout <id> in the Temporal
   * UI: <link>"). A demo step's heading ("3. …") ends a block: a decision under a step with no
   * header of its own has no link.
   */
  const printedDecisions = (stdout: string) => {
    let block: { rolloutId: string; link: string } | null = null;
    const decisions: { kind: string; rolloutId?: string; link?: string }[] = [];
    for (const line of stdout.split('\n')) {
      const header = /^ {3}Rollout ([0-9a-f]{12}) in the Temporal UI: (\S+)$/.exec(line);
      const decision = /^ {3}\d\d:\d\d:\d\d {2}(\w+)/.exec(line);
      if (header) block = { rolloutId: header[1]!, link: header[2]! };
      else if (/^\d\. /.test(line)) block = null;
      else if (decision) decisions.push({ kind: decision[1]!, ...block });
    }
    return decisions;
  };

  const STAGE2_ROLLBACK = [
    'started',
    'stageStarted',
    'stageScaled',
    'gatePassed',
    'stageStarted',
    'stageScaled',
    'gateFailed',
    'rollbackStarted',
    'rolledBack',
  ];

  /** The run's own page in the Temporal UI: /namespaces/{namespace}/workflows/{workflow ID}/{run ID}, each segment URL-encoded. */
  const expectedLink = (status: RolloutStatusBody) =>
    `${stackEnv.AUTOCRANE_TEMPORAL_UI_URL}/namespaces/${encodeURIComponent(stackEnv.TEMPORAL_NAMESPACE!)}/workflows/${encodeURIComponent(status.workflowId)}/${encodeURIComponent(status.runId)}`;

  /**
   * Follows a printed link on the real Temporal UI. The page is the UI's single-page app, which
   * its server answers with 200 for any path; what the page shows comes from the UI server's
   * API, which the page's workflow route asks for the route's (decoded) namespace, workflow and
   * run. Asking the same here shows the link names this run, on the server that ran it.
   */
  async function followLink(link: string, status: RolloutStatusBody): Promise<void> {
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const ui = stackEnv.AUTOCRANE_TEMPORAL_UI_URL!;
    const route = new RegExp(`^${ui.replace(/[.]/g, '\\.')}/namespaces/([^/]+)/workflows/([^/]+)/([^/]+)$`).exec(link);
    expect(route).not.toBeNull();
    const [ns, workflowId, runId] = route!.slice(1).map(decodeURIComponent);
    expect({ ns, workflowId, runId }).toEqual({ ns: uiStack.temporalNamespace, workflowId: status.workflowId, runId: status.runId });
    // The UI encodes path parameters twice for its API (its routeForApi).
    const twice = (s: string) => encodeURIComponent(encodeURIComponent(s));
    const describe = (run: string) =>
      fetch(`${ui}/api/v1/namespaces/${twice(ns!)}/workflows/${twice(workflowId!)}?execution.runId=${encodeURIComponent(run)}`);
    const described = await describe(runId!);
    expect(described.status).toBe(200);
    const body = (await described.json()) as {
      workflowExecutionInfo: { execution: { workflowId: string; runId: string }; type: { name: string } };
    };
    expect(body.workflowExecutionInfo.execution).toEqual({ workflowId: status.workflowId, runId: status.runId });
    expect(body.workflowExecutionInfo.type.name).toBe('rolloutWorkflow');
    // The same question about a run that does not exist gets 404: the check above can fail.
    expect((await describe(randomUUID())).status).toBe(404);
  }

  test('fails version 2 in stage 2 through the prober and prints each decision under the rollout’s Temporal UI link; a second run works too', async () => {
    const first = await runDemo();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const rolloutId = /202 Accepted: rollout ([0-9a-f]{12}), workflow rollout\//.exec(first.stdout)?.[1];
    expect(rolloutId).toBeDefined();
    const status = await rolloutStatus(rolloutId!);
    expect(status.state).toBe('RolledBack');
    await recordHistory(temporal.client.workflow.getHandle(status.workflowId, status.runId), 'demo-stage2-rollback');

    // The link the API reports for this rollout is the run's page; every decision printed sits under it.
    const link = expectedLink(status);
    expect(status.temporalUiUrl).toBe(link);
    expect(printedDecisions(first.stdout)).toEqual(STAGE2_ROLLBACK.map((kind) => ({ kind, rolloutId, link })));
    // One header for step 2's decisions and one for step 3's, and the link again in the summary: no URL on every line.
    expect(first.stdout.split(link).length - 1).toBe(3);
    expect(first.stdout).toContain(`   Temporal UI: ${link}\n`);
    await followLink(link, status);

    // The failure came through a real probe (the gate's own): the gate names the http watchdog.
    expect(first.stdout).toMatch(/rollbackStarted +\d+ updated pods? ha(s|ve) an error watchdog.*demo-app-canary-[a-z0-9-]+ \(http\)/);
    expect(first.stdout).toContain('The rollout ended RolledBack.');
    expect(first.stdout).toContain('stage 2 (50%, 2 pods): failed');

    const pods = (await k.core.listNamespacedPod({ namespace })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual(Array(4).fill('example.invalid/demo-app:1'));

    // A second rollout is a new run of the same workflow ID: its decisions carry its own run's link.
    const second = await runDemo();
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('kept from an earlier demo');
    expect(second.stdout).toContain('The rollout ended RolledBack.');
    const secondId = /202 Accepted: rollout ([0-9a-f]{12})/.exec(second.stdout)?.[1];
    expect(secondId).toBeDefined();
    expect(secondId).not.toBe(rolloutId);
    const secondStatus = await rolloutStatus(secondId!);
    expect(secondStatus.workflowId).toBe(status.workflowId);
    expect(secondStatus.runId).not.toBe(status.runId);
    const secondLink = expectedLink(secondStatus);
    expect(printedDecisions(second.stdout)).toEqual(STAGE2_ROLLBACK.map((kind) => ({ kind, rolloutId: secondId, link: secondLink })));
    await followLink(secondLink, secondStatus);
  }, 170_000);
});

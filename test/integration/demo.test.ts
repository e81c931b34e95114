import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createApp } from '../../api/app';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import { kubernetesWorkloadReader, temporalRolloutControl } from '../../api/rollouts';
import { stopBackgroundWorkload } from '../../demo/background-workload';
import { createMetricsRegistry } from '../../platform/metrics';
import { REPO_ROOT } from '../../stack/stack';
import { ensureProbeSchedules, probeScheduleId } from '../../workers/probe-schedules';
import { createWorker } from '../../workers/worker-factory';
import { freshNamespace, type KubeClients, sandboxClients } from '../support/kube';
import { tierStack, tierStateDir } from '../support/stacks';
import { temporalClients, type TemporalClients, uniqueTaskQueue } from '../support/temporal';

const DEMO = join(REPO_ROOT, 'dist', 'demo', 'main.js');
const TOKEN = 'demo-test-token';

/**
 * Issue 5 §7: the demo script itself (dist/demo/main.js, as `make run` runs it), end to end on
 * the integration tier's stack: a worker with the real activities and a probe schedule on the
 * demo's namespace, the real API routes in process, the demo's own test workload process.
 */
describe('the rollout demo', () => {
  let k: KubeClients;
  let temporal: TemporalClients;
  let worker: Worker;
  let running: Promise<void>;
  let server: Server;
  let namespace: string;
  const demoDir = join(tierStateDir('integration'), 'demo');

  beforeAll(async () => {
    if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: this test runs the built demo (npm run build; make test does it)`);
    k = sandboxClients();
    const stack = tierStack('integration');
    temporal = await temporalClients(stack);
    namespace = await freshNamespace(k.core, 'demo');
    const taskQueue = uniqueTaskQueue('demo');
    worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue,
      activities: createActivities({ kubeConfig: k.kc, watchdogs: { probeTimeoutSeconds: 2, probeConcurrency: 8 } }),
    });
    running = worker.run();
    // The embedded default probes every 5 s (the schedule's minimum there); 2 s keeps the test short.
    await ensureProbeSchedules(temporal.client, { namespaces: [namespace], intervalSeconds: 2, taskQueue, probeNotReadyPods: false });
    const app = createApp({
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry(),
      checks: { temporal: async () => undefined, kubernetes: async () => undefined },
      rollouts: {
        control: temporalRolloutControl(temporal.client, { taskQueue }),
        workloads: kubernetesWorkloadReader(k.kc),
        authorizer: createAuthorizer({ cluster: kubernetesClusterAuth(k.kc), embeddedToken: TOKEN }),
      },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
  });

  afterAll(async () => {
    await stopBackgroundWorkload(demoDir);
    server?.close();
    await temporal?.client.schedule.getHandle(probeScheduleId(namespace)).delete().catch(() => undefined);
    worker?.shutdown();
    await running;
    await temporal?.close();
    await k?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  const runDemo = () =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const env = {
        ...process.env,
        AUTOCRANE_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        AUTOCRANE_API_TOKEN: TOKEN,
        KUBECONFIG: tierStack('integration').kubeconfig!,
        AUTOCRANE_STATE_DIR: tierStateDir('integration'),
      };
      const args = [DEMO, '--namespace', namespace, '--replicas', '4', '--bake-seconds', '1', '--failing-bake-seconds', '60'];
      execFile(process.execPath, args, { env, timeout: 90_000 }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
    });

  /** The decision kinds printed, in order (lines "   HH:MM:SS  kind  reason"). */
  const printedDecisions = (stdout: string) => [...stdout.matchAll(/^ {3}\d\d:\d\d:\d\d {2}(\w+)/gm)].map((m) => m[1]);

  test('fails version 2 in stage 2 through the prober and shows the rollback; a second run works too', async () => {
    const first = await runDemo();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/202 Accepted: rollout [0-9a-f]{12}, workflow rollout\//);
    expect(printedDecisions(first.stdout)).toEqual([
      'started',
      'stageStarted',
      'stageScaled',
      'gatePassed',
      'stageStarted',
      'stageScaled',
      'gateFailed',
      'rollbackStarted',
      'rolledBack',
    ]);
    // The failure came through the real prober: the gate names the http watchdog it wrote.
    expect(first.stdout).toMatch(/rollbackStarted +\d+ updated pods? ha(s|ve) an error watchdog.*demo-app-canary-[a-z0-9-]+ \(http\)/);
    expect(first.stdout).toContain('The rollout ended RolledBack.');
    expect(first.stdout).toContain('stage 2 (50%, 2 pods): failed');

    const pods = (await k.core.listNamespacedPod({ namespace })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual(Array(4).fill('example.invalid/demo-app:1'));

    const second = await runDemo();
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('kept from an earlier demo');
    expect(second.stdout).toContain('The rollout ended RolledBack.');
  }, 120_000);
});

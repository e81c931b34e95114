/**
 * Benchmark of one watchdog sweep: N kwok pods, each with a probe answered by
 * the test workload, swept by the real worker process through a Temporal Schedule,
 * against a floor measured in the same run: the same paged pod list (plain JSON, the
 * cheapest way to read it) plus N raw GETs at the same concurrency, with no Temporal, from a
 * process of its own like the worker (the test workload answers both from this one). Also
 * counts apiserver writes in steady-state sweeps and the worker's idle and peak RSS.
 *
 *   npm run build && node dist/bench/watchdog-sweep.js 1000 10000
 *
 * BENCH_WORKER_NODE_OPTIONS, if set, becomes the worker's NODE_OPTIONS (to compare V8 flags
 * or preload a memory logger); it is printed with the results.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from '../domain/shared/keys';
import { getListPage } from '../platform/kubernetes';
import { httpGet } from '../stack/http-check';
import { down } from '../stack/stack';
import { REPO_ROOT } from '../stack/stack-state';
import type { SweepSummary } from '../activities/watchdog/watchdog-sweep';
import { probeScheduleId } from '../contracts/schedule-ids';
import { startBenchStack } from './support';

const CONCURRENCY = DEFAULTS.probeConcurrency;
const NAMESPACE = 'bench';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Steady-state sweeps, and floors, measured per size; the median is reported. */
const TRIALS = 3;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function rawFloor(kc: KubeConfig, port: number): Promise<{ ms: number; pods: number }> {
  const started = Date.now();
  const ips: string[] = [];
  let token: string | undefined;
  do {
    const page = await getListPage(kc, { path: `/api/v1/namespaces/${NAMESPACE}/pods`, limit: 500, continueToken: token });
    for (const pod of page.items as Array<{ status?: { podIP?: string } }>) if (pod.status?.podIP) ips.push(pod.status.podIP);
    token = page.continueToken;
  } while (token);
  // One GET per pod IP: with every IP a distinct host, keep-alive would only park up to N idle
  // sockets, and here the test workload's server sockets share this process's descriptor limit.
  const agent = new Agent({ keepAlive: false, maxSockets: CONCURRENCY });
  let next = 0;
  const once = (ip: string) =>
    new Promise<void>((resolve, reject) =>
      get({ host: ip, port, path: '/watchdog', agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET ${ip}: status ${res.statusCode}`))));
      }).on('error', reject),
    );
  const worker = async () => {
    while (next < ips.length) {
      const ip = ips[next++]!;
      // Like the prober: a kept-alive socket the server closed meanwhile gets one retry.
      await once(ip).catch(() => once(ip));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  return { ms: Date.now() - started, pods: ips.length };
}

/**
 * The floor runs in a child process of its own, as the worker does: in this process its GETs
 * would share one event loop with the test workload answering them, which made the floor
 * slower than the sweep it bounds (ratio 0.80-0.83 on 2026-12-02).
 */
async function floorInChildProcess(kubeconfig: string, port: number): Promise<number> {
  const child = spawn(process.execPath, [__filename, '--floor', kubeconfig, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`floor process exited with ${code}`);
  return (JSON.parse(out) as { ms: number }).ms;
}

async function podWrites(apiserverUrl: string, ca: Buffer, token: string): Promise<number> {
  const { body } = await httpGet(`${apiserverUrl}/metrics`, { ca, token, timeoutMs: 10_000 });
  let total = 0;
  for (const line of body.split('\n')) {
    if (
      line.startsWith('apiserver_request_total{') &&
      /resource="pods"/.test(line) &&
      /verb="(PATCH|PUT|POST|DELETE)"/.test(line) &&
      /subresource=""/.test(line)
    ) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** VmHWM: the peak resident set so far; VmRSS: the current one. */
function rssMb(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--floor') {
    const kc = new KubeConfig();
    kc.loadFromFile(process.argv[3]!);
    process.stdout.write(JSON.stringify(await rawFloor(kc, Number(process.argv[4]))));
    return;
  }
  const sizes = process.argv.slice(2).map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n <= 0)) {
    process.stderr.write('usage: node dist/bench/watchdog-sweep.js <pods> [<pods> ...]\n');
    process.exit(2);
  }
  const stateDir = join(REPO_ROOT, '.autocrane', 'bench-watchdog');
  // A fresh private cluster every run: a Deployment left by an earlier run would roll all its
  // pods over to this run's probe port first.
  await down({ stateDir }).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
  const { stack, workload, port, kc, core, apps, connection, client } = await startBenchStack(stateDir);
  const ca = readFileSync(join(stateDir, 'pki', 'ca.crt'));
  const adminToken = kc.getCurrentUser()!.token!;
  const rows: string[] = [];
  try {
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch(() => undefined);
    for (const pods of sizes) {
      process.stderr.write(`[bench] scaling to ${pods} pods\n`);
      const body = {
        metadata: { name: 'probed' },
        spec: {
          replicas: pods,
          selector: { matchLabels: { app: 'probed' } },
          template: {
            metadata: { labels: { app: 'probed' }, annotations: { 'probe.autocrane.io/http': `POD_IP:${port}/watchdog` } },
            spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
          },
        },
      };
      await apps
        .createNamespacedDeployment({ namespace: NAMESPACE, body })
        .catch(() => apps.replaceNamespacedDeployment({ name: 'probed', namespace: NAMESPACE, body }));
      for (;;) {
        const d = await apps.readNamespacedDeployment({ name: 'probed', namespace: NAMESPACE });
        if (d.status?.readyReplicas === pods && d.status.replicas === pods) break;
        await sleep(1000);
      }

      const floors: number[] = [];
      for (let i = 0; i < TRIALS; i++) floors.push(await floorInChildProcess(stack.kubeconfig!, port));
      const floorMs = median(floors);
      const worker = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'workers', 'main.js')], {
        env: {
          ...process.env,
          KUBECONFIG: stack.kubeconfig!,
          TEMPORAL_ADDRESS: stack.temporalAddress,
          AUTOCRANE_WATCH_NAMESPACES: NAMESPACE,
          AUTOCRANE_PROBE_INTERVAL_SECONDS: '3600',
          AUTOCRANE_WORKER_METRICS_PORT: '0',
          AUTOCRANE_LOG_LEVEL: 'warn',
          NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS ?? '',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      try {
        const schedule = client.schedule.getHandle(probeScheduleId(NAMESPACE));
        const sweepOnce = async () => {
          const before = (await schedule.describe()).info.recentActions.length;
          await schedule.trigger();
          let id: string | undefined;
          while (!id) {
            const actions = (await schedule.describe()).info.recentActions;
            if (actions.length > before) id = actions[actions.length - 1]!.action.workflow.workflowId;
            else await sleep(200);
          }
          const handle = client.workflow.getHandle(id);
          const summary = (await handle.result()) as SweepSummary;
          const info = await handle.describe();
          return { ms: info.closeTime!.getTime() - info.startTime.getTime(), events: info.historyLength, summary };
        };
        for (;;) {
          try {
            await schedule.describe();
            break;
          } catch {
            await sleep(500);
          }
        }
        await sleep(2000);
        const idleRss = rssMb(worker.pid!, 'VmRSS');
        const first = await sweepOnce(); // the first sweep also warms the JIT
        const writesBefore = await podWrites(stack.apiserverUrl!, ca, adminToken);
        const steady: Array<Awaited<ReturnType<typeof sweepOnce>>> = [];
        for (let i = 0; i < TRIALS; i++) steady.push(await sweepOnce());
        const writes = (await podWrites(stack.apiserverUrl!, ca, adminToken)) - writesBefore;
        const rss = rssMb(worker.pid!);
        const sweepMs = median(steady.map((s) => s.ms));
        const written = steady.reduce((n, s) => n + s.summary.podsWritten, 0);
        const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
        rows.push(
          `| ${pods} | ${seconds(sweepMs)} (${steady.map((s) => (s.ms / 1000).toFixed(2)).join(', ')}) | ${seconds(floorMs)} (${floors.map((f) => (f / 1000).toFixed(2)).join(', ')}) | ${(sweepMs / floorMs).toFixed(2)} | ${seconds(first.ms)} | ${written} | ${writes} | ${idleRss.toFixed(0)} MB | ${rss.toFixed(0)} MB | ${steady[0]!.events} | ${loadavg()[0]!.toFixed(1)} |`,
        );
        process.stderr.write(`[bench] ${rows[rows.length - 1]}\n`);
      } finally {
        worker.kill('SIGKILL');
        await client.schedule
          .getHandle(probeScheduleId(NAMESPACE))
          .delete()
          .catch(() => undefined);
      }
    }
  } finally {
    await connection.close();
    workload.close();
    await down({ stateDir });
  }
  const header = [
    `Watchdog sweep benchmark, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    '',
    `Steady-state sweeps and floors: median of ${TRIALS} (each in brackets). Worker NODE_OPTIONS: ${JSON.stringify(process.env.BENCH_WORKER_NODE_OPTIONS ?? '')}.`,
    '',
    '| pods | sweep (steady state, via Temporal) | floor (list + raw GETs) | ratio | first sweep | AutoCrane pod writes in the steady sweeps | all apiserver pod writes meanwhile | worker idle RSS | worker peak RSS | history events per sweep | load (1 min) at the end |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  process.stdout.write([...header, ...rows].join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

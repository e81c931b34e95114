/**
 * Benchmark of a data rollout: N kwok consumer pods on a private sandbox stack,
 * each with its own real `autocrane data-deployer` process (sidecar mode, its own drop
 * folder), the real `autocrane data-repository` process serving a local-folder source of
 * incompressible data, and the real worker process running the data-rollout workflow.
 *
 * A small first version bootstraps the known-good version on every pod; then the source gets
 * `--mb` MiB of random bytes, the repository's poll (triggered through its Temporal Schedule)
 * stores and announces it, and the bench starts its rollout through the workflow's start
 * update, stages 1 pod, 25%, 100%, probation 0. Prints:
 *   - the time from the start request until every pod's status.data.autocrane.io/<source>
 *     names the version (and when each stage started and was acknowledged);
 *   - the archive bytes the repository served meanwhile (its /metrics counter) against
 *     pods × archive size: the target is one download per pod;
 *   - the data deployers' peak RSS (VmHWM of each process): max and median; target ≤ 100 MB.
 * These are taken when every pod has acknowledged; the table is printed whatever the gate
 * then decides, with the rollout's outcome and the pods' and kwok nodes' readiness (an
 * outcome other than Succeeded exits 1). A deployer that exits is restarted and reported.
 *
 *   npm run build && node dist/bench/data-rollout.js [--pods 50] [--mb 200] [--deadline-minutes 60]
 */
import { mkdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, freemem, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { dataStatusKey, parseDataStatus, type DataStatus, type DataVersion } from '../domain/data/data-contract';
import type { DataRolloutRun, DataStage } from '../domain/data/data-rollout';
import { DEFAULTS } from '../domain/shared/keys';
import { choosePorts } from '../stack/ports';
import { down, up } from '../stack/stack';
import { REPO_ROOT } from '../stack/stack-state';
import { createDataPod, spawnDataDeployer } from '../test/support/data-deployers';
import { dataPollScheduleId } from '../contracts/schedule-ids';
import {
  dataRolloutStatusQuery,
  dataRolloutWorkflowId,
  startDataRolloutUpdate,
  type DataRolloutStatus,
} from '../contracts/data-rollout-messages';
import {
  BenchFailure,
  describeCheckout,
  folderBytes,
  freeDisk,
  log,
  MIB,
  Processes,
  secs,
  waitFor,
  writeRandomFiles,
} from './data-rollout-support';
import { ensureNamespace, median, procMemoryMb } from './support';

const SOURCE = 'bulk';
const STAGES: DataStage[] = [
  { pods: 1, probationSeconds: 0 },
  { pods: '25%', probationSeconds: 0 },
  { pods: '100%', probationSeconds: 0 },
];
/** Deployers started at once. */
const DEPLOYER_BATCH = 5;
/** Stop the run when the disk gets this close to full. */
const MIN_FREE_DISK = 2 * 2 ** 30;

interface Options {
  pods: number;
  mb: number;
  deadlineMinutes: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { pods: 50, mb: 200, deadlineMinutes: 60 };
  const names: Record<string, keyof Options> = { '--pods': 'pods', '--mb': 'mb', '--deadline-minutes': 'deadlineMinutes' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i] ?? ''];
    const value = Number(argv[i + 1]);
    if (key === undefined || !Number.isInteger(value) || value <= 0) {
      process.stderr.write(
        `usage: node dist/bench/data-rollout.js [--pods N] [--mb N] [--deadline-minutes N] (whole numbers ≥ 1; bad: ${argv[i]} ${argv[i + 1] ?? ''})\n`,
      );
      process.exit(2);
    }
    options[key] = value;
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const stateDir = join(REPO_ROOT, '.autocrane', 'bench-data-rollout');
  const work = join(stateDir, 'work');
  const logDir = join(stateDir, 'run-logs');
  const namespace = `bench-data-${Date.now().toString(36)}`;
  const deadline = Date.now() + options.deadlineMinutes * 60_000;
  const timeLeft = () => Math.max(1000, deadline - Date.now());
  const files = Math.max(1, Math.min(20, options.mb));

  for (const main of [join(REPO_ROOT, 'dist', 'cli', 'main.js'), join(REPO_ROOT, 'dist', 'workers', 'main.js')]) {
    await stat(main).catch(() => {
      throw new Error(`${main} is missing: run \`npm run build\` first`);
    });
  }
  // A fresh stack every run: no workflow, schedule or pod of an earlier run keeps the worker busy.
  await down({ stateDir }).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await mkdir(logDir, { recursive: true });
  // Worst case: every pod holds the download and the extraction at once, plus the source, the store and the packing.
  const diskNeeded = (options.pods * 2 * options.mb + 4 * options.mb) * MIB + MIN_FREE_DISK;
  const diskFree = await freeDisk(work);
  if (diskFree < diskNeeded)
    throw new Error(
      `${(diskFree / 2 ** 30).toFixed(1)} GiB free under ${work}, about ${(diskNeeded / 2 ** 30).toFixed(1)} GiB needed for ${options.pods} × ${options.mb} MiB`,
    );
  if (freemem() < options.pods * 250 * MIB)
    log(`warning: ${(freemem() / 2 ** 30).toFixed(1)} GiB of memory free for ${options.pods} deployer processes (~200 MB each)`);
  const builtFrom = describeCheckout();
  const loadAtStart = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

  const processes = new Processes(logDir);
  let connection: Connection | undefined;
  let stopping: Promise<void> | undefined;
  const teardown = () =>
    (stopping ??= (async () => {
      await processes.stopAll().catch((err: unknown) => log(`stopping processes: ${String(err)}`));
      await connection?.close().catch(() => undefined);
      await down({ stateDir }).catch((err: unknown) => log(`stack down: ${String(err)}`));
      await rm(work, { recursive: true, force: true }).catch((err: unknown) => log(`removing ${work}: ${String(err)}`));
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: tearing down`);
      void teardown().finally(() => process.exit(130));
    });
  }

  let minFreeDisk = diskFree;
  const guard = async () => {
    await processes.assertAlive();
    await processes.samplePeaks();
    const free = await freeDisk(work);
    minFreeDisk = Math.min(minFreeDisk, free);
    if (free < MIN_FREE_DISK) throw new Error(`only ${(free / 2 ** 30).toFixed(1)} GiB of disk left: stopping`);
    if (Date.now() > deadline) throw new Error(`the whole run exceeded --deadline-minutes ${options.deadlineMinutes}`);
  };

  try {
    const sourceDir = join(work, 'source');
    await mkdir(join(sourceDir, 'data'), { recursive: true });
    await writeFile(join(sourceDir, 'data', 'seed.txt'), 'the first, small version: it becomes the known-good one on every pod\n');
    const sourcesFile = join(work, 'sources.json');
    await writeFile(sourcesFile, JSON.stringify([{ name: SOURCE, kind: 'local', path: sourceDir, keep: 3 }]));

    const stack = await up({ stateDir, log: (l) => process.stderr.write(`[stack] ${l}\n`) });
    const kc = new KubeConfig();
    kc.loadFromFile(stack.kubeconfig!);
    const core = kc.makeApiClient(CoreV1Api);
    connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection, namespace: stack.temporalNamespace });
    await ensureNamespace(core, namespace);

    const { repo: repoPort } = await choosePorts(['repo']);
    const repoUrl = `http://127.0.0.1:${repoPort}`;
    const temporalEnv = {
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: stack.temporalNamespace,
      AUTOCRANE_TASK_QUEUE: DEFAULTS.taskQueue,
    };
    processes.spawnNode('data-repository', join('cli', 'main.js'), ['data-repository'], {
      ...temporalEnv,
      AUTOCRANE_DATA_SOURCES_FILE: sourcesFile,
      AUTOCRANE_DATA_REPOSITORY_ROOT: join(work, 'repository'),
      AUTOCRANE_DATA_REPOSITORY_HOST: '127.0.0.1',
      AUTOCRANE_DATA_REPOSITORY_PORT: String(repoPort),
      AUTOCRANE_DATA_REPOSITORY_URL: repoUrl,
      // The bench triggers each poll itself.
      AUTOCRANE_DATA_POLL_INTERVAL_SECONDS: '86400',
      AUTOCRANE_WATCH_NAMESPACES: namespace,
      AUTOCRANE_LOG_LEVEL: 'warn',
    });
    processes.spawnNode('worker', join('workers', 'main.js'), [], {
      ...temporalEnv,
      KUBECONFIG: stack.kubeconfig!,
      AUTOCRANE_WATCH_NAMESPACES: namespace,
      AUTOCRANE_DATA_AUTO_START: 'false',
      AUTOCRANE_DATA_STAGES: STAGES.map((s) => s.pods).join(','),
      AUTOCRANE_DATA_PROBATION_SECONDS: '0',
      AUTOCRANE_WORKER_METRICS_PORT: '0',
      AUTOCRANE_LOG_LEVEL: 'warn',
    });

    const schedule = client.schedule.getHandle(dataPollScheduleId(SOURCE));
    // The repository and the worker first: on 2 busy cores, 50 starting deployers would slow their connections to Temporal.
    await waitFor(
      'the data repository to create its poll schedule',
      300_000,
      async () => ((await schedule.describe()) ? { value: true } : { waiting: 'no schedule' }),
      guard,
    );

    const pods = Array.from({ length: options.pods }, (_, i) => `consumer-${i}`);
    const drop = (pod: string) => join(work, 'drops', pod);
    const deployerLog = (pod: string) => join(logDir, `deployer-${pod}.log`);
    // A few at a time, each batch started (watching its pod) before the next.
    for (let i = 0; i < pods.length; i += DEPLOYER_BATCH) {
      const batch = pods.slice(i, i + DEPLOYER_BATCH);
      for (const pod of batch) {
        await mkdir(drop(pod), { recursive: true });
        await createDataPod(core, namespace, pod, drop(pod), [SOURCE]);
        const start = () => spawnDataDeployer({ namespace, pod, kubeconfig: stack.kubeconfig!, logFile: deployerLog(pod) });
        processes.add(`deployer-${pod}`, start(), deployerLog(pod), start);
      }
      await waitFor(
        `the data deployers of ${batch[0]}…${batch.at(-1)} to start`,
        300_000,
        async () => {
          const starting = [];
          for (const pod of batch) if (!(await readFile(deployerLog(pod), 'utf8')).includes('"data deployer started"')) starting.push(pod);
          return starting.length === 0 ? { value: true } : { waiting: `${starting.join(', ')} not started` };
        },
        guard,
      );
    }
    log(`${options.pods} pods in ${namespace}, one data deployer each, started; the repository at ${repoUrl}`);

    const versions = async (): Promise<DataVersion[]> => {
      const res = await fetch(`${repoUrl}/v1/sources/${SOURCE}/versions`);
      if (!res.ok) throw new Error(`GET /v1/sources/${SOURCE}/versions answered ${res.status}`);
      return ((await res.json()) as { versions: DataVersion[] }).versions;
    };
    const bytesServed = async (): Promise<number> => {
      const text = await (await fetch(`${repoUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`autocrane_data_repository_bytes_served_total{source="${SOURCE}"}`));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    const workflow = client.workflow.getHandle(dataRolloutWorkflowId(namespace, SOURCE));
    const workflowStatus = () => workflow.query(dataRolloutStatusQuery);
    const statuses = async (): Promise<Map<string, DataStatus | undefined>> => {
      const list = await core.listNamespacedPod({ namespace });
      const out = new Map<string, DataStatus | undefined>();
      for (const pod of list.items) {
        const text = pod.metadata?.annotations?.[dataStatusKey(SOURCE)];
        const parsed = text === undefined ? undefined : parseDataStatus(text);
        out.set(pod.metadata!.name!, parsed?.ok ? parsed.value : undefined);
      }
      return out;
    };
    const allOn = (version: string) => async (): Promise<{ value: true } | { waiting: string }> => {
      const now = await statuses();
      const behind = pods.filter((p) => now.get(p)?.version !== version);
      const errors = pods.flatMap((p) => (now.get(p)?.error?.version === version ? [`${p}: ${now.get(p)!.error!.message}`] : []));
      if (behind.length === 0) return { value: true };
      return {
        waiting: `${behind.length} pods not on ${version} (${behind.slice(0, 3).join(', ')}…)${errors.length ? `; deployer errors: ${errors.slice(0, 3).join('; ')}` : ''}`,
      };
    };
    /** Triggers one poll and waits until the manifest has `count` versions and the workflow knows the newest as its latest. */
    const poll = async (count: number): Promise<DataVersion> => {
      await schedule.trigger();
      const listed = await waitFor<DataVersion[]>(
        `version ${count} in the repository's manifest`,
        Math.min(timeLeft(), 20 * 60_000),
        async () => {
          const now = await versions();
          return now.length >= count ? { value: now } : { waiting: `${now.length} versions` };
        },
        guard,
      );
      const newest = listed.at(-1)!;
      await waitFor(
        `the data-rollout workflow to be told of ${newest.id}`,
        120_000,
        async () => {
          const s = await workflowStatus();
          return s.latest?.version.id === newest.id ? { value: true } : { waiting: `latest ${s.latest?.version.id ?? 'none'}` };
        },
        guard,
      );
      return newest;
    };

    // 1. A small version bootstraps the LKG: every pod gets it (and its deployer is warmed up).
    const v1 = await poll(1);
    await waitFor(`every pod on the first version ${v1.id}`, 600_000, allOn(v1.id), guard);
    log(`every pod runs the bootstrap version ${v1.id} (${v1.size} bytes)`);

    // 2. The large version: stored and announced, waiting for a start (auto-start is off).
    log(`writing ${options.mb} MiB of random data in ${files} files into the source…`);
    await writeRandomFiles(join(sourceDir, 'data'), options.mb, files);
    const pollStarted = Date.now();
    const v2 = await poll(2);
    log(
      `the repository stored and announced ${v2.id}: ${(v2.size / MIB).toFixed(1)} MiB archive, ${secs(Date.now() - pollStarted)} from the trigger`,
    );

    const idleRss = await Promise.all(pods.map((p) => procMemoryMb(processes.pid(`deployer-${p}`), 'VmRSS')));
    const idlePeak = await Promise.all(pods.map((p) => procMemoryMb(processes.pid(`deployer-${p}`))));
    const servedBefore = await bytesServed();
    const loadBefore = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

    // 3. The rollout, from the start request until every pod has acknowledged it.
    const requested = Date.now();
    await workflow.executeUpdate(startDataRolloutUpdate, {
      args: [{ version: v2.id, stages: STAGES, ackTimeoutSeconds: Math.ceil(timeLeft() / 1000), reason: 'bench', by: 'bench' }],
    });
    const ackedAt = new Map<string, number>();
    let lastReport = Date.now();
    /** Taken when every pod has acknowledged, before the gate's verdict (a rollback would ask for the first version again). */
    let measured: { allAckedAt: number; allAckedMs: number; servedBytes: number; peaks: number[] } | undefined;
    const finished = await waitFor<{ run: DataRolloutRun; decisions: DataRolloutStatus['decisions'] }>(
      `every pod to acknowledge ${v2.id} and the rollout to end`,
      timeLeft(),
      async () => {
        const now = await statuses();
        for (const pod of pods) if (!ackedAt.has(pod) && now.get(pod)?.version === v2.id) ackedAt.set(pod, Date.now());
        if (measured === undefined && ackedAt.size === pods.length) {
          measured = {
            allAckedAt: Date.now(),
            allAckedMs: Math.max(...ackedAt.values()) - requested,
            servedBytes: (await bytesServed()) - servedBefore,
            peaks: await Promise.all(pods.map((p) => processes.peak(`deployer-${p}`))),
          };
        }
        const s: DataRolloutStatus = await workflowStatus();
        const run = s.rollout ?? s.recent.find((r) => r.version === v2.id) ?? null;
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          log(
            `${ackedAt.size}/${pods.length} acknowledged; rollout ${run ? `${run.state} stage ${run.stage + 1}/${run.stages.length}` : 'not seen yet'}; ${((await freeDisk(work)) / 2 ** 30).toFixed(1)} GiB disk free`,
          );
        }
        if (run !== null && run.endedAt !== null && (measured !== undefined || run.state !== 'Succeeded'))
          return { value: { run, decisions: s.decisions } };
        return { waiting: `${ackedAt.size}/${pods.length} acknowledged, rollout ${run?.state ?? 'not seen'}` };
      },
      guard,
    );
    const run: DataRolloutRun = finished.run;
    const succeeded = run.state === 'Succeeded';
    if (measured === undefined) {
      throw new BenchFailure(
        `the rollout ended ${run.state} with ${ackedAt.size}/${pods.length} pods acknowledged: ${run.reason ?? ''}; last decisions: ${JSON.stringify(finished.decisions.slice(-4))}`,
      );
    }
    const { allAckedAt, allAckedMs, servedBytes, peaks } = measured;
    const repositoryPeak = await processes.peak('data-repository');
    const workerPeak = await processes.peak('worker');
    // The sandbox's readiness at the end: kwok nodes that miss their lease renewals under load make the pods not ready.
    const nodes = (await core.listNode()).items.map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
      return `${n.metadata?.name} ${ready?.status ?? '?'}${ready?.status === 'True' ? '' : ` (${ready?.reason ?? ''} since ${ready?.lastTransitionTime ? new Date(ready.lastTransitionTime).toISOString().slice(11, 19) : '?'})`}`;
    });
    const readyPods = (await core.listNamespacedPod({ namespace })).items.filter((p) =>
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;

    // Every pod's active folder holds the whole version: the same bytes as the source.
    const expectedBytes = await folderBytes(join(sourceDir, 'data'));
    for (const pod of succeeded ? pods : []) {
      const link = await readlink(join(drop(pod), SOURCE));
      if (!link.endsWith(v2.id)) throw new Error(`${pod}: ${SOURCE} links to ${link}, not ${v2.id}`);
      const bytes = await folderBytes(join(drop(pod), SOURCE, 'data'));
      if (bytes !== expectedBytes) throw new Error(`${pod}: the active version holds ${bytes} bytes, the source ${expectedBytes}`);
    }

    // What the deployers did until every pod had acknowledged, from their logs: downloads of the version begun, switches back to the first version.
    const activity = await Promise.all(
      pods.map(async (pod) => {
        const entries = (await readFile(join(logDir, `deployer-${pod}.log`), 'utf8'))
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg?: string; version?: string; time?: number });
        return {
          downloads: entries.filter((e) => e.msg === 'downloading' && e.version === v2.id && (e.time ?? 0) <= allAckedAt).length,
          backToFirst: entries.filter(
            (e) => e.msg === 'activated' && e.version === v1.id && (e.time ?? 0) >= requested && (e.time ?? 0) <= allAckedAt,
          ).length,
        };
      }),
    );
    const downloadsBegun = activity.reduce((n, a) => n + a.downloads, 0);
    const switchesBack = activity.reduce((n, a) => n + a.backToFirst, 0);

    const at = (iso: string | null) => (iso === null ? NaN : Date.parse(iso) - requested);
    const ackDecisions = finished.decisions.filter((d) => d.kind === 'acknowledged' && d.version === v2.id);
    const ratio = servedBytes / (options.pods * v2.size);
    const sortedAcks = [...ackedAt.values()].map((t) => t - requested).sort((a, b) => a - b);
    const lines = [
      `Data rollout benchmark, ${new Date().toISOString().slice(0, 10)}, built from ${builtFrom}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Linux ${release()}`,
      `${options.pods} pods × ${options.mb} MiB of random data (${files} files; archive ${v2.size} bytes), stages ${STAGES.map((s) => s.pods).join(', ')}, probation 0; load at start ${loadAtStart}, before the rollout ${loadBefore}`,
      '',
      '| measure | value |',
      '| --- | --- |',
      `| start request → every pod acknowledged | ${secs(allAckedMs)} |`,
      `| rollout outcome | ${run.state}${succeeded ? '' : `: ${run.reason ?? ''}`} |`,
      `| start request → rollout ended (workflow) | ${secs(at(run.endedAt))} |`,
      ...run.stages.map((stage, i) => {
        const decision = ackDecisions[i];
        const acked = decision ? Date.parse(decision.at) - requested : NaN;
        return `| stage ${i + 1} (${stage.pods}: ${stage.count ?? '?'} of the pods): started → acknowledged | ${secs(at(stage.startedAt))} → ${secs(acked)} (${secs(acked - at(stage.startedAt))}) |`;
      }),
      `| acknowledgements after the request: first / median / last | ${secs(sortedAcks[0]!)} / ${secs(median(sortedAcks))} / ${secs(sortedAcks.at(-1)!)} |`,
      `| bytes served by the repository during the rollout | ${servedBytes} (${(servedBytes / MIB).toFixed(0)} MiB) |`,
      `| served / (pods × archive size) | ${ratio.toFixed(3)} (target 1: one download per pod) |`,
      `| downloads of the version begun until every pod acknowledged (deployers' logs): total / most by one pod | ${downloadsBegun} / ${Math.max(...activity.map((a) => a.downloads))} |`,
      `| pods switched back to the first version before every pod acknowledged (deployers' logs): pods / switches | ${activity.filter((a) => a.backToFirst > 0).length} / ${switchesBack} |`,
      `| deployer peak RSS (VmHWM), max / median / min | ${Math.max(...peaks)} / ${median(peaks)} / ${Math.min(...peaks)} MB (target ≤ 100 MB) |`,
      `| deployer before the rollout (after the bootstrap version): VmRSS median / VmHWM median | ${median(idleRss)} / ${median(idlePeak)} MB |`,
      `| data repository peak RSS / worker peak RSS | ${repositoryPeak} / ${workerPeak} MB |`,
      `| deployer crashes (restarted by the bench) | ${processes.crashes.length === 0 ? 'none' : processes.crashes.map((c) => `${c.name} (exit ${c.exit})`).join(', ')} |`,
      `| at the end: consumer pods Ready / nodes | ${readyPods}/${pods.length} / ${nodes.join(', ')} |`,
      `| least free disk seen | ${(minFreeDisk / 2 ** 30).toFixed(1)} GiB |`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    process.stdout.write(
      `${JSON.stringify({ outcome: run.state, pods: options.pods, mb: options.mb, archiveBytes: v2.size, allAckedSeconds: allAckedMs / 1000, servedBytes, ratio, downloadsBegun, switchesBack, crashes: processes.crashes, peakRssMb: { max: Math.max(...peaks), median: median(peaks), all: peaks }, targetMet: { rss: Math.max(...peaks) <= 100, oneDownloadPerPod: Math.abs(ratio - 1) < 0.01 } })}\n`,
    );
    if (!succeeded)
      throw new BenchFailure(
        `the rollout ended ${run.state} after every pod had acknowledged (the numbers above stand): ${run.reason ?? ''}`,
      );
  } finally {
    await teardown();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

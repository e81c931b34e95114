/**
 * A data deployment on the integration stack, every part a real process from dist/: the data
 * repository (`autocrane data-repository`) serving a local folder over HTTP, AutoCrane's worker
 * process (dist/workers/main.js) running the data-rollout workflow, and one
 * `autocrane data-deployer` per kwok consumer pod, each with its own drop folder (kwok pods run
 * no containers, so their sidecars run here). The test only writes the source folder, triggers
 * the repository's poll schedule and plays the apps that post watchdogs.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { writePodStatuses } from '../../activities/shared/pod-status';
import { dataRequestKey, dataStatusKey, parseDataRequest, type DataStatus, type DataVersion } from '../../domain/data/data-contract';
import { dataMirrorName } from '../../domain/data/data-rollout';
import { DATA_DEPS_ANNOTATION } from '../../domain/shared/keys';
import { formatStatus } from '../../domain/watchdog/watchdog-status';
import { dataPollScheduleId } from '../../contracts/schedule-ids';
import { probeScheduleId } from '../../contracts/schedule-ids';
import { dataRolloutStatusQuery, dataRolloutWorkflowId, type DataRolloutStatus } from '../../contracts/data-rollout-messages';
import { createDataPod, dataStatus, spawnDataDeployer } from './data-deployers';
import { exited, startDataRepository, tail } from './data-repository-process';
import { eventually, freshNamespace, isPodReady, sandboxClients, type KubeClients } from './kube';
import { killAndWait, spawnWorker } from './processes';
import { tierStack } from './stacks';
import { temporalClients, uniqueTaskQueue, type TemporalClients } from './temporal';

export interface DataFleetOptions {
  /** Namespace prefix; also names the log files. */
  prefix: string;
  /** The source's name (a DNS label): schedules are global, so one per test file. */
  source: string;
  /** How many consumer pods (each with its own data deployer). */
  consumers: number;
  /** Pods that vouch for the source (store.autocrane.io/deps) without consuming it. */
  vouchers: string[];
  /** The worker's AUTOCRANE_DATA_* settings. */
  workerEnv: Record<string, string>;
}

/** Per consumer, the versions it was asked for and the versions it reported active, in order. */
export interface FleetObservation {
  requests: Record<string, string[]>;
  active: Record<string, string[]>;
}

/** What a pod's drop folder shows for the source: the version the link resolves to and a file read through it. */
export interface ActiveOnDisk {
  version: string | null;
  link: string | null;
  release: string | null;
}

export class DataFleet {
  readonly consumers: string[];
  private readonly children: ChildProcess[] = [];
  /** Processes that must stay up, with their logs: the current worker, the repository, the deployers. */
  private readonly vital = new Map<ChildProcess, string>();
  private worker: ChildProcess | undefined;
  private workers = 0;
  private repositoryUrl = '';

  private constructor(
    readonly options: DataFleetOptions,
    readonly k: KubeClients,
    readonly temporal: TemporalClients,
    readonly namespace: string,
    /** Holds src/ (the source folder), store/ (the repository's root) and drops/<pod>/. */
    readonly root: string,
    readonly taskQueue: string,
  ) {
    this.consumers = Array.from({ length: options.consumers }, (_, i) => `web-${i}`);
  }

  get source(): string {
    return this.options.source;
  }

  static async start(options: DataFleetOptions): Promise<DataFleet> {
    const k = sandboxClients();
    const temporal = await temporalClients(tierStack('integration'));
    const namespace = await freshNamespace(k.core, options.prefix);
    const root = await mkdtemp(join(tmpdir(), `${options.prefix}-`));
    const fleet = new DataFleet(options, k, temporal, namespace, root, uniqueTaskQueue(options.prefix));
    try {
      await fleet.setUp();
    } catch (err) {
      await fleet.close();
      throw err;
    }
    return fleet;
  }

  private logFile(name: string): string {
    return join(tierStack('integration').stateDir, 'logs', `${this.options.prefix}-${this.namespace}-${name}.log`);
  }

  /** The log file of a consumer's data deployer. */
  deployerLog(pod: string): string {
    return this.logFile(`deployer-${pod}`);
  }

  drop(pod: string): string {
    return join(this.root, 'drops', pod);
  }

  private async setUp(): Promise<void> {
    const { source } = this;
    await mkdir(join(this.root, 'src'), { recursive: true });
    for (const pod of this.consumers) await createDataPod(this.k.core, this.namespace, pod, this.drop(pod), [source]);
    for (const pod of this.options.vouchers) {
      await this.k.core.createNamespacedPod({
        namespace: this.namespace,
        body: {
          metadata: { name: pod, annotations: { [DATA_DEPS_ANNOTATION]: source } },
          spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
        },
      });
    }
    const all = this.consumers.length + this.options.vouchers.length;
    await eventually(
      async () => {
        const ready = (await this.k.core.listNamespacedPod({ namespace: this.namespace })).items.filter(isPodReady).length;
        if (ready < all) throw new Error(`${ready} of ${all} pods ready`);
      },
      90_000,
      500,
    );
    const kubeconfig = tierStack('integration').kubeconfig!;
    for (const pod of this.consumers) {
      const log = this.logFile(`deployer-${pod}`);
      const child = spawnDataDeployer({ namespace: this.namespace, pod, kubeconfig, logFile: log });
      this.children.push(child);
      this.vital.set(child, log);
    }
    this.spawnWorker();
    await this.spawnRepository();
  }

  private baseEnv(): Record<string, string> {
    const stack = tierStack('integration');
    return {
      KUBECONFIG: stack.kubeconfig!,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: stack.temporalNamespace,
      AUTOCRANE_TASK_QUEUE: this.taskQueue,
      AUTOCRANE_WATCH_NAMESPACES: this.namespace,
      AUTOCRANE_LOG_FORMAT: 'json',
    };
  }

  /** Starts (another) worker process on the fleet's task queue; a killed one is replaced this way. */
  spawnWorker(): ChildProcess {
    const env = {
      ...this.baseEnv(),
      AUTOCRANE_PROBE_INTERVAL_SECONDS: '3600',
      AUTOCRANE_REPAIR_ENABLED: 'false',
      ...this.options.workerEnv,
    };
    const log = this.logFile(`worker-${++this.workers}`);
    this.worker = spawnWorker(env, log);
    this.children.push(this.worker);
    this.vital.set(this.worker, log);
    return this.worker;
  }

  async killWorker(signal: NodeJS.Signals): Promise<void> {
    if (!this.worker) return;
    this.vital.delete(this.worker);
    await killAndWait(this.worker, signal);
  }

  /** Throws, with the end of its log, when a process the fleet needs has exited. */
  checkAlive(): void {
    for (const [child, log] of this.vital) {
      if (exited(child)) throw new Error(`${log} exited (${child.exitCode ?? child.signalCode}):\n${tail(log)}`);
    }
  }

  /** Polls `check` until it gives a value; a dead process fails at once, a timeout names what was awaited and the last answer. */
  async until<T>(what: string, check: () => Promise<T | { waiting: string }>, timeoutMs: number, intervalMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let detail = '';
    for (;;) {
      this.checkAlive();
      try {
        const result = await check();
        if (typeof result !== 'object' || result === null || !('waiting' in result)) return result;
        detail = result.waiting;
      } catch (err) {
        detail = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}: ${detail}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  private async spawnRepository(): Promise<void> {
    const sourcesFile = join(this.root, 'sources.json');
    await writeFile(sourcesFile, JSON.stringify([{ name: this.source, kind: 'local', path: './src' }]));
    const log = this.logFile('repository');
    const { child, url } = await startDataRepository(
      { ...this.baseEnv(), AUTOCRANE_DATA_SOURCES_FILE: sourcesFile, AUTOCRANE_DATA_REPOSITORY_ROOT: join(this.root, 'store') },
      log,
    );
    this.repositoryUrl = url;
    this.children.push(child);
    this.vital.set(child, log);
  }

  /** The versions the repository serves (its manifest), oldest first. */
  async versions(): Promise<DataVersion[]> {
    const res = await fetch(`${this.repositoryUrl}/v1/sources/${this.source}/versions`);
    if (res.status !== 200) throw new Error(`GET versions answered ${res.status}`);
    return ((await res.json()) as { versions: DataVersion[] }).versions;
  }

  /**
   * Makes `files` the source folder's whole content and has the repository poll it: resolves
   * with the new version once the repository serves it and the namespace's data-rollout
   * workflow knows it.
   */
  async publish(files: Record<string, string>): Promise<DataVersion> {
    const before = await this.versions();
    // Version IDs carry the creation second and must increase.
    const last = before.at(-1);
    if (last) while (Date.now() < Date.parse(last.createdAt) + 1100) await new Promise((r) => setTimeout(r, 100));
    const src = join(this.root, 'src');
    await rm(src, { recursive: true, force: true });
    for (const [name, content] of Object.entries(files)) {
      await mkdir(dirname(join(src, name)), { recursive: true });
      await writeFile(join(src, name), content);
    }
    const schedule = this.temporal.client.schedule.getHandle(dataPollScheduleId(this.source));
    let triggeredAt = 0;
    const created = await this.until(
      'the repository to store a new version',
      async () => {
        const now = await this.versions();
        if (now.length > before.length) return now.at(-1)!;
        // A trigger while a poll still runs is skipped (overlap SKIP): trigger again now and then.
        if (Date.now() - triggeredAt > 10_000) {
          triggeredAt = Date.now();
          await schedule.trigger();
        }
        return { waiting: `it lists ${now.length} versions` };
      },
      90_000,
    );
    await this.waitForStatus(
      (s) => s.latest?.version.id === created.id || s.lkg?.version.id === created.id,
      `the workflow to know ${created.id}`,
      60_000,
    );
    return created;
  }

  handle(runId?: string): WorkflowHandle {
    return this.temporal.client.workflow.getHandle(dataRolloutWorkflowId(this.namespace, this.source), runId);
  }

  status(): Promise<DataRolloutStatus> {
    return this.handle().query(dataRolloutStatusQuery);
  }

  /** Polls the workflow's status until `wanted` holds; a timeout names what was awaited, the rollout and the last decisions. */
  async waitForStatus(wanted: (s: DataRolloutStatus) => boolean, what: string, timeoutMs = 120_000): Promise<DataRolloutStatus> {
    return this.until(
      what,
      async () => {
        const s = await this.status();
        if (wanted(s)) return s;
        const run = s.rollout && `${s.rollout.version} ${s.rollout.state} stage ${s.rollout.stage + 1}`;
        return {
          waiting: `rollout ${run ?? 'none'}; last decisions: ${s.decisions
            .slice(-4)
            .map((d) => `${d.kind}: ${d.reason}`)
            .join(' | ')}`,
        };
      },
      timeoutMs,
      200,
    );
  }

  /**
   * The ID of the run that is idle now, tending the consumers (its last activity is
   * tendDataConsumers): the run a version published next is rolled out in. Waits out the end of
   * a previous rollout's run, which continues as new.
   */
  async idleRunId(): Promise<string> {
    return this.until(
      'the data-rollout workflow to be idle',
      async () => {
        const described = await this.handle().describe();
        if (described.status.name !== 'RUNNING') return { waiting: `run ${described.runId} is ${described.status.name}` };
        const last = (await this.runActivities(described.runId)).at(-1);
        return last === 'tendDataConsumers' ? described.runId : { waiting: `run ${described.runId} last scheduled ${last ?? 'nothing'}` };
      },
      60_000,
    );
  }

  /** The activity types a run scheduled, in order. */
  async runActivities(runId: string): Promise<string[]> {
    const history = await this.handle(runId).fetchHistory();
    return (history.events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name ? [e.activityTaskScheduledEventAttributes.activityType.name] : [],
    );
  }

  /** Waits until the run has closed (a rollout's run continues as new once it has ended). */
  async closedRun(runId: string): Promise<WorkflowHandle> {
    const handle = this.handle(runId);
    await this.until(
      `run ${runId} to close`,
      async () => {
        const name = (await handle.describe()).status.name;
        return name === 'RUNNING' ? { waiting: name } : true;
      },
      60_000,
    );
    return handle;
  }

  /** The version each consumer is asked for (request annotation), by pod. */
  async requests(): Promise<Record<string, string | null>> {
    const pods = (await this.k.core.listNamespacedPod({ namespace: this.namespace })).items;
    const result: Record<string, string | null> = {};
    for (const pod of pods) {
      const name = pod.metadata!.name!;
      if (!this.consumers.includes(name)) continue;
      const text = pod.metadata?.annotations?.[dataRequestKey(this.source)];
      const parsed = text === undefined ? undefined : parseDataRequest(text);
      result[name] = parsed?.ok ? parsed.value.version : null;
    }
    return result;
  }

  /**
   * Looks at the consumers every 100 ms until stopped and records, per pod, the versions it was
   * asked for and the versions its status reported active, in order (repeats folded): a pod
   * moved back and forth shows it. `onLook` runs after each look (the apps the test plays).
   */
  observe(onLook?: (seen: FleetObservation) => Promise<void>): { stop(): Promise<FleetObservation> } {
    const seen: FleetObservation = { requests: {}, active: {} };
    const note = (list: Record<string, string[]>, pod: string, version: string | undefined) => {
      if (version === undefined) return;
      const versions = (list[pod] ??= []);
      if (versions.at(-1) !== version) versions.push(version);
    };
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          for (const pod of (await this.k.core.listNamespacedPod({ namespace: this.namespace })).items) {
            const name = pod.metadata!.name!;
            if (!this.consumers.includes(name)) continue;
            const request = pod.metadata?.annotations?.[dataRequestKey(this.source)];
            const status = pod.metadata?.annotations?.[dataStatusKey(this.source)];
            note(seen.requests, name, request === undefined ? undefined : (JSON.parse(request) as { version?: string }).version);
            note(seen.active, name, status === undefined ? undefined : (JSON.parse(status) as { version?: string }).version);
          }
          await onLook?.(seen);
        } catch {
          // The next look tries again.
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return seen;
      },
    };
  }

  podStatus(pod: string): Promise<DataStatus | undefined> {
    return dataStatus(this.k.core, this.namespace, pod, this.source);
  }

  /** What `<location>/<source>` resolves to on the pod's disk, and the release file read through it. */
  async activeOnDisk(pod: string): Promise<ActiveOnDisk> {
    const link = join(this.drop(pod), this.source);
    const target = await readlink(link).catch(() => null);
    const release = await readFile(join(link, 'release.json'), 'utf8').catch(() => null);
    const prefix = `.autocrane/versions/${this.source}/`;
    return { version: target?.startsWith(prefix) ? target.slice(prefix.length) : null, link: target, release };
  }

  /** The version folders kept in the pod's drop folder (sorted). */
  async versionsOnDisk(pod: string): Promise<string[]> {
    const names = await readdir(join(this.drop(pod), '.autocrane', 'versions', this.source)).catch(() => [] as string[]);
    return names.filter((n) => !n.endsWith('.json')).sort();
  }

  /** Waits until every consumer reports `version` active and its link resolves to it on disk. */
  async waitUntilAllActive(version: DataVersion, timeoutMs = 60_000): Promise<void> {
    await this.until(
      `every consumer to run ${version.id}`,
      async () => {
        for (const pod of this.consumers) {
          const status = await this.podStatus(pod);
          const disk = await this.activeOnDisk(pod);
          if (status?.version !== version.id || disk.version !== version.id)
            return { waiting: `${pod}: status ${status?.version ?? '-'}, disk ${disk.version ?? '-'}` };
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** The source's ConfigMap mirror (autocrane-data-<source>). */
  async mirror(): Promise<Record<string, string>> {
    return (await this.k.core.readNamespacedConfigMap({ namespace: this.namespace, name: dataMirrorName(this.source) })).data ?? {};
  }

  /** Posts a watchdog on a pod the way the watchdog API does (status annotation + health label); null clears it. */
  async postWatchdog(pod: string, name: string, status: { level: 'info' | 'warning' | 'error'; message: string } | null): Promise<void> {
    await writePodStatuses(this.k.core, { namespace: this.namespace, name: pod }, () => ({
      [name]: status === null ? null : formatStatus({ ...status, time: new Date() }),
    }));
  }

  async close(): Promise<void> {
    for (const child of this.children.reverse()) await killAndWait(child, 'SIGKILL');
    const client = this.temporal.client;
    await client.schedule
      .getHandle(dataPollScheduleId(this.source))
      .delete()
      .catch(() => undefined);
    await client.schedule
      .getHandle(probeScheduleId(this.namespace))
      .delete()
      .catch(() => undefined);
    await this.handle()
      .terminate('test over')
      .catch(() => undefined);
    await this.temporal.close();
    await this.k.core.deleteNamespace({ name: this.namespace }).catch(() => undefined);
    await rm(this.root, { recursive: true, force: true });
  }
}

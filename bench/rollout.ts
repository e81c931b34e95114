/**
 * Benchmark of a staged rollout: a Deployment of 30 kwok replicas whose pods
 * declare a probe answered by the test workload, rolled out in 3 stages (10%, 50%, 100%) with
 * zero bake time by the real worker process, against a floor measured in the same run: a
 * plain image update of the same Deployment (the template patched, Kubernetes rolling it),
 * waited for until every pod is updated and ready. Then the reaction latency: from a
 * watchdog error posted on an updated pod during a bake to the rollback starting, over
 * several trials.
 *
 *   npm run build && node dist/bench/rollout.js [--replicas 30] [--pairs 3] [--trials 10]
 */
import { AppsV1Api, PatchStrategy, setHeaderOptions, type V1Deployment } from '@kubernetes/client-node';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { CANARY_SUFFIX, DEFAULTS, HEALTH_LABEL, PROBE_ANNOTATION_PREFIX, STATUS_ANNOTATION_PREFIX } from '../domain/shared/keys';
import { parseRolloutSpec, type RolloutSpec, type RolloutSpecInput } from '../domain/rollout/rollout-spec';
import { down } from '../stack/stack';
import { REPO_ROOT } from '../stack/stack-state';
import { rolloutStatusQuery, rolloutWorkflowId, type RolloutStatus, type RolloutWorkflowInput } from '../contracts/rollout-messages';
import { startBenchStack } from './support';
import { ROLLOUT_WORKFLOW_TYPE } from '../contracts/workflow-types';

const NAMESPACE = 'bench';
const APP = 'web';
const POLL_MS = 50;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const image = (version: number) => `example.invalid/app:${version}`;

interface Options {
  replicas: number;
  pairs: number;
  trials: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { replicas: 30, pairs: 3, trials: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, '') as keyof Options;
    const value = Number(argv[i + 1]);
    if (!(key in options) || !Number.isInteger(value) || value <= 0) {
      process.stderr.write(
        `usage: node dist/bench/rollout.js [--replicas N] [--pairs N] [--trials N] (bad: ${argv[i]} ${argv[i + 1] ?? ''})\n`,
      );
      process.exit(2);
    }
    options[key] = value;
  }
  return options;
}

const deployment = (replicas: number, port: number): V1Deployment => ({
  metadata: { name: APP },
  spec: {
    replicas,
    selector: { matchLabels: { app: APP } },
    // The Deployment's default strategy (25% / 25%): the floor and the rollout's bound use the same one.
    template: {
      metadata: { labels: { app: APP }, annotations: { [`${PROBE_ANNOTATION_PREFIX}http`]: `POD_IP:${port}/watchdog` } },
      spec: { containers: [{ name: 'app', image: image(1) }], terminationGracePeriodSeconds: 0 },
    },
  },
});

/** Every pod of the Deployment on its current template and ready, none left over: what the floor waits for. */
async function waitRolledOut(apps: AppsV1Api, replicas: number): Promise<void> {
  for (;;) {
    const d = await apps.readNamespacedDeployment({ name: APP, namespace: NAMESPACE });
    const s = d.status ?? {};
    if (
      (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
      s.replicas === replicas &&
      s.updatedReplicas === replicas &&
      s.readyReplicas === replicas
    )
      return;
    await sleep(POLL_MS);
  }
}

function spec(input: Omit<RolloutSpecInput, 'target'>): RolloutSpec {
  const parsed = parseRolloutSpec({ target: { namespace: NAMESPACE, kind: 'Deployment', name: APP }, ...input });
  if (!parsed.ok) throw new Error(`bad bench spec: ${JSON.stringify(parsed.problems)}`);
  return parsed.spec;
}

async function startRollout(client: Client, rolloutSpec: RolloutSpec): Promise<WorkflowHandle> {
  const input: RolloutWorkflowInput = { rolloutId: randomBytes(6).toString('hex'), spec: rolloutSpec };
  return client.workflow.start(ROLLOUT_WORKFLOW_TYPE, {
    taskQueue: DEFAULTS.taskQueue,
    workflowId: rolloutWorkflowId(rolloutSpec.target),
    args: [input],
  });
}

async function waitForState(handle: WorkflowHandle, wanted: (s: RolloutStatus) => boolean): Promise<RolloutStatus> {
  for (;;) {
    const s = await handle.query(rolloutStatusQuery);
    if (wanted(s)) return s;
    if (['Succeeded', 'RolledBack', 'Failed', 'Superseded'].includes(s.state))
      throw new Error(`rollout ended ${s.state} early: ${JSON.stringify(s.decisions.slice(-3))}`);
    await sleep(POLL_MS);
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

interface Phase {
  name: string;
  ms: number;
}

/**
 * Where a rollout's wall time goes, from its decision times: start to the first stage, each
 * stage (scaling and gate), promotion, and the end (finishRollout, the result reaching us).
 */
function phaseTimes(result: RolloutStatus, startedMs: number, endedMs: number): Phase[] {
  const at = (kind: string, nth = 0) => Date.parse(result.decisions.filter((d) => d.kind === kind)[nth]!.at);
  const stageCount = result.stages.length;
  const marks: { name: string; ms: number }[] = [{ name: 'start', ms: startedMs }];
  for (let i = 0; i < stageCount; i++)
    marks.push({ name: `stage ${i + 1} (${result.stages[i]!.count} canary)`, ms: at('stageStarted', i) });
  marks.push({ name: 'promotion', ms: at('promotionStarted') }, { name: 'end', ms: at('succeeded') });
  const out = marks.slice(0, -1).map((m, i) => ({ name: i === 0 ? 'until stage 1 starts' : m.name, ms: marks[i + 1]!.ms - m.ms }));
  out.push({ name: 'after succeeded', ms: endedMs - at('succeeded') });
  return out;
}

const formatPhases = (p: Phase[]) => p.map((x) => `${x.name} ${seconds(x.ms)}`).join(', ');

const eventMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

interface HistoryBreakdown {
  /** Activities from started to completed: the Kubernetes work and its waits. */
  activityMs: number;
  /** Activities from scheduled to started: dispatch through the task queue. */
  dispatchMs: number;
  /** Workflow tasks from scheduled to completed. */
  workflowTaskMs: number;
  /** Of which from started to completed: the worker running the workflow code. */
  workflowTaskRunMs: number;
  activities: number;
  workflowTasks: number;
  /** The history's length in events. */
  events: number;
}

/** Where the rollout's time went by Temporal's own clock: in activities, waiting for dispatch, in workflow tasks. */
async function historyBreakdown(handle: WorkflowHandle): Promise<HistoryBreakdown> {
  const history = await handle.fetchHistory();
  const byId = new Map<string, number>();
  const out: HistoryBreakdown = {
    activityMs: 0,
    dispatchMs: 0,
    workflowTaskMs: 0,
    workflowTaskRunMs: 0,
    activities: 0,
    workflowTasks: 0,
    events: history.events?.length ?? 0,
  };
  for (const event of history.events ?? []) {
    const id = String(event.eventId);
    const t = eventMs(event.eventTime);
    byId.set(id, t);
    if (event.activityTaskScheduledEventAttributes) out.activities++;
    const started = event.activityTaskStartedEventAttributes;
    if (started) out.dispatchMs += t - byId.get(String(started.scheduledEventId))!;
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) out.activityMs += t - byId.get(String(completed.startedEventId))!;
    const wft = event.workflowTaskCompletedEventAttributes;
    if (wft) {
      out.workflowTasks++;
      out.workflowTaskMs += t - byId.get(String(Number(wft.startedEventId) - 1))!;
      out.workflowTaskRunMs += t - byId.get(String(wft.startedEventId))!;
    }
  }
  return out;
}

const BREAKDOWN_ROWS = [
  ['activityMs', 'time inside activities'],
  ['dispatchMs', 'activity dispatch (scheduled → started)'],
  ['workflowTaskMs', 'workflow tasks (scheduled → completed)'],
  ['workflowTaskRunMs', 'of which started → completed'],
] as const;

const formatBreakdown = (b: HistoryBreakdown) =>
  `in ${b.activities} activities ${seconds(b.activityMs)}, their dispatch ${seconds(b.dispatchMs)}, ${b.workflowTasks} workflow tasks ${seconds(b.workflowTaskMs)} (${seconds(b.workflowTaskRunMs)} from started to completed)`;

/** The time of the first event of `type` scheduling activity `activity`, from the run's history. */
async function activityScheduledAt(handle: WorkflowHandle, activity: string): Promise<number | null> {
  const history = await handle.fetchHistory();
  for (const event of history.events ?? []) {
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === activity) {
      const t = event.eventTime!;
      return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
    }
  }
  return null;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const stateDir = join(REPO_ROOT, '.autocrane', 'bench-rollout');
  const { stack, workload, port, core, apps, connection, client } = await startBenchStack(stateDir);
  // The real worker process, as deployed: its own activities, its own Temporal and Kubernetes
  // clients, its probe schedule running on the bench namespace meanwhile (every 5 s).
  const worker = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'workers', 'main.js')], {
    env: {
      ...process.env,
      KUBECONFIG: stack.kubeconfig!,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      AUTOCRANE_WATCH_NAMESPACES: NAMESPACE,
      AUTOCRANE_PROBE_INTERVAL_SECONDS: '5',
      AUTOCRANE_WORKER_METRICS_PORT: '0',
      AUTOCRANE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const walls: number[] = [];
  const floors: number[] = [];
  const events: number[] = [];
  const reactions: { decision: number; activity: number }[] = [];
  const phases: Phase[][] = [];
  const breakdowns: HistoryBreakdown[] = [];
  let version = 1;
  try {
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch(() => undefined);
    await apps.deleteNamespacedDeployment({ name: APP, namespace: NAMESPACE }).catch(() => undefined);
    await apps.deleteNamespacedDeployment({ name: `${APP}${CANARY_SUFFIX}`, namespace: NAMESPACE }).catch(() => undefined);
    for (;;) {
      const left = await core.listNamespacedPod({ namespace: NAMESPACE });
      if (left.items.length === 0) break;
      await sleep(500);
    }
    await apps.createNamespacedDeployment({ namespace: NAMESPACE, body: deployment(options.replicas, port) });
    await waitRolledOut(apps, options.replicas);
    log(`${options.replicas} replicas ready`);

    // Pair 0 warms up (the worker's first workflow task, connections, the JIT) and is not counted.
    for (let pair = 0; pair <= options.pairs; pair++) {
      const counted = pair > 0;
      version++;
      let started = Date.now();
      await apps.patchNamespacedDeployment(
        {
          name: APP,
          namespace: NAMESPACE,
          body: { spec: { template: { spec: { containers: [{ name: 'app', image: image(version) }] } } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      await waitRolledOut(apps, options.replicas);
      const floorMs = Date.now() - started;
      if (counted) floors.push(floorMs);
      log(`floor ${counted ? pair : 'warm-up'}: plain image update to :${version} in ${seconds(floorMs)}`);

      version++;
      started = Date.now();
      const handle = await startRollout(
        client,
        spec({
          change: { images: { app: image(version) } },
          stages: [
            { replicas: '10%', bakeSeconds: 0 },
            { replicas: '50%', bakeSeconds: 0 },
            { replicas: '100%', bakeSeconds: 0 },
          ],
        }),
      );
      const result = (await handle.result()) as RolloutStatus;
      const wallMs = Date.now() - started;
      if (result.state !== 'Succeeded') throw new Error(`rollout ended ${result.state}: ${JSON.stringify(result.decisions.slice(-3))}`);
      await waitRolledOut(apps, options.replicas);
      const breakdown = await historyBreakdown(handle);
      const historyLength = breakdown.events;
      if (counted) {
        walls.push(wallMs);
        events.push(historyLength);
        phases.push(phaseTimes(result, started, started + wallMs));
        breakdowns.push(breakdown);
      }
      log(
        `rollout ${counted ? pair : 'warm-up'}: 3 stages to :${version} in ${seconds(wallMs)}, ${historyLength} events; ${formatPhases(phaseTimes(result, started, started + wallMs))}; ${formatBreakdown(breakdown)}`,
      );
    }

    for (let trial = 0; trial < options.trials; trial++) {
      version++;
      const handle = await startRollout(
        client,
        spec({ change: { images: { app: image(version) } }, stages: [{ replicas: '10%', bakeSeconds: 3600 }] }),
      );
      await waitForState(handle, (s) => s.state === 'Baking');
      // The canary's pods carry no label of their own: they are its ReplicaSet's (after a
      // promotion, the stable Deployment's pods are named like canary pods too).
      const canaryReplicaSet = (await apps.listNamespacedReplicaSet({ namespace: NAMESPACE, labelSelector: `app=${APP}` })).items.find(
        (rs) => rs.metadata?.ownerReferences?.some((o) => o.controller && o.kind === 'Deployment' && o.name === `${APP}${CANARY_SUFFIX}`),
      );
      const hash = canaryReplicaSet?.metadata?.labels?.['pod-template-hash'];
      const canary =
        hash === undefined
          ? undefined
          : (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app=${APP},pod-template-hash=${hash}` })).items.find(
              (p) => !p.metadata?.deletionTimestamp,
            );
      if (!canary) throw new Error('no canary pod while baking');
      const posted = Date.now();
      // As the app would post its own watchdog: the status annotation and the health label, one merge patch.
      const value = `error/${new Date(posted).toISOString().replace(/\.\d+Z$/, 'Z')}/bench trial ${trial + 1}`;
      await core.patchNamespacedPod(
        {
          namespace: NAMESPACE,
          name: canary.metadata!.name!,
          body: { metadata: { labels: { [HEALTH_LABEL]: 'error' }, annotations: { [`${STATUS_ANNOTATION_PREFIX}app`]: value } } },
        },
        mergePatch,
      );
      const result = (await handle.result()) as RolloutStatus;
      if (result.state !== 'RolledBack') throw new Error(`trial ${trial + 1} ended ${result.state}`);
      const decided = Date.parse(result.decisions.find((d) => d.kind === 'rollbackStarted')!.at);
      const scheduled = await activityScheduledAt(handle, 'rollbackRollout');
      reactions.push({ decision: decided - posted, activity: (scheduled ?? Number.NaN) - posted });
      log(
        `reaction ${trial + 1}: rollbackStarted ${reactions.at(-1)!.decision} ms, rollbackRollout scheduled ${reactions.at(-1)!.activity} ms after the error was posted`,
      );
      await waitRolledOut(apps, options.replicas);
    }
  } finally {
    worker.kill('SIGKILL');
    await connection.close();
    workload.close();
    await down({ stateDir });
  }

  const wall = median(walls);
  const floor = median(floors);
  const reaction = median(reactions.map((r) => r.decision));
  const reactionActivity = median(reactions.map((r) => r.activity));
  const lines = [
    `Rollout benchmark, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    `${options.replicas} replicas, stages 10%/50%/100%, bake 0, real worker process; ${options.pairs} floor/rollout pairs, ${options.trials} reaction trials`,
    '',
    '| measure | value | runs |',
    '| --- | --- | --- |',
    `| rollout wall time (median) | ${seconds(wall)} | ${walls.map(seconds).join(', ')} |`,
    `| floor: plain image update, every pod updated and ready (median) | ${seconds(floor)} | ${floors.map(seconds).join(', ')} |`,
    `| ratio (median rollout / median floor) | ${(wall / floor).toFixed(2)} | ${walls.map((w, i) => (w / floors[i]!).toFixed(2)).join(', ')} |`,
    ...phases[0]!.map(
      (p, i) =>
        `| rollout phase: ${p.name} (median) | ${seconds(median(phases.map((r) => r[i]!.ms)))} | ${phases.map((r) => seconds(r[i]!.ms)).join(', ')} |`,
    ),
    ...BREAKDOWN_ROWS.map(
      ([k, label]) =>
        `| rollout ${label} (median) | ${seconds(median(breakdowns.map((b) => b[k])))} | ${breakdowns.map((b) => seconds(b[k])).join(', ')} |`,
    ),
    `| history events of the 3-stage rollout | ${Math.max(...events)} (max) | ${events.join(', ')} |`,
    `| reaction: error posted → rollbackStarted decision (median) | ${reaction} ms | ${reactions.map((r) => r.decision).join(', ')} |`,
    `| reaction: error posted → rollbackRollout scheduled (median) | ${reactionActivity} ms | ${reactions.map((r) => r.activity).join(', ')} |`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

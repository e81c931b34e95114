import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CoreV1Api, KubeConfig, V1Node } from '@kubernetes/client-node';
import { Connection } from '@temporalio/client';
import { DEFAULTS, SEARCH_ATTRIBUTES, ZONE_LABEL } from '../domain/shared/keys';
import { expectOk } from './http-check';
import { ClusterPki, ensurePki, kubeconfigYaml } from './pki';
import { choosePorts } from './ports';
import { isRunning, ManagedProcess, startProcess, stopProcess, tailLog } from './processes';
import { ensureTools, ToolPaths } from './tools';

/**
 * The local stack: a real Temporal dev server and a real Kubernetes control plane
 * (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with kwok fake
 * nodes, all on 127.0.0.1, plus optionally AutoCrane's own worker and API.
 *
 * Everything lives in one state folder: data (etcd, the Temporal SQLite file), keys,
 * logs, and stack.json, which records the pids and ports so `down` stops exactly the
 * processes `up` started, and stack.env, which tells scripts and tools where things are.
 */

/** The checkout this module belongs to, whether it runs from sources or from dist/. */
export const REPO_ROOT = findRepoRoot(__dirname);

function findRepoRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`stack: no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}
export const DEFAULT_STATE_DIR = join(REPO_ROOT, '.autocrane');

export const COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
  'temporal',
  'worker',
  'api',
] as const;
export type ComponentName = (typeof COMPONENTS)[number];

const PORT_NAMES = [
  'etcdClient',
  'etcdPeer',
  'apiserver',
  'controllerManager',
  'scheduler',
  'kwok',
  'temporal',
  'temporalHttp',
  'temporalMetrics',
  'temporalUi',
  'api',
  'workerMetrics',
] as const;
type PortName = (typeof PORT_NAMES)[number];

/** The sandbox's fake nodes: one per zone, so zone-aware logic has something to spread over. */
export const SANDBOX_ZONES = ['a', 'b', 'c'] as const;
/** Pod IPs come from loopback so a local process listening on all addresses answers at any pod IP. */
export const POD_CIDR = '127.1.0.1/16';
const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface UpOptions {
  stateDir?: string;
  /** Start only Temporal (the workflow test tier needs no cluster). */
  kubernetes?: boolean;
  /** Serve the Temporal Web UI. */
  ui?: boolean;
  /** Also start AutoCrane's worker and API from dist/ (needs `npm run build`). */
  service?: boolean;
  log?: (line: string) => void;
  /** How long each component may take to become ready. */
  readyTimeoutMs?: number;
}

export interface StackState {
  stateDir: string;
  ports: Record<PortName, number>;
  options: { kubernetes: boolean; ui: boolean; service: boolean };
  processes: Partial<Record<ComponentName, ManagedProcess>>;
  kubeconfig?: string;
  apiserverUrl?: string;
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl?: string;
  apiUrl?: string;
  apiToken?: string;
  workerMetricsUrl?: string;
}

interface Context {
  stateDir: string;
  ports: Record<PortName, number>;
  tools: ToolPaths;
  pki?: ClusterPki;
  options: StackState['options'];
  apiToken: string;
}

const stateFile = (stateDir: string) => join(stateDir, 'stack.json');
export const envFile = (stateDir: string) => join(stateDir, 'stack.env');
const logFile = (stateDir: string, name: ComponentName) => join(stateDir, 'logs', `${name}.log`);
const adminKubeconfig = (stateDir: string) => join(stateDir, 'kubeconfig');

export function readState(stateDir = DEFAULT_STATE_DIR): StackState | undefined {
  const file = stateFile(stateDir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackState;
}

function writeAtomically(path: string, content: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

function writeState(state: StackState): void {
  writeAtomically(stateFile(state.stateDir), JSON.stringify(state, null, 2) + '\n');
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** stack.env: shell syntax, so `source .autocrane/stack.env` works, and the same names the service reads. */
function writeEnvFile(state: StackState): void {
  const vars: Record<string, string | undefined> = {
    AUTOCRANE_STATE_DIR: state.stateDir,
    KUBECONFIG: state.kubeconfig,
    AUTOCRANE_KUBE_APISERVER: state.apiserverUrl,
    TEMPORAL_ADDRESS: state.temporalAddress,
    TEMPORAL_NAMESPACE: state.temporalNamespace,
    AUTOCRANE_TEMPORAL_UI_URL: state.temporalUiUrl,
    AUTOCRANE_API_URL: state.apiUrl,
    AUTOCRANE_API_TOKEN: state.apiToken,
    AUTOCRANE_WORKER_METRICS_URL: state.workerMetricsUrl,
  };
  const lines = Object.entries(vars)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `export ${key}=${shellQuote(value)}`);
  writeAtomically(envFile(state.stateDir), `# Written by the AutoCrane local stack; sourced by scripts and tools.\n${lines.join('\n')}\n`);
}

/** A bearer token for the embedded API, made at first start and kept in the state folder. */
function ensureApiToken(stateDir: string): string {
  const file = join(stateDir, 'api-token');
  if (!existsSync(file)) writeAtomically(file, randomBytes(24).toString('hex') + '\n');
  return readFileSync(file, 'utf8').trim();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function commandFor(name: ComponentName, ctx: Context): { command: string[]; env?: NodeJS.ProcessEnv } {
  const { ports, tools, stateDir } = ctx;
  const pki = ctx.pki!;
  switch (name) {
    case 'etcd':
      return {
        command: [
          tools.etcd,
          '--name=autocrane',
          `--data-dir=${join(stateDir, 'etcd')}`,
          `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
          `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
          `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
          `--initial-cluster=autocrane=http://127.0.0.1:${ports.etcdPeer}`,
          '--log-level=warn',
        ],
      };
    case 'kube-apiserver':
      return {
        command: [
          tools.kubeApiserver,
          `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${ports.apiserver}`,
          `--tls-cert-file=${pki.apiserverCert}`,
          `--tls-private-key-file=${pki.apiserverKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--token-auth-file=${pki.tokenFile}`,
          '--authorization-mode=RBAC',
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--allow-privileged=true',
          // The built-in `kubernetes` Endpoints would point at 127.0.0.1, which Endpoints
          // validation refuses; nothing in the sandbox reaches the apiserver through it.
          '--endpoint-reconciler-type=none',
          '--profiling=false',
        ],
      };
    case 'kube-controller-manager':
      return {
        command: [
          tools.kubeControllerManager,
          `--kubeconfig=${componentKubeconfig(ctx, 'kube-controller-manager')}`,
          `--authentication-kubeconfig=${componentKubeconfig(ctx, 'kube-controller-manager')}`,
          `--authorization-kubeconfig=${componentKubeconfig(ctx, 'kube-controller-manager')}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.controllerManager}`,
          `--cert-dir=${join(pki.dir, 'kube-controller-manager')}`,
          '--leader-elect=false',
          // All default controllers: disruption (PDB status, which the Eviction API
          // enforces), replicaset, deployment, statefulset, garbage collector, service
          // accounts and their tokens, namespaces, node lifecycle, endpoint slices…
          '--controllers=*',
          `--service-account-private-key-file=${pki.serviceAccountKey}`,
          `--root-ca-file=${pki.caCert}`,
          // The default 20 requests/s makes a 10,000-replica scale-up take ten minutes.
          '--kube-api-qps=500',
          '--kube-api-burst=1000',
          // kwok's node heartbeats (its lease, below) lag when 2 cores carry thousands of pods;
          // at the default 50 s the nodes go NotReady, every pod is marked NotReady and kwok
          // never restores it.
          '--node-monitor-grace-period=5m',
          '--profiling=false',
        ],
      };
    case 'kube-scheduler':
      return {
        command: [
          tools.kubeScheduler,
          `--kubeconfig=${componentKubeconfig(ctx, 'kube-scheduler')}`,
          `--authentication-kubeconfig=${componentKubeconfig(ctx, 'kube-scheduler')}`,
          `--authorization-kubeconfig=${componentKubeconfig(ctx, 'kube-scheduler')}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.scheduler}`,
          `--cert-dir=${join(pki.dir, 'kube-scheduler')}`,
          '--leader-elect=false',
          '--kube-api-qps=500',
          '--kube-api-burst=1000',
          '--profiling=false',
        ],
      };
    case 'kwok':
      return {
        command: [
          tools.kwok,
          `--kubeconfig=${componentKubeconfig(ctx, 'kwok')}`,
          `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
          `--cidr=${POD_CIDR}`,
          '--node-ip=127.0.0.1',
          // Without a lease kwok posts a node's status only when it changes, never as a
          // heartbeat: the node lifecycle controller then marks every node NotReady once
          // the grace period has passed since it registered, and every pod Ready=False,
          // which kwok never restores (an idle stack's pods were all unready after ~6 min).
          // With a lease kwok renews it and refreshes the node's status every ~20 s.
          '--node-lease-duration-seconds=40',
          `--server-address=127.0.0.1:${ports.kwok}`,
        ],
        // kwok reads ~/.kwok/kwok.yaml when present; keep a user's own file out of the sandbox.
        env: { ...process.env, HOME: stateDir },
      };
    case 'temporal':
      return {
        command: [
          tools.temporal,
          'server',
          'start-dev',
          `--db-filename=${join(stateDir, 'temporal.db')}`,
          '--ip=127.0.0.1',
          `--port=${ports.temporal}`,
          `--http-port=${ports.temporalHttp}`,
          `--metrics-port=${ports.temporalMetrics}`,
          `--ui-port=${ports.temporalUi}`,
          ...(ctx.options.ui ? [] : ['--headless']),
          ...Object.values(SEARCH_ATTRIBUTES).map((sa) => `--search-attribute=${sa.name}=${sa.type}`),
          // An activity scheduled by a workflow task goes back to the worker in the answer to
          // that task, when it has a free slot, instead of a trip through the task queue
          // (off by default in the server; the SDK asks for it). A rollout stage saves ~12 ms
          // per activity (bench/RESULTS.md, rollout).
          '--dynamic-config-value=system.enableActivityEagerExecution=true',
          '--log-level=warn',
        ],
      };
    case 'worker':
    case 'api':
      return {
        command: [process.execPath, join(REPO_ROOT, 'dist', name === 'worker' ? 'workers' : 'api', 'main.js')],
        env: serviceEnv(ctx),
      };
  }
}

function componentKubeconfig(ctx: Context, user: 'kube-controller-manager' | 'kube-scheduler' | 'kwok'): string {
  return join(ctx.pki!.dir, `${user}.kubeconfig`);
}

function serviceEnv(ctx: Context): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KUBECONFIG: adminKubeconfig(ctx.stateDir),
    TEMPORAL_ADDRESS: `127.0.0.1:${ctx.ports.temporal}`,
    TEMPORAL_NAMESPACE: DEFAULTS.temporalNamespace,
    AUTOCRANE_API_HOST: '127.0.0.1',
    AUTOCRANE_API_PORT: String(ctx.ports.api),
    AUTOCRANE_WORKER_METRICS_PORT: String(ctx.ports.workerMetrics),
    AUTOCRANE_API_TOKEN: ctx.apiToken,
    AUTOCRANE_LOG_FORMAT: 'json',
    // The demo and the sandbox's own workloads live in `default`.
    AUTOCRANE_WATCH_NAMESPACES: process.env.AUTOCRANE_WATCH_NAMESPACES ?? 'default',
    // The schedule's minimum, so the demo's failing version is probed within seconds of failing.
    AUTOCRANE_PROBE_INTERVAL_SECONDS: process.env.AUTOCRANE_PROBE_INTERVAL_SECONDS ?? '5',
    ...(ctx.options.ui ? { AUTOCRANE_TEMPORAL_UI_URL: `http://127.0.0.1:${ctx.ports.temporalUi}` } : {}),
  };
}

async function checkReady(name: ComponentName, ctx: Context): Promise<void> {
  const { ports } = ctx;
  switch (name) {
    case 'etcd': {
      const body = await expectOk(`http://127.0.0.1:${ports.etcdClient}/health`);
      if (!body.includes('"true"')) throw new Error(`etcd /health: ${body}`);
      return;
    }
    case 'kube-apiserver':
      await expectOk(`https://127.0.0.1:${ports.apiserver}/readyz`, {
        ca: readFileSync(ctx.pki!.caCert),
        token: ctx.pki!.tokens.admin,
      });
      return;
    case 'kube-controller-manager':
      await expectOk(`https://127.0.0.1:${ports.controllerManager}/healthz`);
      return;
    case 'kube-scheduler':
      await expectOk(`https://127.0.0.1:${ports.scheduler}/healthz`);
      return;
    case 'kwok':
      await expectOk(`http://127.0.0.1:${ports.kwok}/healthz`);
      return;
    case 'temporal': {
      const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}`, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: DEFAULTS.temporalNamespace });
        await ensureSearchAttributes(connection);
      } finally {
        await connection.close();
      }
      if (ctx.options.ui) await expectOk(`http://127.0.0.1:${ports.temporalUi}/`);
      return;
    }
    case 'worker':
      await expectWorkerPolling(ctx);
      return;
    case 'api':
      await expectOk(`http://127.0.0.1:${ports.api}/readyz`);
      return;
  }
}

/** Temporal's IndexedValueType numbers (temporal.api.enums.v1) for the types AutoCrane uses. */
const INDEXED_VALUE_TYPES: Record<string, number> = { Keyword: 2, Int: 3 };

/**
 * The dev server's --search-attribute flags do not reach a database made before an attribute
 * was added (an older state folder): register whatever is missing, so workflows that set it start.
 */
async function ensureSearchAttributes(connection: Connection): Promise<void> {
  const namespace = DEFAULTS.temporalNamespace;
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.values(SEARCH_ATTRIBUTES).filter((sa) => !(customAttributes && sa.name in customAttributes));
  if (missing.length === 0) return;
  const searchAttributes = Object.fromEntries(missing.map((sa) => [sa.name, INDEXED_VALUE_TYPES[sa.type]!]));
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
}

async function expectWorkerPolling(ctx: Context): Promise<void> {
  const connection = await Connection.connect({ address: `127.0.0.1:${ctx.ports.temporal}`, connectTimeout: 1000 });
  try {
    const response = await connection.workflowService.describeTaskQueue({
      namespace: DEFAULTS.temporalNamespace,
      taskQueue: { name: process.env.AUTOCRANE_TASK_QUEUE ?? DEFAULTS.taskQueue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    if ((response.pollers ?? []).length === 0) throw new Error('no worker is polling the task queue yet');
  } finally {
    await connection.close();
  }
}

async function startComponent(name: ComponentName, ctx: Context, state: StackState, timeoutMs: number, log: (l: string) => void) {
  const { command, env } = commandFor(name, ctx);
  const proc = startProcess(name, command, logFile(ctx.stateDir, name), env);
  state.processes[name] = proc;
  writeState(state);
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    if (!isRunning(proc)) {
      throw new Error(`${name} exited during start-up. Last lines of ${proc.log}:\n${tailLog(proc.log)}`);
    }
    try {
      await checkReady(name, ctx);
      log(`${name} ready (pid ${proc.pid}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `${name} not ready after ${timeoutMs / 1000} s: ${String((lastError as Error)?.message ?? lastError)}\n` +
          `Last lines of ${proc.log}:\n${tailLog(proc.log)}`,
      );
    }
    await sleep(250);
  }
}

function makeKubeClient(kubeconfigPath: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc.makeApiClient(CoreV1Api);
}

function sandboxNode(zone: string): V1Node {
  const name = `sandbox-${zone}`;
  const resources = { cpu: '64', memory: '256Gi', pods: '10000' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': 'kwok',
        [ZONE_LABEL]: zone,
        type: 'kwok',
      },
    },
    status: { allocatable: resources, capacity: resources },
  };
}

/** Creates the fake nodes (idempotently) and waits for kwok to make them Ready, and for the default service account. */
async function prepareCluster(kubeconfigPath: string, timeoutMs: number, log: (l: string) => void): Promise<void> {
  const core = makeKubeClient(kubeconfigPath);
  for (const zone of SANDBOX_ZONES) {
    try {
      await core.createNode({ body: sandboxNode(zone) });
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = await core.listNode();
    const ready = nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    let serviceAccount = false;
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      serviceAccount = true;
    } catch {
      /* the serviceaccount controller has not made it yet */
    }
    if (ready.length >= SANDBOX_ZONES.length && serviceAccount) {
      log(`cluster ready: ${ready.length} nodes in zones ${SANDBOX_ZONES.join(', ')}`);
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `cluster not ready: ${ready.length}/${SANDBOX_ZONES.length} nodes Ready, default service account ${serviceAccount ? 'present' : 'missing'}`,
      );
    }
    await sleep(250);
  }
}

/** Starts every component that is not already running; returns the stack's addresses. */
export async function up(options: UpOptions = {}): Promise<StackState> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? ((line: string) => process.stderr.write(`[stack] ${line}\n`));
  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  const previous = readState(stateDir);
  const wanted = {
    kubernetes: options.kubernetes ?? true,
    ui: options.ui ?? false,
    service: options.service ?? false,
  };
  if (previous && Object.values(previous.processes).some((p) => p && isRunning(p))) {
    throw new Error(`a stack is already running from ${stateDir}; stop it first (stack down)`);
  }
  if (wanted.service && !wanted.kubernetes) throw new Error('the worker and API need the Kubernetes sandbox too');
  if (wanted.service) {
    for (const entry of ['workers/main.js', 'api/main.js']) {
      if (!existsSync(join(REPO_ROOT, 'dist', entry))) throw new Error(`dist/${entry} is missing: run \`npm run build\` first`);
    }
  }

  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const tools = await ensureTools(log);
  const ports = await choosePorts(PORT_NAMES, previous?.ports ?? {});
  const ctx: Context = { stateDir, ports, tools, options: wanted, apiToken: ensureApiToken(stateDir) };
  const state: StackState = {
    stateDir,
    ports,
    options: wanted,
    processes: {},
    temporalAddress: `127.0.0.1:${ports.temporal}`,
    temporalNamespace: DEFAULTS.temporalNamespace,
    ...(wanted.ui ? { temporalUiUrl: `http://127.0.0.1:${ports.temporalUi}` } : {}),
  };

  const order: ComponentName[][] = [['temporal']];
  if (wanted.kubernetes) {
    ctx.pki = ensurePki(stateDir);
    state.apiserverUrl = `https://127.0.0.1:${ports.apiserver}`;
    state.kubeconfig = adminKubeconfig(stateDir);
    writeAtomically(state.kubeconfig, kubeconfigYaml(state.apiserverUrl, ctx.pki.caCert, 'admin', ctx.pki.tokens.admin));
    for (const user of ['kube-controller-manager', 'kube-scheduler', 'kwok'] as const) {
      writeAtomically(componentKubeconfig(ctx, user), kubeconfigYaml(state.apiserverUrl, ctx.pki.caCert, user, ctx.pki.tokens[user]));
    }
    order.unshift(['etcd'], ['kube-apiserver']);
    order[order.length - 1]!.push('kube-controller-manager', 'kube-scheduler', 'kwok');
  }
  writeState(state);

  try {
    for (const group of order) {
      await Promise.all(group.map((name) => startComponent(name, ctx, state, timeoutMs, log)));
    }
    if (wanted.kubernetes) await prepareCluster(state.kubeconfig!, timeoutMs, log);
    if (wanted.service) {
      state.apiUrl = `http://127.0.0.1:${ports.api}`;
      state.apiToken = ctx.apiToken;
      state.workerMetricsUrl = `http://127.0.0.1:${ports.workerMetrics}/metrics`;
      await Promise.all((['worker', 'api'] as const).map((name) => startComponent(name, ctx, state, timeoutMs, log)));
    }
  } catch (error) {
    // Leave nothing half-started behind.
    await down({ stateDir, log });
    throw error;
  }
  writeState(state);
  writeEnvFile(state);
  return state;
}

/** Stops the processes the stack started (by recorded pid), newest first. Data stays for the next start. */
export async function down(options: { stateDir?: string; log?: (line: string) => void } = {}): Promise<void> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? ((line: string) => process.stderr.write(`[stack] ${line}\n`));
  const state = readState(stateDir);
  if (!state) return;
  for (const name of [...COMPONENTS].reverse()) {
    const proc = state.processes[name];
    if (!proc) continue;
    const result = await stopProcess(proc);
    if (result !== 'not-running') log(`${name} ${result} (pid ${proc.pid})`);
    delete state.processes[name];
    writeState(state);
  }
}

/** Stops one component and starts it again on the same ports and data (used to prove durability). */
export async function stopComponent(name: ComponentName, stateDir = DEFAULT_STATE_DIR): Promise<void> {
  const state = readState(resolve(stateDir));
  const proc = state?.processes[name];
  if (!state || !proc) throw new Error(`${name} is not part of the stack in ${stateDir}`);
  await stopProcess(proc);
}

export async function startStoppedComponent(
  name: ComponentName,
  options: { stateDir?: string; log?: (l: string) => void; readyTimeoutMs?: number } = {},
): Promise<void> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const state = readState(stateDir);
  if (!state) throw new Error(`no stack in ${stateDir}`);
  const proc = state.processes[name];
  if (proc && isRunning(proc)) throw new Error(`${name} is still running (pid ${proc.pid})`);
  const ctx: Context = {
    stateDir,
    ports: state.ports,
    tools: await ensureTools(() => undefined),
    options: state.options,
    apiToken: ensureApiToken(stateDir),
    ...(state.options.kubernetes ? { pki: ensurePki(stateDir) } : {}),
  };
  await startComponent(name, ctx, state, options.readyTimeoutMs ?? 90_000, options.log ?? (() => undefined));
}

export interface ComponentStatus {
  name: ComponentName;
  pid: number;
  running: boolean;
  log: string;
  /** The tail of the log of a component that is no longer running. */
  logTail?: string;
}

export function status(stateDir = DEFAULT_STATE_DIR): ComponentStatus[] {
  const state = readState(resolve(stateDir));
  if (!state) return [];
  return COMPONENTS.flatMap((name) => {
    const proc = state.processes[name];
    if (!proc) return [];
    const running = isRunning(proc);
    return [{ name, pid: proc.pid, running, log: proc.log, ...(running ? {} : { logTail: tailLog(proc.log) }) }];
  });
}

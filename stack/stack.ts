import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreV1Api, KubeConfig, V1Node } from '@kubernetes/client-node';
import { DEFAULTS, ZONE_LABEL } from '../domain/shared/keys';
import { ensurePki, kubeconfigYaml } from './pki';
import { choosePorts } from './ports';
import { isRunning, startProcess, stopProcess, tailLog } from './processes';
import { checkReady, commandFor, componentKubeconfig, KWOK_NODE_ANNOTATION } from './stack-components';
import {
  adminKubeconfig,
  COMPONENTS,
  type ComponentName,
  type Context,
  DEFAULT_STATE_DIR,
  ensureApiToken,
  logFile,
  PORT_NAMES,
  readState,
  REPO_ROOT,
  type StackState,
  type UpOptions,
  writeAtomically,
  writeEnvFile,
  writeState,
} from './stack-state';
import { ensureTools } from './tools';

/**
 * The local stack: a real Temporal dev server and a real Kubernetes control plane
 * (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with kwok fake
 * nodes, all on 127.0.0.1, plus optionally AutoCrane's own worker and API.
 *
 * Everything lives in one state folder: data (etcd, the Temporal SQLite file), keys,
 * logs, and stack.json, which records the pids and ports so `down` stops exactly the
 * processes `up` started, and stack.env, which tells scripts and tools where things are.
 */

/** The sandbox's fake nodes: one per zone, so zone-aware logic has something to spread over. */
export const SANDBOX_ZONES = ['a', 'b', 'c'] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

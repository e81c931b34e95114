import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ClusterPki } from './pki';
import type { ManagedProcess } from './processes';
import type { ToolPaths } from './tools';

/**
 * The local stack's state folder and what it holds: stack.json, which records the pids and
 * ports so `down` stops exactly the processes `up` started, stack.env for scripts and tools,
 * the API token and the logs; and the names of the stack's components and ports.
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

export const PORT_NAMES = [
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
export type PortName = (typeof PORT_NAMES)[number];

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

export interface Context {
  stateDir: string;
  ports: Record<PortName, number>;
  tools: ToolPaths;
  pki?: ClusterPki;
  options: StackState['options'];
  apiToken: string;
}

const stateFile = (stateDir: string) => join(stateDir, 'stack.json');
export const envFile = (stateDir: string) => join(stateDir, 'stack.env');
export const logFile = (stateDir: string, name: ComponentName) => join(stateDir, 'logs', `${name}.log`);
export const adminKubeconfig = (stateDir: string) => join(stateDir, 'kubeconfig');

export function readState(stateDir = DEFAULT_STATE_DIR): StackState | undefined {
  const file = stateFile(stateDir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackState;
}

export function writeAtomically(path: string, content: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

export function writeState(state: StackState): void {
  writeAtomically(stateFile(state.stateDir), JSON.stringify(state, null, 2) + '\n');
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** stack.env: shell syntax, so `source .autocrane/stack.env` works, and the same names the service reads. */
export function writeEnvFile(state: StackState): void {
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
export function ensureApiToken(stateDir: string): string {
  const file = join(stateDir, 'api-token');
  if (!existsSync(file)) writeAtomically(file, randomBytes(24).toString('hex') + '\n');
  return readFileSync(file, 'utf8').trim();
}

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/** Paths of the Go-built binaries the stack runs, resolved from stack/versions.sh. */
export interface ToolPaths {
  temporal: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
}

export interface ToolVersions {
  TEMPORAL_CLI_VERSION: string;
  ETCD_VERSION: string;
  KUBERNETES_VERSION: string;
  KWOK_VERSION: string;
}

/** stack/ holds versions.sh and build-tools.sh, whether this runs from sources or from dist/stack/. */
export const STACK_SOURCE_DIR = locateStackSourceDir();

function locateStackSourceDir(): string {
  for (const candidate of [__dirname, resolve(__dirname, '..', '..', 'stack')]) {
    if (existsSync(join(candidate, 'versions.sh'))) return candidate;
  }
  throw new Error(`stack: cannot find stack/versions.sh near ${__dirname}`);
}

export function cacheDir(): string {
  return process.env.AUTOCRANE_CACHE ?? join(homedir(), '.cache', 'autocrane');
}

/** versions.sh is shell so build-tools.sh can source it; it holds only KEY=VALUE lines. */
export function readToolVersions(): ToolVersions {
  const text = readFileSync(join(STACK_SOURCE_DIR, 'versions.sh'), 'utf8');
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (match) values[match[1]!] = match[2]!;
  }
  const keys: (keyof ToolVersions)[] = ['TEMPORAL_CLI_VERSION', 'ETCD_VERSION', 'KUBERNETES_VERSION', 'KWOK_VERSION'];
  for (const key of keys) {
    if (!values[key]) throw new Error(`stack: ${key} is missing from stack/versions.sh`);
  }
  return values as unknown as ToolVersions;
}

export function toolPaths(versions: ToolVersions = readToolVersions()): ToolPaths {
  const tools = join(cacheDir(), 'tools');
  const k8s = join(tools, `kubernetes-${versions.KUBERNETES_VERSION}`, 'bin');
  return {
    temporal: join(tools, `temporal-${versions.TEMPORAL_CLI_VERSION}`, 'bin', 'temporal'),
    etcd: join(tools, `etcd-${versions.ETCD_VERSION}`, 'bin', 'etcd'),
    kubeApiserver: join(k8s, 'kube-apiserver'),
    kubeControllerManager: join(k8s, 'kube-controller-manager'),
    kubeScheduler: join(k8s, 'kube-scheduler'),
    kwok: join(tools, `kwok-${versions.KWOK_VERSION}`, 'bin', 'kwok'),
  };
}

export function missingTools(paths: ToolPaths = toolPaths()): string[] {
  return Object.values(paths).filter((p) => !existsSync(p));
}

/** Builds whatever is missing (minutes on a cold machine, nothing when cached). */
export async function ensureTools(log: (line: string) => void): Promise<ToolPaths> {
  const paths = toolPaths();
  const missing = missingTools(paths);
  if (missing.length === 0) return paths;
  log(`building missing tools (cached afterwards under ${cacheDir()}): ${missing.join(', ')}`);
  const child = promisify(execFile)('bash', [join(STACK_SOURCE_DIR, 'build-tools.sh')], {
    maxBuffer: 64 * 1024 * 1024,
  });
  child.child.stderr?.on('data', (chunk: Buffer) => log(chunk.toString().trimEnd()));
  await child;
  const stillMissing = missingTools(paths);
  if (stillMissing.length > 0) throw new Error(`stack: build-tools.sh finished but these are missing: ${stillMissing.join(', ')}`);
  return paths;
}

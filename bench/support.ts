/** Small helpers the benchmarks share. */
import { readFile } from 'node:fs/promises';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createTestWorkloadServer } from '../cli/test-workload';
import { up } from '../stack/stack';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A memory field of /proc/<pid>/status in MiB: VmHWM is the peak resident set, VmRSS the current one. */
export async function procMemoryMb(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`/proc/${pid}/status has no ${field} line`);
  return Math.round(kb / 1024);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Creates the namespace (an existing one is fine) and waits for its default service account, which pods need. */
export async function ensureNamespace(core: CoreV1Api, namespace: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
  for (let i = 0; ; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      return;
    } catch (err) {
      if (i > 100) throw new Error(`namespace ${namespace} has no default service account after 20 s`, { cause: err });
      await sleep(200);
    }
  }
}

/**
 * A private stack under `stateDir` with the test workload answering probes on 0.0.0.0 (kwok's
 * pod IPs are 127.1.x.y, so `POD_IP:<port>/...` reaches it), and clients for both.
 */
export async function startBenchStack(stateDir: string) {
  const stack = await up({ stateDir, log: (l) => process.stderr.write(`[stack] ${l}\n`) });
  const workload = createTestWorkloadServer({ logger: pino({ level: 'silent' }) }).listen(0, '0.0.0.0');
  await new Promise((r) => workload.once('listening', r));
  const port = (workload.address() as AddressInfo).port;
  const kc = new KubeConfig();
  kc.loadFromFile(stack.kubeconfig!);
  const connection = await Connection.connect({ address: stack.temporalAddress });
  return {
    stack,
    workload,
    port,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    connection,
    client: new Client({ connection }),
  };
}

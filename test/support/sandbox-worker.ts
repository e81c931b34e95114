/**
 * An in-process worker with AutoCrane's real activities on the integration tier's stack, and
 * fresh namespaces that are deleted afterwards: what every sandbox workflow test starts from.
 */
import type { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createWorker } from '../../workers/worker-factory';
import { freshNamespace, type KubeClients, sandboxClients } from './kube';
import { tierStack } from './stacks';
import { temporalClients, type TemporalClients, uniqueTaskQueue } from './temporal';

export interface SandboxWorker {
  k: KubeClients;
  temporal: TemporalClients;
  taskQueue: string;
  /** A fresh namespace, deleted by close(). */
  namespace(prefix: string): Promise<string>;
  close(): Promise<void>;
}

export async function startSandboxWorker(prefix: string): Promise<SandboxWorker> {
  const k = sandboxClients();
  const stack = tierStack('integration');
  const temporal = await temporalClients(stack);
  const taskQueue = uniqueTaskQueue(prefix);
  const worker: Worker = await createWorker({
    connection: temporal.nativeConnection,
    namespace: stack.temporalNamespace,
    taskQueue,
    activities: createActivities({ kubeConfig: k.kc, watchdogs: { probeTimeoutSeconds: 5, probeConcurrency: 4 } }),
  });
  const running = worker.run();
  const namespaces: string[] = [];
  return {
    k,
    temporal,
    taskQueue,
    async namespace(namePrefix) {
      const name = await freshNamespace(k.core, namePrefix);
      namespaces.push(name);
      return name;
    },
    async close() {
      worker.shutdown();
      await running;
      await temporal.close();
      for (const name of namespaces) await k.core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

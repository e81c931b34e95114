import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';
import {
  dataRequestKey,
  dataStatusKey,
  formatDataRequest,
  parseDataStatus,
  type DataRequest,
  type DataStatus,
} from '../../domain/data/data-contract';
import { DATA_LOCATION_ANNOTATION, DATA_SOURCES_ANNOTATION } from '../../domain/shared/keys';
import { REPO_ROOT } from '../../stack/stack-state';
import { DATA_DEPLOYER_NODE_FLAGS } from '../../cli/data-deployer';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Starts the real `autocrane data-deployer` (from dist/) for one pod, as a local process:
 * kwok pods run no containers, so each fake pod's deployer runs here with its own drop folder.
 */
export function spawnDataDeployer(options: {
  namespace: string;
  pod: string;
  kubeconfig: string;
  logFile: string;
  args?: string[];
}): ChildProcess {
  const main = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: data-deployer tests need \`npm run build\` (make test does it)`);
  const log = openSync(options.logFile, 'a');
  // Started as it is deployed: with the node flags of its memory budget.
  return spawn(process.execPath, [...DATA_DEPLOYER_NODE_FLAGS, main, 'data-deployer', ...(options.args ?? [])], {
    env: {
      ...process.env,
      KUBECONFIG: options.kubeconfig,
      POD_NAME: options.pod,
      POD_NAMESPACE: options.namespace,
      AUTOCRANE_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', log, log],
  });
}

/** A kwok pod declaring `location` as its drop folder and consuming `sources`. */
export async function createDataPod(core: CoreV1Api, namespace: string, name: string, location: string, sources: string[]): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, annotations: { [DATA_LOCATION_ANNOTATION]: location, [DATA_SOURCES_ANNOTATION]: sources.join(',') } },
      spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
    },
  });
}

/** Writes the pod's request for `source`, as the orchestrator does. */
export async function requestData(core: CoreV1Api, namespace: string, pod: string, source: string, request: DataRequest): Promise<void> {
  await core.patchNamespacedPod(
    { namespace, name: pod, body: { metadata: { annotations: { [dataRequestKey(source)]: formatDataRequest(request) } } } },
    mergePatch,
  );
}

/** The pod's status annotation for `source`, parsed; undefined when absent. */
export async function dataStatus(core: CoreV1Api, namespace: string, pod: string, source: string): Promise<DataStatus | undefined> {
  const text = (await core.readNamespacedPod({ namespace, name: pod })).metadata?.annotations?.[dataStatusKey(source)];
  if (text === undefined) return undefined;
  const parsed = parseDataStatus(text);
  if (!parsed.ok) throw new Error(`${dataStatusKey(source)} of ${pod}: ${parsed.problem}`);
  return parsed.value;
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { DEFAULTS, SEARCH_ATTRIBUTES } from '../domain/shared/keys';
import { expectOk } from './http-check';
import { adminKubeconfig, type ComponentName, type Context, REPO_ROOT } from './stack-state';

/**
 * What each component of the local stack runs (its command line and environment) and how
 * the stack tells that it is ready. The lifecycle that starts and stops them is stack.ts.
 */

/** Pod IPs come from loopback so a local process listening on all addresses answers at any pod IP. */
export const POD_CIDR = '127.1.0.1/16';
const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export function commandFor(name: ComponentName, ctx: Context): { command: string[]; env?: NodeJS.ProcessEnv } {
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

export function componentKubeconfig(ctx: Context, user: 'kube-controller-manager' | 'kube-scheduler' | 'kwok'): string {
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

export async function checkReady(name: ComponentName, ctx: Context): Promise<void> {
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

/**
 * The demo `make run` ends with: a sample app whose probes the test workload answers, a 3-stage
 * rollout started through the REST API, the new version failing its watchdog in stage 2, and
 * the automatic rollback, each decision printed as the API reports it, under a line that gives
 * the rollout's Temporal UI link (the run's own page: namespace, workflow ID and run ID).
 *
 * The failure takes the real path: the demo tells the test workload to fail the new
 * version's probe path, AutoCrane's scheduled prober finds the 500 and writes the pods' error
 * watchdog, and the rollout's gate, watching the updated pods, rolls back.
 *
 * Re-runnable: the sample app is applied back to version 1 (server-side apply), a rollout
 * left running on it by an interrupted demo is aborted first, and the test workload's
 * injected failure is cleared.
 */
import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { RolloutStartedBody, RolloutStatusBody } from '../api/rollout/rollouts';
import { ApiCallError, callApi, type ApiTarget } from '../cli/api-client';
import { PROBE_ANNOTATION_PREFIX, ROLLOUT_ANNOTATION } from '../domain/shared/keys';
import type { RolloutSpecInput } from '../domain/rollout/rollout-spec';
import { kubernetesErrorStatus } from '../platform/kubernetes';
import { isTerminal } from '../domain/gate/stage-controls';
import type { RolloutDecision } from '../contracts/rollout-messages';

export const DEMO_APP = 'demo-app';
const FIELD_MANAGER = 'autocrane-demo';
const image = (version: number) => `example.invalid/${DEMO_APP}:${version}`;
/** Each version's probe path on the test workload: failing one fails exactly that version's pods. */
export const probeTarget = (version: number) => `${DEMO_APP}-v${version}`;

export interface DemoOptions {
  api: ApiTarget;
  kubeConfig: KubeConfig;
  namespace: string;
  replicas: number;
  /** The test workload answering the probes: its port (in the probe declarations) and control URL. */
  workload: { port: number; url: string };
  /** Bake of stages 1 and 3; stage 2 bakes long enough for the prober to see the failure. */
  bakeSeconds: number;
  failingStageBakeSeconds: number;
  print: (line: string) => void;
  pollMs?: number;
}

export interface DemoResult {
  status: RolloutStatusBody;
  /** Milliseconds from the failure being injected to the rollbackStarted decision. */
  reactionMs: number | null;
}

/** How long the status may stay unreadable before the demo gives up. */
const MAX_SILENCE_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clock = (iso: string) => iso.slice(11, 19);

/** The sample app's pod template at `version` (also the rollout's whole-template change). */
function template(version: number, port: number) {
  return {
    metadata: {
      labels: { app: DEMO_APP },
      annotations: { [`${PROBE_ANNOTATION_PREFIX}http`]: `POD_IP:${port}/watchdog/${probeTarget(version)}` },
    },
    spec: {
      containers: [{ name: 'app', image: image(version), env: [{ name: 'VERSION', value: String(version) }] }],
      terminationGracePeriodSeconds: 0,
    },
  };
}

async function postWorkload(url: string, route: string): Promise<void> {
  const response = await fetch(`${url}${route}`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`test workload POST ${route}: HTTP ${response.status} ${await response.text()}`);
}

/** Aborts a rollout an interrupted demo left running on the sample app, and waits for it to end. */
async function abortLeftover(o: DemoOptions, rolloutId: string): Promise<void> {
  o.print(`   A rollout (${rolloutId}) from an earlier demo is still running on ${DEMO_APP}: aborting it first.`);
  try {
    await callApi(o.api, 'POST', `/v1/rollouts/${rolloutId}/abort`, { reason: 'the demo was started again' });
  } catch (err) {
    // Ended meanwhile (409) or unknown to the API (404): nothing to wait for.
    if (!(err instanceof ApiCallError) || (err.status !== 409 && err.status !== 404)) throw err;
  }
  for (;;) {
    const status = await callApi<RolloutStatusBody>(o.api, 'GET', `/v1/rollouts/${rolloutId}`).catch((err: unknown) => {
      if (err instanceof ApiCallError && err.status === 404) return null;
      throw err;
    });
    if (status === null || isTerminal(status.state)) return;
    await sleep(500);
  }
}

/** Applies the sample app at version 1 and waits until every replica is ready on it. */
async function deploySampleApp(o: DemoOptions): Promise<void> {
  const apps = o.kubeConfig.makeApiClient(AppsV1Api);
  const existing = await apps.readNamespacedDeployment({ name: DEMO_APP, namespace: o.namespace }).catch((err: unknown) => {
    if (kubernetesErrorStatus(err) === 404) return null;
    throw err;
  });
  const leftover = existing?.metadata?.annotations?.[ROLLOUT_ANNOTATION];
  if (leftover) await abortLeftover(o, leftover);
  await postWorkload(o.workload.url, `/recover/${probeTarget(2)}`);
  await apps.patchNamespacedDeployment(
    {
      name: DEMO_APP,
      namespace: o.namespace,
      fieldManager: FIELD_MANAGER,
      force: true,
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: DEMO_APP, namespace: o.namespace, labels: { app: DEMO_APP } },
        spec: {
          replicas: o.replicas,
          selector: { matchLabels: { app: DEMO_APP } },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
          template: template(1, o.workload.port),
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const d = await apps.readNamespacedDeployment({ name: DEMO_APP, namespace: o.namespace });
    const s = d.status ?? {};
    const settled =
      (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
      s.replicas === o.replicas &&
      s.updatedReplicas === o.replicas &&
      s.readyReplicas === o.replicas;
    if (settled) return;
    if (Date.now() > deadline)
      throw new Error(`${o.namespace}/${DEMO_APP}: ${s.readyReplicas ?? 0}/${o.replicas} ready on version 1 after 120 s`);
    await sleep(300);
  }
}

/** The line that opens a block of decisions: which rollout they belong to, and its Temporal UI link. */
export const blockHeader = (rolloutId: string, link: string | undefined) =>
  link ? `   Rollout ${rolloutId} in the Temporal UI: ${link}` : `   Rollout ${rolloutId} (no Temporal UI in this stack)`;
const decisionLine = (d: RolloutDecision) => `   ${clock(d.at)}  ${d.kind.padEnd(16)} ${d.reason}${d.by ? ` (by ${d.by})` : ''}`;

/** Runs the demo once; resolves with the rollout's final status. */
export async function runRolloutDemo(o: DemoOptions): Promise<DemoResult> {
  const pollMs = o.pollMs ?? 250;
  const { print } = o;
  print(`1. Sample app: Deployment ${o.namespace}/${DEMO_APP}, ${o.replicas} replicas of ${image(1)}.`);
  print(
    `   Each pod declares ${PROBE_ANNOTATION_PREFIX}http: POD_IP:${o.workload.port}/watchdog/${probeTarget(1)}, answered by the test workload at ${o.workload.url}.`,
  );
  await deploySampleApp(o);
  print(`   ${o.replicas}/${o.replicas} pods ready on version 1.`);

  const spec: RolloutSpecInput = {
    target: { namespace: o.namespace, kind: 'Deployment', name: DEMO_APP },
    change: { template: template(2, o.workload.port) },
    stages: [
      { replicas: '10%', bakeSeconds: o.bakeSeconds },
      { replicas: '50%', bakeSeconds: o.failingStageBakeSeconds },
      { replicas: '100%', bakeSeconds: o.bakeSeconds },
    ],
  };
  print('');
  print(`2. Rolling out version 2 (${image(2)}, probed at /watchdog/${probeTarget(2)}) in 3 stages (10%, 50%, 100%)`);
  print(`   through the REST API: POST ${o.api.apiUrl.replace(/\/+$/, '')}/v1/rollouts`);
  const started = await callApi<RolloutStartedBody>(o.api, 'POST', '/v1/rollouts', spec);
  print(`   202 Accepted: rollout ${started.rolloutId}, workflow ${started.workflowId}`);
  print(`   Following GET ${started.statusUrl}: each decision as it happens (times UTC), under the rollout's Temporal UI link.`);

  // Each block of decision lines opens with the rollout's Temporal UI link: once per demo step
  // (2 and 3), and again if the link changes, so every decision shown sits under the link of
  // the run that made it without repeating a long URL on every line.
  let linkShown: string | undefined | null = null; // null: no header yet in this step; undefined: the no-UI header
  const printDecision = (d: RolloutDecision, link: string | undefined) => {
    if (linkShown !== link) {
      print(blockHeader(started.rolloutId, link));
      linkShown = link;
    }
    print(decisionLine(d));
  };

  let shown = 0;
  let lastState = '';
  let injectedAt: number | null = null;
  let status: RolloutStatusBody | null = null;
  let lastAnswer = Date.now();
  for (;;) {
    status = await callApi<RolloutStatusBody>(o.api, 'GET', started.statusUrl).catch((err: unknown) => {
      if (!(err instanceof ApiCallError)) throw err;
      // Visibility may not have indexed a rollout started a moment ago.
      if (err.status === 404 && shown === 0) return null;
      // A status query can time out while the worker is busy (the API answers 500 then): the
      // rollout goes on regardless, so poll again, for a while.
      if ((err.status === undefined || err.status >= 500) && Date.now() - lastAnswer < MAX_SILENCE_MS) {
        print(`   (GET ${started.statusUrl} failed: ${err.message}; polling again)`);
        return null;
      }
      throw err;
    });
    if (status !== null) {
      lastAnswer = Date.now();
      const link = status.temporalUiUrl ?? started.temporalUiUrl;
      for (const d of status.decisions.slice(shown)) printDecision(d, link);
      shown = status.decisions.length;
      if (status.state !== lastState) {
        lastState = status.state;
        print(
          `   ${''.padEnd(8)}  state ${status.state}${status.stage >= 0 ? `, stage ${status.stage + 1} of ${status.stages.length}` : ''}; pods updated ${status.pods.updated}, ready ${status.pods.ready}, erroring ${status.pods.erroring.length}`,
        );
      }
      if (injectedAt === null && status.state === 'Baking' && status.stage === 1) {
        print('');
        print(`3. Stage 2 is baking: version 2 starts failing its watchdog (POST ${o.workload.url}/fail/${probeTarget(2)}).`);
        print(`   The rollout's gate probes the version-2 pods itself about once a second: it gets HTTP 500 and fails the stage.`);
        await postWorkload(o.workload.url, `/fail/${probeTarget(2)}`);
        injectedAt = Date.now();
        linkShown = null; // step 3's decisions get their own header
      }
      if (isTerminal(status.state)) break;
    }
    await sleep(pollMs);
  }

  const rollback = status.decisions.find((d) => d.kind === 'rollbackStarted');
  const reactionMs = injectedAt !== null && rollback ? Date.parse(rollback.at) - injectedAt : null;
  print('');
  print(`4. The rollout ended ${status.state}.`);
  for (const stage of status.stages) {
    print(
      `   stage ${stage.index + 1} (${stage.replicas}, ${stage.count ?? '?'} pods): ${stage.result}${stage.reason ? ` — ${stage.reason}` : ''}`,
    );
  }
  if (reactionMs !== null)
    print(
      `   The rollback started ${(reactionMs / 1000).toFixed(1)} s after the failure was injected (the gate probes the stage's pods about once a second and reacts to a failure at once).`,
    );
  print(`   Temporal UI: ${status.temporalUiUrl ?? started.temporalUiUrl ?? '(no Temporal UI in this stack)'}`);
  print(`   Status:      autocrane rollout status ${status.rolloutId}   (or GET ${status.statusUrl})`);
  return { status, reactionMs };
}

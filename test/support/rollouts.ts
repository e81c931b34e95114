/** Rollout test helpers: workloads whose pods declare a probe, specs, and waiting on a rollout. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { V1Deployment, V1StatefulSet, V1StatefulSetUpdateStrategy } from '@kubernetes/client-node';
import { PROBE_ANNOTATION_PREFIX } from '../../domain/shared/keys';
import type { RolloutSpec, RolloutSpecInput } from '../../domain/rollout/rollout-spec';
import { parseRolloutSpec } from '../../domain/rollout/rollout-spec';
import { isTerminal } from '../../domain/gate/stage-controls';
import { rolloutStatusQuery, type RolloutStatus } from '../../contracts/rollout-messages';
import { REPO_ROOT } from '../../stack/stack-state';
import { eventually } from './kube';
import { probeAnswererPort } from './probe-answerer';

export const IMAGE_V1 = 'example.invalid/app:1';
export const IMAGE_V2 = 'example.invalid/app:2';

/**
 * A pod template whose pods declare a probe (so the gate has watchdog data), on kwok nodes,
 * answered by the tier's probe answerer at /watchdog/<probeKey> (POST /fail/<probeKey> fails them).
 */
export const probedTemplate = (app: string, probeKey = app) => ({
  metadata: { labels: { app }, annotations: { [`${PROBE_ANNOTATION_PREFIX}http`]: `POD_IP:${probeAnswererPort()}/watchdog/${probeKey}` } },
  spec: { containers: [{ name: 'app', image: IMAGE_V1 }], terminationGracePeriodSeconds: 0 },
});

export const probedDeployment = (
  name: string,
  replicas: number,
  rollingUpdate = { maxSurge: 1, maxUnavailable: 1 },
  probeKey = name,
): V1Deployment => ({
  metadata: { name },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: probedTemplate(name, probeKey),
    strategy: { type: 'RollingUpdate', rollingUpdate },
  },
});

export const probedStatefulSet = (name: string, replicas: number, updateStrategy?: V1StatefulSetUpdateStrategy): V1StatefulSet => ({
  metadata: { name },
  spec: {
    replicas,
    serviceName: name,
    podManagementPolicy: 'Parallel',
    selector: { matchLabels: { app: name } },
    template: probedTemplate(name),
    ...(updateStrategy ? { updateStrategy } : {}),
  },
});

export function rolloutSpec(input: Omit<RolloutSpecInput, 'change'> & { change?: RolloutSpecInput['change'] }): RolloutSpec {
  const parsed = parseRolloutSpec({ change: { images: { app: IMAGE_V2 } }, ...input });
  if (!parsed.ok) throw new Error(`bad test spec: ${JSON.stringify(parsed.problems)}`);
  return parsed.spec;
}

export const newRolloutId = () => randomBytes(6).toString('hex');

export async function rolloutState(handle: WorkflowHandle): Promise<RolloutStatus> {
  return handle.query(rolloutStatusQuery);
}

/** Waits until the rollout reaches a state (or a terminal one), and returns its status. */
export async function waitForState(
  handle: WorkflowHandle,
  wanted: (s: RolloutStatus) => boolean,
  timeoutMs = 120_000,
): Promise<RolloutStatus> {
  return eventually(async () => {
    const s = await rolloutState(handle);
    if (!wanted(s)) {
      if (isTerminal(s.state))
        throw Object.assign(new Error(`rollout ended ${s.state}: ${JSON.stringify(s.decisions.slice(-3))}`), { terminal: true });
      throw new Error(`state ${s.state}, stage ${s.stage}`);
    }
    return s;
  }, timeoutMs);
}

/**
 * Saves a finished workflow's history under test/fixtures/histories when RECORD_HISTORIES=1,
 * so the replay test (test/workflow/rollout-replay.test.ts) checks the workflow code against
 * real executions of each scenario.
 */
export async function recordHistory(handle: WorkflowHandle, scenario: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  // A rollout in its end state may still be tidying up: record the whole run, closed.
  await handle.result().catch(() => undefined);
  const history = await handle.fetchHistory();
  const dir = join(REPO_ROOT, 'test', 'fixtures', 'histories');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${scenario}.json`), JSON.stringify(history));
}

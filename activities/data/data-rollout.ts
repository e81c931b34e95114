/**
 * The data-rollout activities: thin adapters between the workflow and the pods of
 * a namespace. Each one lists the pods, asks domain/data/data-rollout.ts who should ask for which
 * version, writes the requests that differ (a merge patch of the one request key), and waits
 * inside the activity, polling every POLL_MS and heartbeating, so the workflow's history does
 * not grow with the waiting. Every poll re-reads the pods, so a retry after a worker crash
 * starts from what the cluster says, and pods that appear meanwhile get the LKG.
 */
import { hostname } from 'node:os';
import { EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import {
  acknowledgement,
  dataGatePolicy,
  dataMirrorName,
  parseDataStageShares,
  planDataRequests,
  refusedPodObservations,
  releaseRef,
  type DataRef,
  type DataRelease,
  judgeStageErrors,
} from '../../domain/data/data-rollout';
import { DEFAULTS, FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../domain/shared/keys';
import { evaluateGate, type GateResult, type SettleMemory } from '../../domain/gate/stage-gate';
import type { GateEvidence } from '../../domain/gate/stage-gate-evidence';
import { CONTENT_TYPES, kubeJson } from '../../platform/kube-json';
import { DataGateMemories, withHeartbeats, type DataGateHeartbeat } from './data-rollout-gate';
import { GateProber, MAX_LOOK_GAP_MS } from '../gate/gate-probe';
import { createHttpProber, type HttpProber } from '../watchdog/http-prober';
import { podWriteRefusals, type PodWriteRefusalMetrics } from '../shared/pod-write-refusals';
import { currentContext, guard, sleep } from '../shared/activity-context';
import { podObservation } from '../rollout/rollout-kube-json';
import { listDataPods, writeDataRequests, type DataPods } from './data-rollout-requests';
import type {
  AdvanceDataStageInput,
  DataGateResult,
  DataMirror,
  DataRolloutSettings,
  DataScope,
  DataStageOutcome,
  RevertDataInput,
  RevertDataResult,
  WatchDataGateInput,
} from '../../domain/data/data-rollout-types';

/** How often waits look at the pods: an acknowledgement or a watchdog error is seen within this plus one list. */
export const DATA_POLL_MS = 500;
/** Idle, the consumers are tended this long per activity, then the workflow looks around and starts another. */
export const DEFAULT_TEND_SECONDS = 600;
/** The ConfigMap mirror's calls give up before their activity's 15 s start-to-close timeout (workflows/data/data-rollout.ts). */
const MIRROR_TIMEOUT_MS = 10_000;

export interface DataRolloutActivityOptions {
  autoStart: boolean;
  /** Stage shares ("1", "25%"…) and the probation each gets. */
  stageShares: (number | string)[];
  probationSeconds: number;
  pollMs?: number;
  /** Deadline of one of the gate's own probes (the watchdog prober's); DEFAULTS.probeTimeoutSeconds when absent. */
  probeTimeoutSeconds?: number;
  refusalMetrics?: PodWriteRefusalMetrics;
}

/** The configuration's defaults, for tests and tools that build activities without a Config. */
export const DEFAULT_DATA_ROLLOUT_OPTIONS: DataRolloutActivityOptions = {
  autoStart: DEFAULTS.dataAutoStart,
  stageShares: (parseDataStageShares(DEFAULTS.dataStages) as { shares: (number | string)[] }).shares,
  probationSeconds: DEFAULTS.dataProbationSeconds,
};

function listLimited(names: readonly string[], limit = 5): string {
  return names.length > limit ? `${names.slice(0, limit).join(', ')} and ${names.length - limit} more` : names.join(', ');
}

export function createDataRolloutActivities(kc: KubeConfig, options: DataRolloutActivityOptions = DEFAULT_DATA_ROLLOUT_OPTIONS) {
  const pollMs = options.pollMs ?? DATA_POLL_MS;
  const probeTimeoutMs = (options.probeTimeoutSeconds ?? DEFAULTS.probeTimeoutSeconds) * 1000;
  let httpProber: HttpProber | undefined;
  const gateProber = new GateProber(() => (httpProber ??= createHttpProber({ timeoutMs: probeTimeoutMs })), probeTimeoutMs);
  // One per worker: a pod whose request is refused backs off instead of being refused every poll.
  const refusals = podWriteRefusals('data-rollout', {
    events: kc.makeApiClient(EventsV1Api),
    ...(options.refusalMetrics && { metrics: options.refusalMetrics }),
    reportingInstance: hostname(),
  });
  // One per worker: a stage's probation resumes from the watched time its earlier watches counted.
  const gateMemories = new DataGateMemories();
  const logRefusal = (fields: Record<string, unknown>, message: string) => currentContext()?.log.warn(message, fields);

  const writeRequests = (scope: DataScope, pods: DataPods, writes: { pod: string; ref: DataRef }[], releases: DataRelease[]) =>
    writeDataRequests({ kc, refusals, logRefusal }, scope, pods, writes, releases);

  /**
   * The gate over the upgraded consumers and the vouchers: errors, readiness, probation. With
   * `probation` (the probation's watch), the gate probes the pods' declared probes itself and
   * passes only when each has a result from after the probation began, and only once the time
   * it watched (looks at most MAX_LOOK_GAP_MS apart, threaded through `probation.memory`)
   * reaches the probation: time it could not watch extends it (domain/gate/stage-gate-evidence.ts).
   * Consumers whose request was refused count as erroring pods.
   */
  async function checkGate(
    pods: DataPods,
    target: DataRef,
    policy: {
      probationStartedAt: string | null;
      probationSeconds: number;
      maxErrorPods: number;
      refused?: Array<{ pod: string; reason: string }>;
    },
    probation?: { memory: SettleMemory | null },
  ): Promise<GateResult> {
    const upgraded = pods.consumers
      .filter((c) => c.request?.version === target.version && c.request.sha256 === target.sha256)
      .map((c) => c.pod);
    const names = new Set(upgraded.map((p) => p.metadata.name));
    const watched = [...upgraded, ...pods.vouchers.filter((p) => !names.has(p.metadata.name))];
    const start = policy.probationStartedAt ?? new Date().toISOString();
    const evidence: GateEvidence | undefined = probation
      ? {
          probes: await gateProber.look(watched, Date.parse(start)),
          maxLookGapMs: MAX_LOOK_GAP_MS,
          maxProbeAgeMs: gateProber.maxProbeAgeMs,
        }
      : undefined;
    const now = new Date();
    const refused = refusedPodObservations(policy.refused ?? [], new Set(watched.map((p) => p.metadata.name)), now.toISOString());
    const result = evaluateGate({
      pods: [...watched.map(podObservation), ...refused],
      expectedPods: 0,
      policy: dataGatePolicy(policy.probationSeconds, policy.maxErrorPods),
      stageStartedAt: start,
      bakeStartedAt: policy.probationStartedAt,
      bakeSeconds: policy.probationSeconds,
      memory: probation?.memory ?? null,
      ...(evidence ? { evidence } : {}),
      now,
    });
    if (probation) probation.memory = result.memory;
    return result;
  }

  return {
    /** The configured defaults (AUTOCRANE_DATA_*), read by the workflow through history so it stays deterministic. */
    async dataRolloutSettings(): Promise<DataRolloutSettings> {
      return {
        autoStart: options.autoStart,
        stages: options.stageShares.map((pods) => ({ pods, probationSeconds: options.probationSeconds })),
      };
    },

    /** The LKG and latest as last mirrored, for a workflow that starts with no state of its own (it was terminated and started again). */
    async readDataMirror(scope: DataScope): Promise<DataMirror | null> {
      return guard(`read ConfigMap ${scope.namespace}/${dataMirrorName(scope.source)}`, async () => {
        let cm: { data?: Record<string, string> };
        try {
          cm = await kubeJson(kc, {
            method: 'GET',
            path: `/api/v1/namespaces/${encodeURIComponent(scope.namespace)}/configmaps/${dataMirrorName(scope.source)}`,
            timeoutMs: MIRROR_TIMEOUT_MS,
          });
        } catch (err) {
          if ((err as { code?: number }).code === 404) return null;
          throw err;
        }
        const parse = (text: string | undefined): DataRelease | null => {
          if (text === undefined) return null;
          try {
            const value = JSON.parse(text) as DataRelease;
            return typeof value?.version?.id === 'string' &&
              typeof value.version.sha256 === 'string' &&
              typeof value.archiveUrl === 'string'
              ? value
              : null;
          } catch {
            return null;
          }
        };
        return { lkg: parse(cm.data?.['lkg.json']), latest: parse(cm.data?.['latest.json']), rollout: cm.data?.rollout ?? null };
      });
    },

    /** Writes our keys of the source's ConfigMap by server-side apply (other keys and managers are left alone). */
    async mirrorDataVersions(input: DataScope & DataMirror): Promise<void> {
      const name = dataMirrorName(input.source);
      return guard(`apply ConfigMap ${input.namespace}/${name}`, async () => {
        const data: Record<string, string> = {
          source: input.source,
          lkg: input.lkg?.version.id ?? '',
          latest: input.latest?.version.id ?? '',
          rollout: input.rollout ?? 'none',
        };
        if (input.lkg) data['lkg.json'] = JSON.stringify(input.lkg);
        if (input.latest) data['latest.json'] = JSON.stringify(input.latest);
        await kubeJson(kc, {
          method: 'PATCH',
          path: `/api/v1/namespaces/${encodeURIComponent(input.namespace)}/configmaps/${name}`,
          query: { fieldManager: FIELD_MANAGER, force: true },
          body: {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name, namespace: input.namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
            data,
          },
          contentType: CONTENT_TYPES.apply,
          timeoutMs: MIRROR_TIMEOUT_MS,
        });
      });
    },

    /**
     * Moves the stage's share of the consumers to the target version and waits until each of
     * them acknowledges it (status.data.autocrane.io/<source>), never on our own write. A
     * deployer's error for the version, a watchdog error beyond maxErrorPods, or the timeout
     * ends the stage as failed.
     */
    async advanceDataStage(input: AdvanceDataStageInput): Promise<DataStageOutcome> {
      const target = releaseRef(input.target);
      return guard(`move the ${input.source} consumers of ${input.namespace} to ${target.version}`, () =>
        withHeartbeats({ step: 'acknowledgements' }, async (heartbeat) => {
          const deadline = Date.now() + input.ackTimeoutSeconds * 1000;
          const movedBefore = new Set(input.movedBefore);
          // Why each consumer's request was refused, this activity; a later write that goes through clears it.
          const refused = new Map<string, string>();
          let written = 0;
          for (;;) {
            const pods = await listDataPods(kc, input);
            const plan = planDataRequests({
              consumers: pods.consumers,
              lkg: releaseRef(input.lkg),
              rollout: { target, share: input.share },
            });
            const writes = await writeRequests(input, pods, plan.writes, [input.lkg, input.target]);
            written += writes.written;
            for (const { pod } of plan.writes) if (!writes.refused.has(pod)) refused.delete(pod);
            for (const [name, why] of writes.refused) refused.set(name, why);
            const byName = new Map(pods.consumers.map((c) => [c.name, c]));
            const unacknowledged: string[] = [];
            const failed: string[] = [];
            let probationStartedAt: string | null = null;
            for (const name of plan.upgraded) {
              const ack = acknowledgement(byName.get(name)?.status ?? null, target, input.stageStartedAt);
              if (ack.state === 'failed') failed.push(`${name}: ${ack.message}`);
              else if (ack.state === 'waiting') unacknowledged.push(name);
              else if (
                !movedBefore.has(name) &&
                ack.activatedAt !== null &&
                (probationStartedAt === null || ack.activatedAt > probationStartedAt)
              )
                probationStartedAt = ack.activatedAt;
            }
            if (failed.length > 0)
              return {
                outcome: 'failed',
                upgraded: plan.upgraded,
                reason: `the data deployer could not activate ${target.version}: ${listLimited(failed, 3)}`,
              };
            const gate = await checkGate(pods, target, { probationStartedAt: null, probationSeconds: 0, maxErrorPods: input.maxErrorPods });
            const errors = judgeStageErrors({
              waiting: unacknowledged,
              watchdogErroring: gate.erroring.map((e) => e.pod),
              refused,
              maxErrorPods: input.maxErrorPods,
            });
            if (errors.failed)
              return { outcome: 'failed', upgraded: plan.upgraded, reason: errors.refused.length > 0 ? errors.reason : gate.reason };
            const { waiting } = errors;
            heartbeat({ step: 'acknowledgements', upgraded: plan.upgraded.length, waiting: waiting.length });
            if (waiting.length === 0) {
              return {
                outcome: 'acknowledged',
                upgraded: plan.upgraded,
                count: plan.count,
                consumers: pods.consumers.length,
                probationStartedAt: probationStartedAt ?? new Date().toISOString(),
                written,
                ...(errors.refused.length > 0 && { refused: errors.refused }),
              };
            }
            if (Date.now() >= deadline) {
              return {
                outcome: 'failed',
                upgraded: plan.upgraded,
                reason: `not acknowledged within ${input.ackTimeoutSeconds}s by ${listLimited(waiting)}`,
              };
            }
            await sleep(pollMs);
          }
        }),
      );
    },

    /**
     * Watches the gate of the upgraded consumers and the vouchers until the probation is over
     * with every pod ready and clean (pass) or a watchdog error (fail). Consumers that appear
     * meanwhile get the LKG. With holdAfterPass it watches on until cancelled.
     */
    async watchDataGate(input: WatchDataGateInput): Promise<DataGateResult> {
      const target = releaseRef(input.target);
      const lkg = releaseRef(input.lkg);
      const key = DataGateMemories.key(input);
      // The probation's watched time so far (this stage's earlier watches and attempts), kept across polls.
      const probation = { memory: gateMemories.initial(key, currentContext()?.info.heartbeatDetails) };
      const initial: DataGateHeartbeat = {
        step: 'probation',
        watched: 0,
        erroring: [],
        ...(probation.memory && { gate: probation.memory }),
      };
      return guard(`watch the gate of ${input.source} ${target.version} in ${input.namespace}`, () =>
        withHeartbeats(initial, async (heartbeat) => {
          try {
            for (;;) {
              const pods = await listDataPods(kc, input);
              // Newcomers (no request, or one for neither version) are not part of the stage: LKG.
              const newcomers = pods.consumers.filter(
                (c) => ![lkg, target].some((ref) => c.request?.version === ref.version && c.request.sha256 === ref.sha256),
              );
              await writeRequests(
                input,
                pods,
                newcomers.map((c) => ({ pod: c.name, ref: lkg })),
                [input.lkg],
              );
              const gate = await checkGate(pods, target, input, probation);
              const erroring = gate.erroring.map((e) => e.pod);
              heartbeat({
                step: gate.verdict === 'wait' ? `probation, ${gate.reason}` : 'probation',
                watched: gate.counts.updated,
                erroring,
                gate: gate.memory,
              });
              if (gate.verdict === 'fail' || (gate.verdict === 'pass' && !input.holdAfterPass))
                return { verdict: gate.verdict, reason: gate.reason, watched: gate.counts.updated, erroring };
              await sleep(pollMs);
            }
          } finally {
            gateMemories.remember(key, probation.memory);
          }
        }),
      );
    },

    /**
     * Asks every consumer for the LKG and waits until each acknowledges it, or the timeout: the
     * pods still waiting and those whose deployer failed are reported, not retried forever.
     */
    async revertData(input: RevertDataInput): Promise<RevertDataResult> {
      const lkg = releaseRef(input.lkg);
      return guard(`send the ${input.source} consumers of ${input.namespace} back to ${lkg.version}`, () =>
        withHeartbeats({ step: 'revert' }, async (heartbeat) => {
          const deadline = Date.now() + input.ackTimeoutSeconds * 1000;
          let written = 0;
          for (;;) {
            const pods = await listDataPods(kc, input);
            written += (
              await writeRequests(input, pods, planDataRequests({ consumers: pods.consumers, lkg, rollout: null }).writes, [input.lkg])
            ).written;
            const unacknowledged: string[] = [];
            const failed: { pod: string; message: string }[] = [];
            for (const c of pods.consumers) {
              const ack = acknowledgement(c.status, lkg);
              if (ack.state === 'failed') failed.push({ pod: c.name, message: ack.message });
              else if (ack.state === 'waiting') unacknowledged.push(c.name);
            }
            heartbeat({ step: 'revert', waiting: unacknowledged.length, failed: failed.length });
            if (unacknowledged.length === 0 || Date.now() >= deadline)
              return { consumers: pods.consumers.length, written, unacknowledged, failed };
            await sleep(pollMs);
          }
        }),
      );
    },

    /**
     * Idle: keeps every consumer asking for the LKG (new pods, whose init-mode deployer waits
     * for a request, get it within a poll) for `seconds`, then returns.
     */
    async tendDataConsumers(input: DataScope & { lkg: DataRelease; seconds: number }): Promise<{ written: number }> {
      const lkg = releaseRef(input.lkg);
      return guard(`keep the ${input.source} consumers of ${input.namespace} on ${lkg.version}`, () =>
        withHeartbeats({ step: 'tend' }, async (heartbeat) => {
          const until = Date.now() + input.seconds * 1000;
          let written = 0;
          do {
            const pods = await listDataPods(kc, input);
            written += (
              await writeRequests(input, pods, planDataRequests({ consumers: pods.consumers, lkg, rollout: null }).writes, [input.lkg])
            ).written;
            heartbeat({ step: 'tend', consumers: pods.consumers.length, written });
            await sleep(pollMs * 4);
          } while (Date.now() < until);
          return { written };
        }),
      );
    },
  };
}

export type DataRolloutActivities = ReturnType<typeof createDataRolloutActivities>;

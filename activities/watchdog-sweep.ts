/**
 * One probing sweep of a namespace: list the pods, probe what they declare, and write
 * a status only where the domain's transition rule says so. The decisions are pure
 * (domain/watchdog-*); this module does the I/O. It returns a small summary, so a
 * sweep adds the same few events to workflow history whatever the number of pods.
 */
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { HEALTH_LABEL, STATUS_ANNOTATION_PREFIX } from '../domain/keys';
import { buildStatusPatch } from '../domain/watchdog-annotations';
import { decideProbeWrite, isProbeEligible, listProbes, probeUrl, type ProbeResult } from '../domain/watchdog-probe';
import { parseStatus } from '../domain/watchdog-status';
import type { HttpProber, ProbeOutcome } from './http-prober';
import { writePodStatuses } from './pod-status';

export interface SweepInput {
  namespace: string;
  /** Also probe pods that are not Running or not ready (AutoCrane does not; default false). */
  probeNotReadyPods?: boolean;
}

export interface SweepSummary {
  namespace: string;
  pods: number;
  /** Pods that declare at least one probe and were eligible. */
  probedPods: number;
  probes: number;
  failedProbes: number;
  /** Pods whose statuses were written (transitions only). */
  podsWritten: number;
  podsGone: number;
  /** Probes by outcome; `refused-target` counts declarations refused without a request. */
  outcomes: Partial<Record<ProbeOutcome | 'refused-target', number>>;
  /** Probed pods by their health label after the sweep (`none`: no status at all). */
  health: Record<string, number>;
  durationMs: number;
}

export interface SweepDeps {
  core: CoreV1Api;
  prober: HttpProber;
  now?: () => Date;
  /** Reports progress (the activity heartbeats with it). */
  onProgress?: (progress: { phase: 'probing' | 'writing'; done: number; total: number }) => void;
}

const LIST_PAGE_SIZE = 500;

async function listAllPods(core: CoreV1Api, namespace: string): Promise<V1Pod[]> {
  const pods: V1Pod[] = [];
  let continueToken: string | undefined;
  do {
    const page = await core.listNamespacedPod({ namespace, limit: LIST_PAGE_SIZE, _continue: continueToken });
    pods.push(...page.items);
    continueToken = page.metadata?._continue || undefined;
  } while (continueToken);
  return pods;
}

export async function sweepWatchdogs(input: SweepInput, deps: SweepDeps): Promise<SweepSummary> {
  const started = Date.now();
  const now = deps.now ?? (() => new Date());
  const pods = await listAllPods(deps.core, input.namespace);

  // Results per pod, keyed by watchdog name; refused declarations fail without a request.
  const resultsByPod = new Map<V1Pod, Map<string, ProbeResult>>();
  const requests: { key: string; url: string }[] = [];
  const requestOwner = new Map<string, { pod: V1Pod; name: string }>();
  for (const pod of pods) {
    const declarations = listProbes(pod.metadata?.annotations);
    if (declarations.length === 0 || pod.metadata?.deletionTimestamp) continue;
    if (!isProbeEligible({ phase: pod.status?.phase, containerStatuses: pod.status?.containerStatuses }, { probeNotReadyPods: !!input.probeNotReadyPods })) continue;
    const results = new Map<string, ProbeResult>();
    resultsByPod.set(pod, results);
    for (const declaration of declarations) {
      if (!declaration.ok) {
        results.set(declaration.name, { healthy: false, message: declaration.reason });
        continue;
      }
      const podIP = pod.status?.podIP;
      if (!podIP) {
        results.set(declaration.name, { healthy: false, message: 'pod has no IP address to probe' });
        continue;
      }
      const key = `${pod.metadata?.uid}/${declaration.name}`;
      requests.push({ key, url: probeUrl(podIP, declaration.target) });
      requestOwner.set(key, { pod, name: declaration.name });
    }
  }

  const outcomes: SweepSummary['outcomes'] = {};
  const count = (outcome: keyof SweepSummary['outcomes']) => (outcomes[outcome] = (outcomes[outcome] ?? 0) + 1);
  for (const results of resultsByPod.values()) for (let i = 0; i < results.size; i++) count('refused-target');

  const probed = await deps.prober.probeAll(requests, (done) => deps.onProgress?.({ phase: 'probing', done, total: requests.length }));
  for (const [key, result] of probed) {
    const owner = requestOwner.get(key)!;
    resultsByPod.get(owner.pod)!.set(owner.name, result);
    count(result.outcome);
  }

  let failedProbes = 0;
  let podsWritten = 0;
  let podsGone = 0;
  let written = 0;
  const health: Record<string, number> = {};
  const time = now();
  for (const [pod, results] of resultsByPod) {
    for (const result of results.values()) if (!result.healthy) failedProbes++;
    // Decided against the annotations the writer reads, so a retry after a conflict decides afresh.
    const decide = (annotations: Readonly<Record<string, string>>) => {
      const updates: Record<string, string> = {};
      for (const [name, result] of results) {
        const current = annotations[`${STATUS_ANNOTATION_PREFIX}${name}`];
        const value = decideProbeWrite(current === undefined ? undefined : parseStatus(current), result, time);
        if (value !== null) updates[name] = value;
      }
      return updates;
    };
    const updates = decide(pod.metadata?.annotations ?? {});
    const level = buildStatusPatch(pod.metadata?.annotations, updates).metadata.labels[HEALTH_LABEL] ?? 'none';
    health[level] = (health[level] ?? 0) + 1;
    if (Object.keys(updates).length === 0) continue;
    const outcome = await writePodStatuses(deps.core, { namespace: input.namespace, name: pod.metadata!.name! }, decide, { pod });
    if (outcome === 'written') podsWritten++;
    if (outcome === 'pod-gone') podsGone++;
    deps.onProgress?.({ phase: 'writing', done: ++written, total: resultsByPod.size });
  }

  return {
    namespace: input.namespace,
    pods: pods.length,
    probedPods: resultsByPod.size,
    probes: [...resultsByPod.values()].reduce((n, r) => n + r.size, 0),
    failedProbes,
    podsWritten,
    podsGone,
    outcomes,
    health,
    durationMs: Date.now() - started,
  };
}

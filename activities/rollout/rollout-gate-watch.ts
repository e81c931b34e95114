/**
 * The gate over a stage's updated pods (domain/gate/stage-gate.ts decides; this looks, probes and
 * heartbeats), the memory of a stage's settling that a bake, a hold and a re-gate share, and
 * the waits a stage's writes make, which check the gate's error check and deadline meanwhile,
 * so a watchdog error stops a stage within a poll.
 */
import { evaluateGate, type GateResult, type SettleMemory } from '../../domain/gate/stage-gate';
import type { RolloutHeartbeat, RolloutSnapshot, StageContext, WatchGateResult } from '../../domain/rollout/rollout-types';
import type { RolloutTarget } from '../../domain/rollout/rollout-spec';
import { currentContext, heartbeat as heartbeatActivity, sleep } from '../shared/activity-context';
import { MAX_LOOK_GAP_MS, type GateProber } from '../gate/gate-probe';
import type { RolloutKube } from './rollout-kube';
import { canaryTarget, deploymentSettled, isPodReady, podObservation, type PodJson, type WorkloadJson } from './rollout-kube-json';
import { canaryPodsLabels, canaryReplicaSetOf, ownedBy, POLL_MS, updatedPods } from './rollout-kube-observe';

const heartbeat = (details: RolloutHeartbeat) => heartbeatActivity(details);

/**
 * The gate over the updated pods: `watched` when the caller's own watch has them (see
 * Seen.canaryPods), listed otherwise. With `prober` (a bake, and the check that ends a
 * stage's scaling), the gate probes the pods' declared probes itself and passes only on that
 * evidence and on watched time (domain/gate/stage-gate-evidence.ts).
 */
export async function checkGate(
  kube: RolloutKube,
  ctx: StageContext,
  expectedPods: number,
  bake: { startedAt: string | null; seconds: number },
  {
    watched,
    settle,
    prober,
    report,
  }: {
    watched?: PodJson[] | undefined;
    settle?: { memory: SettleMemory | null };
    prober?: GateProber;
    report?: (details: RolloutHeartbeat) => void;
  } = {},
): Promise<GateResult> {
  const pods = watched ?? (await updatedPods(kube, ctx));
  const freshSince = bake.startedAt === null ? undefined : Date.parse(bake.startedAt);
  const evidence = prober
    ? { probes: await prober.look(pods, freshSince), maxLookGapMs: MAX_LOOK_GAP_MS, maxProbeAgeMs: prober.maxProbeAgeMs }
    : undefined;
  const result = evaluateGate({
    pods: pods.map(podObservation),
    expectedPods,
    policy: ctx.gate,
    stageStartedAt: ctx.stageStartedAt,
    bakeStartedAt: bake.startedAt,
    bakeSeconds: bake.seconds,
    memory: settle?.memory ?? null,
    ...(evidence ? { evidence } : {}),
    now: new Date(),
  });
  if (settle) settle.memory = result.memory;
  (report ?? heartbeat)({
    updated: result.counts.updated,
    ready: result.counts.ready,
    erroring: result.erroring.map((e) => e.pod),
    ...(evidence && result.verdict === 'wait' ? { step: result.reason } : {}),
    ...(settle ? { settle: result.memory } : {}),
  });
  return result;
}

/**
 * What watchGate saw of each stage's settling (evaluateGate's memory), by rollout and stage:
 * the bake, a hold while paused or awaiting approval, and a re-gate of the same stage are
 * separate activities, and a readiness blip seen by one still counts in the next. A retried
 * attempt (maybe on another worker) takes it from its last heartbeat instead.
 */
const settleMemories = new Map<string, SettleMemory>();
const SETTLE_MEMORY_LIMIT = 256;
const settleKey = (ctx: StageContext) => `${ctx.rolloutId} ${ctx.stageStartedAt}`;

function isSettleMemory(value: unknown): value is SettleMemory {
  if (value === null || typeof value !== 'object') return false;
  const { settledSince, lastSettledAt } = value as Record<string, unknown>;
  return (settledSince === null || typeof settledSince === 'string') && (lastSettledAt === null || typeof lastSettledAt === 'string');
}

/** The memory a watchGate attempt starts from: its previous attempt's last heartbeat, or this worker's. */
export function initialSettleMemory(ctx: StageContext, heartbeatDetails: unknown): SettleMemory | null {
  const fromHeartbeat = (heartbeatDetails as Partial<RolloutHeartbeat> | undefined)?.settle;
  if (isSettleMemory(fromHeartbeat)) return fromHeartbeat;
  return settleMemories.get(settleKey(ctx)) ?? null;
}

export function rememberSettle(ctx: StageContext, memory: SettleMemory | null): void {
  if (memory === null) return;
  const key = settleKey(ctx);
  settleMemories.delete(key);
  if (settleMemories.size >= SETTLE_MEMORY_LIMIT) settleMemories.delete(settleMemories.keys().next().value!);
  settleMemories.set(key, memory);
}

/** A settled gate verdict as the workflow gets it: the erroring pods by name. */
export const toWatchGateResult = (result: GateResult, verdict: WatchGateResult['verdict']): WatchGateResult => ({
  verdict,
  reason: result.reason,
  counts: result.counts,
  erroring: result.erroring.map((e) => e.pod),
});

export class GateFailure extends Error {
  constructor(readonly result: GateResult) {
    super(result.reason);
  }
}

/**
 * Polls until `settled()` is true. With a gate, each poll also checks the updated pods, and a
 * failed gate (a watchdog error, or the progress deadline) ends the wait with a GateFailure.
 */
export async function waitFor(
  kube: RolloutKube,
  what: string,
  settled: () => Promise<boolean>,
  gate?: { ctx: StageContext; expectedPods: number },
): Promise<void> {
  for (;;) {
    if (gate) {
      const result = await checkGate(kube, gate.ctx, gate.expectedPods, { startedAt: null, seconds: 0 });
      if (result.verdict === 'fail') throw new GateFailure(result);
    } else {
      heartbeat({ updated: 0, ready: 0, erroring: [], step: what });
    }
    if (await settled()) return;
    await sleep(POLL_MS);
  }
}

interface WorkloadWait {
  /** The gate's error check and deadline, checked every POLL_MS meanwhile. */
  gate?: { ctx: StageContext; expectedPods: number };
  /** A watch of the updated pods: it wakes the wait too, and the gate is checked on what it shows (null when it cannot tell) instead of a list. */
  pods?: { next(ms: number): Promise<void>; updated(): PodJson[] | null };
}

/**
 * Waits until `settled` holds for a workload, woken by a watch on it (WorkloadFollower) rather
 * than by the poll alone; the gate, when given, is still checked every POLL_MS.
 */
export async function waitForWorkload(
  kube: RolloutKube,
  target: RolloutTarget,
  what: string,
  settled: (w: WorkloadJson) => boolean,
  { gate, pods }: WorkloadWait = {},
): Promise<WorkloadJson> {
  const follower = kube.follow(target);
  try {
    let gateCheckedAt = Number.NEGATIVE_INFINITY;
    let first = true;
    for (;;) {
      if (gate && Date.now() - gateCheckedAt >= POLL_MS) {
        gateCheckedAt = Date.now();
        const bake = { startedAt: null, seconds: 0 };
        const watched = pods?.updated() ?? undefined;
        let result = await checkGate(kube, gate.ctx, gate.expectedPods, bake, { watched });
        // A watch may not have shown every pod yet: a failure is confirmed by a list.
        if (result.verdict === 'fail' && watched !== undefined) result = await checkGate(kube, gate.ctx, gate.expectedPods, bake);
        if (result.verdict === 'fail') throw new GateFailure(result);
      } else if (!gate) {
        heartbeat({ updated: 0, ready: 0, erroring: [], step: what });
      }
      // The watch's first event comes as soon as a read would (waited for once: a watch that
      // failed, or a workload that is gone, is read at every turn).
      if (first && follower.current === null) await follower.next(POLL_MS);
      first = false;
      const current = follower.current ?? (await kube.readWorkload(target));
      if (settled(current)) return current;
      const wait = gate ? Math.max(1, POLL_MS - (Date.now() - gateCheckedAt)) : POLL_MS;
      const context = currentContext();
      const woken = pods ? Promise.race([follower.next(wait), pods.next(wait)]) : follower.next(wait);
      await (context ? Promise.race([woken, context.cancelled]) : woken);
    }
  } finally {
    follower.close();
  }
}

/**
 * Waits until the canary Deployment has `replicas` ready pods: as its status says (see
 * deploymentSettled), or as its ReplicaSet's pods themselves say, which they do some 25-45 ms
 * sooner (the ReplicaSet's and then the Deployment's status follow). Only growth is waited for,
 * so ready pods of the canary's ReplicaSet are all it takes. Returns the canary's pods as the
 * watch saw them when it ended, if they were the ones that showed it settled (null otherwise).
 */
export async function waitForCanary(
  kube: RolloutKube,
  rolloutId: string,
  snapshot: RolloutSnapshot,
  replicas: number,
  sinceGeneration: number,
  gate?: { ctx: StageContext; expectedPods: number },
): Promise<PodJson[] | null> {
  const canary = await canaryReplicaSetOf(kube, { rolloutId, snapshot });
  if (canary === null) {
    await waitForWorkload(
      kube,
      canaryTarget(snapshot.target),
      `canary ${replicas} ready`,
      (w) => deploymentSettled(w, replicas, sinceGeneration),
      { gate },
    );
    return null;
  }
  const owned = ownedBy(canary);
  const pods = kube.followPods(
    snapshot.target.namespace,
    canaryPodsLabels(snapshot, canary),
    (p) => owned(p) && !p.metadata.deletionTimestamp && isPodReady(p),
  );
  const podsReady = (w: WorkloadJson) => (w.spec.replicas ?? 1) === replicas && (pods.counted ?? 0) >= replicas;
  const updated = () => pods.pods?.filter(owned) ?? null;
  try {
    const settled = await waitForWorkload(
      kube,
      canaryTarget(snapshot.target),
      `canary ${replicas} ready`,
      (w) => deploymentSettled(w, replicas, sinceGeneration) || podsReady(w),
      {
        gate,
        pods: { next: (ms) => pods.next(ms), updated },
      },
    );
    // The Deployment's status may say so first when the watch of the pods lags: it gets a moment
    // to catch up, which spares the gate a list of the pods.
    const catchUp = Date.now() + POLL_MS / 2;
    while (pods.counted !== null && !podsReady(settled) && Date.now() < catchUp) await pods.next(catchUp - Date.now());
    return podsReady(settled) ? updated() : null;
  } finally {
    pods.close();
  }
}

/**
 * The rollout activities. Each one observes the workload, asks the pure planners
 * (domain/rollout-plan.ts) what to do, does it, and waits for it while checking the gate
 * (domain/stage-gate.ts) every POLL_MS, so a watchdog error stops a stage within a second.
 * Every activity re-reads the cluster when it starts, so a retry after a worker crash picks
 * up where the cluster is, not where the dead attempt thought it was.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { KubeConfig } from '@kubernetes/client-node';
import { ROLLOUT_ANNOTATION } from '../domain/keys';
import { checkTemplateChange, templatesEqual, type PodTemplate } from '../domain/pod-template-change';
import { evaluateGate, type GatePolicyInput, type GateResult, type SettleMemory } from '../domain/stage-gate';
import { DEFAULTS } from '../domain/keys';
import {
  canaryAtPreparation,
  planDeploymentPromotion,
  planDeploymentRollback,
  planDeploymentStage,
  planDeploymentPromotionStart,
  planDeploymentStageStart,
  withOwedScaleDown,
  type DeploymentAction,
  type DeploymentState,
  type DeploymentStrategy,
} from '../domain/rollout-plan';
import {
  planStatefulSetPromotion,
  planStatefulSetRollback,
  podsNotOnRevision,
  statefulSetRefusal,
  planStatefulSetStage,
  planStatefulSetStart,
  type StatefulSetAction,
  type StatefulSetRollbackState,
  type StatefulSetState,
} from '../domain/rollout-plan-statefulset';
import { resolveStageCounts, type IntOrPercent } from '../domain/rollout-shares';
import { stepBegunEarly } from '../domain/rollout-next-step';
import type { RolloutSpec, RolloutTarget } from '../domain/rollout-spec';
import { describeTarget } from '../domain/rollout-summary';
import { currentContext, guard as guardActivity, heartbeat as heartbeatActivity, nonRetryable, sleep, stopIfCancelled } from './activity-context';
import { GateProber, MAX_LOOK_GAP_MS } from './gate-probe';
import { createHttpProber, type HttpProber } from './http-prober';
import {
  canaryTarget,
  CONTROLLER_REVISION_HASH_LABEL,
  controllerOf,
  isPodReady,
  ordinalOf,
  POD_TEMPLATE_HASH_LABEL,
  podObservation,
  RolloutKube,
  statefulSetPodName,
  type PodJson,
  type ReplicaSetJson,
  type WorkloadJson,
} from './rollout-kube';

/** How often waits and bakes look at the pods: reaction to a watchdog error is at most this plus one list. */
export const POLL_MS = 250;
/**
 * prepareRollout and finishRollout do not heartbeat: a worker dying in one is noticed only when
 * their 30 s start-to-close timeout expires (workflows/rollout.ts), so each of their apiserver
 * calls gives up after 5 s and the foreign canary's deletion is waited for 10 s per attempt.
 */
const SHORT_CALL_TIMEOUT_MS = 5_000;
const FOREIGN_CANARY_POLLS = 40;
/** watchGate's apiserver calls: a look that takes longer is a gap in the watch anyway. */
const GATE_CALL_TIMEOUT_MS = 5_000;
/**
 * How often watchGate heartbeats, whatever its calls are doing: the worker sends at most one a
 * second (workers/worker-factory.ts), and the workflow's 3 s heartbeat timeout must only ever
 * catch a dead worker. The watch itself accounts for the time it could not look.
 */
const GATE_HEARTBEAT_MS = 500;

/** What the rollout works from, read once when it starts. */
export interface RolloutSnapshot {
  target: RolloutTarget;
  uid: string;
  replicas: number;
  /** The workload's selector.matchLabels. */
  selector: Record<string, string>;
  oldTemplate: PodTemplate;
  newTemplate: PodTemplate;
  deploymentStrategy?: DeploymentStrategy;
  statefulSet?: {
    strategy: 'RollingUpdate' | 'OnDelete';
    partition: number;
    maxUnavailable?: IntOrPercent;
    /**
     * The old template's revision (status.updateRevision as prepareRollout found it, observed):
     * a pod whose controller-revision-hash differs is not rolled back yet. Absent from snapshots
     * recorded before it was (histories still replay: the rollback then finds the revision by
     * writing the old template first), or when the StatefulSet's controller had not observed its
     * spec yet.
     */
    oldRevision?: string;
  };
  /** With beginFirstStage: the writes with which prepareRollout began stage 1 (a canary created at its count). */
  firstStageBegun?: string[];
}

export interface StageContext {
  rolloutId: string;
  snapshot: RolloutSnapshot;
  gate: GatePolicyInput;
  /** RFC 3339: when the stage began (the progress deadline counts from it). */
  stageStartedAt: string;
}

export type StageOutcome =
  | {
      outcome: 'done';
      actions: string[];
      finishedAt: string;
      /**
       * With `gateAfterScaling`, the gate evaluated for a bake of 0 s from `finishedAt`, when it
       * passed then; absent when it must still be watched (minReadySeconds not yet over).
       */
      gatePassed?: WatchGateResult;
      /**
       * With `nextCount` or `beginPromotion`, once the gate passed: the writes that began the next
       * stage (planDeploymentStageStart) or the promotion (planDeploymentPromotionStart).
       */
      nextStarted?: string[];
    }
  | { outcome: 'gate-failed'; actions: string[]; reason: string; erroring: string[] };

export interface WatchGateInput extends StageContext {
  /** Updated pods the stage should have. */
  expectedPods: number;
  bakeStartedAt: string;
  bakeSeconds: number;
  /** Keep watching after the gate passes, until cancelled (while paused or awaiting approval). */
  holdAfterPass?: boolean;
}

export interface WatchGateResult {
  verdict: 'pass' | 'fail';
  reason: string;
  counts: GateResult['counts'];
  erroring: string[];
}

/** Heartbeat details of a waiting or baking activity: the API shows them as live counts. */
export interface RolloutHeartbeat {
  updated: number;
  ready: number;
  erroring: string[];
  step?: string;
  /** watchGate's memory of the stage's settling (evaluateGate), so a retried attempt goes on from it. */
  settle?: SettleMemory;
}

export const INVALID_CHANGE = 'InvalidChange';

const heartbeat = (details: RolloutHeartbeat) => heartbeatActivity(details);

// ---------------------------------------------------------------------------
// Observing
// ---------------------------------------------------------------------------

/**
 * The canary ReplicaSet of each rollout, once found: it is made when the canary Deployment is
 * created and stays the same until the rollout ends, so the gate lists its pods in one request.
 */
const canaryReplicaSets = new Map<string, { uid: string; hash: string }>();
const CANARY_CACHE_LIMIT = 256;

/** The canary ReplicaSet of a Deployment rollout, once the Deployment controller has made it (null before). */
async function canaryReplicaSetOf(kube: RolloutKube, ctx: { rolloutId: string; snapshot: RolloutSnapshot }): Promise<{ uid: string; hash: string } | null> {
  let canary = canaryReplicaSets.get(ctx.rolloutId);
  if (canary === undefined) {
    const rs = await kube.canaryReplicaSet(ctx.snapshot.target, ctx.snapshot.selector);
    const hash = rs?.metadata.labels?.[POD_TEMPLATE_HASH_LABEL];
    if (rs === null || hash === undefined) return null;
    canary = { uid: rs.metadata.uid, hash };
    if (canaryReplicaSets.size >= CANARY_CACHE_LIMIT) canaryReplicaSets.delete(canaryReplicaSets.keys().next().value!);
    canaryReplicaSets.set(ctx.rolloutId, canary);
  }
  return canary;
}

/** The canary's pods: its ReplicaSet's, told by pod-template-hash and controller (a label alone could match another ReplicaSet's). */
const canaryPodsLabels = (snapshot: RolloutSnapshot, canary: { hash: string }) => ({ ...snapshot.selector, [POD_TEMPLATE_HASH_LABEL]: canary.hash });
const ownedBy = (canary: { uid: string }) => (p: PodJson) => controllerOf(p.metadata.ownerReferences)?.uid === canary.uid;

/** The pods on the new template: the canary ReplicaSet's (Deployment), or the update revision's (StatefulSet). */
async function updatedPods(kube: RolloutKube, ctx: { rolloutId: string; snapshot: RolloutSnapshot }): Promise<PodJson[]> {
  const { snapshot } = ctx;
  if (snapshot.target.kind === 'Deployment') {
    const canary = await canaryReplicaSetOf(kube, ctx);
    if (canary === null) return [];
    return (await kube.listPods(snapshot.target.namespace, canaryPodsLabels(snapshot, canary))).filter(ownedBy(canary));
  }
  const sts = await readObservedStatefulSet(kube, snapshot.target);
  if (!templatesEqual(sts.spec.template, snapshot.newTemplate)) return [];
  const revision = sts.status?.updateRevision;
  const pods = await kube.listPods(snapshot.target.namespace, snapshot.selector);
  return pods.filter((p) => revision !== undefined && p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === revision);
}

/**
 * The gate over the updated pods: `watched` when the caller's own watch has them (see
 * Seen.canaryPods), listed otherwise. With `prober` (a bake, and the check that ends a
 * stage's scaling), the gate probes the pods' declared probes itself and passes only on that
 * evidence and on watched time (domain/stage-gate-evidence.ts).
 */
async function checkGate(
  kube: RolloutKube,
  ctx: StageContext,
  expectedPods: number,
  bake: { startedAt: string | null; seconds: number },
  { watched, settle, prober, report }: { watched?: PodJson[] | undefined; settle?: { memory: SettleMemory | null }; prober?: GateProber; report?: (details: RolloutHeartbeat) => void } = {},
): Promise<GateResult> {
  const pods = watched ?? (await updatedPods(kube, ctx));
  const freshSince = bake.startedAt === null ? undefined : Date.parse(bake.startedAt);
  const evidence = prober ? { probes: await prober.look(pods, freshSince), maxLookGapMs: MAX_LOOK_GAP_MS, maxProbeAgeMs: prober.maxProbeAgeMs } : undefined;
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

function rememberSettle(ctx: StageContext, memory: SettleMemory | null): void {
  if (memory === null) return;
  const key = settleKey(ctx);
  settleMemories.delete(key);
  if (settleMemories.size >= SETTLE_MEMORY_LIMIT) settleMemories.delete(settleMemories.keys().next().value!);
  settleMemories.set(key, memory);
}

/** A settled gate verdict as the workflow gets it: the erroring pods by name. */
const toWatchGateResult = (result: GateResult, verdict: WatchGateResult['verdict']): WatchGateResult => ({
  verdict,
  reason: result.reason,
  counts: result.counts,
  erroring: result.erroring.map((e) => e.pod),
});

class GateFailure extends Error {
  constructor(readonly result: GateResult) {
    super(result.reason);
  }
}

/**
 * Polls until `settled()` is true. With a gate, each poll also checks the updated pods, and a
 * failed gate (a watchdog error, or the progress deadline) ends the wait with a GateFailure.
 */
async function waitFor(kube: RolloutKube, what: string, settled: () => Promise<boolean>, gate?: { ctx: StageContext; expectedPods: number }): Promise<void> {
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
async function waitForWorkload(kube: RolloutKube, target: RolloutTarget, what: string, settled: (w: WorkloadJson) => boolean, { gate, pods }: WorkloadWait = {}): Promise<WorkloadJson> {
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
async function waitForCanary(
  kube: RolloutKube,
  rolloutId: string,
  snapshot: RolloutSnapshot,
  replicas: number,
  sinceGeneration: number,
  gate?: { ctx: StageContext; expectedPods: number },
): Promise<PodJson[] | null> {
  const canary = await canaryReplicaSetOf(kube, { rolloutId, snapshot });
  if (canary === null) {
    await waitForWorkload(kube, canaryTarget(snapshot.target), `canary ${replicas} ready`, (w) => deploymentSettled(w, replicas, sinceGeneration), { gate });
    return null;
  }
  const owned = ownedBy(canary);
  const pods = kube.followPods(snapshot.target.namespace, canaryPodsLabels(snapshot, canary), (p) => owned(p) && !p.metadata.deletionTimestamp && isPodReady(p));
  const podsReady = (w: WorkloadJson) => (w.spec.replicas ?? 1) === replicas && (pods.counted ?? 0) >= replicas;
  const updated = () => pods.pods?.filter(owned) ?? null;
  try {
    const settled = await waitForWorkload(kube, canaryTarget(snapshot.target), `canary ${replicas} ready`, (w) => deploymentSettled(w, replicas, sinceGeneration) || podsReady(w), {
      gate,
      pods: { next: (ms) => pods.next(ms), updated },
    });
    // The Deployment's status may say so first when the watch of the pods lags: it gets a moment
    // to catch up, which spares the gate a list of the pods.
    const catchUp = Date.now() + POLL_MS / 2;
    while (pods.counted !== null && !podsReady(settled) && Date.now() < catchUp) await pods.next(catchUp - Date.now());
    return podsReady(settled) ? updated() : null;
  } finally {
    pods.close();
  }
}

/**
 * Every pod of the Deployment on its current template and ready, `replicas` of them, as the
 * Deployment reports it for a spec at least as new as `sinceGeneration` (what the write that
 * is waited for returned: a watch may show an older version first).
 */
/** The workload's controller has seen its current spec: its status describes that spec. */
const controllerObserved = (w: WorkloadJson): boolean => (w.status?.observedGeneration ?? 0) >= (w.metadata.generation ?? 0);

const deploymentSettled = (w: WorkloadJson, replicas: number, sinceGeneration = 0): boolean => {
  const s = w.status ?? {};
  return (
    (w.metadata.generation ?? 0) >= sinceGeneration &&
    controllerObserved(w) &&
    (w.spec.replicas ?? 1) === replicas &&
    (s.replicas ?? 0) === replicas &&
    (s.updatedReplicas ?? 0) === replicas &&
    (s.readyReplicas ?? 0) === replicas
  );
};

/**
 * Removes the rollout annotation (the repair hold) from the target, if it is still this
 * rollout's: as `known` shows it (what the caller's last write or wait returned), or as read.
 */
async function releaseTarget(kube: RolloutKube, rolloutId: string, target: RolloutTarget, known?: WorkloadJson): Promise<void> {
  const workload = known ?? (await kube.readWorkloadIfExists(target));
  if (workload?.metadata.annotations?.[ROLLOUT_ANNOTATION] === rolloutId) await kube.setRolloutAnnotation(target, null);
}

// ---------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------

interface DeploymentObservation {
  state: DeploymentState;
  canaryReady: number;
  stable: WorkloadJson;
}

/**
 * What an activity's own writes, watches and reads have just shown, so that the step after
 * them needs no request of its own. Each saves a round trip to an apiserver that is busy
 * starting pods, on the path from one stage's pods being ready to the next stage's starting
 * (bench/RESULTS.md, Rollout). Only what the same activity saw moments before goes in.
 */
interface Seen {
  /** The stable Deployment as the activity's latest write, wait or read of it returned it. */
  stable?: WorkloadJson;
  /** The canary Deployment was found released (gone, or being deleted) when the activity began. */
  canaryReleased?: boolean;
  /** The canary ReplicaSet's pods as the watch of the latest canary wait saw them, `replicas` of them ready. */
  canaryPods?: { replicas: number; pods: PodJson[] };
  /** The stable Deployment's ReplicaSets, listed alongside the write that paused it. */
  stableReplicaSets?: ReplicaSetJson[];
}

/** Where a Deployment rollout stands (domain/rollout-plan.ts plans from it). */
async function observeDeployment(kube: RolloutKube, snapshot: RolloutSnapshot): Promise<DeploymentObservation> {
  const [stable, canary] = await Promise.all([readStable(kube, snapshot), kube.readWorkloadIfExists(canaryTarget(snapshot.target))]);
  // A canary being deleted (released, or rolled back) no longer holds replicas of its own.
  const canaryExists = canary !== null && canary.metadata.deletionTimestamp === undefined;
  const state: DeploymentState = {
    canary: canaryExists ? (canary!.spec.replicas ?? 1) : 0,
    stable: stable.spec.replicas ?? 1,
    stablePaused: stable.spec.paused === true,
    stableOnNewTemplate: !templatesEqual(stable.spec.template, snapshot.oldTemplate),
    canaryExists,
  };
  return { state, canaryReady: canaryExists ? Math.min(state.canary, canary!.status?.readyReplicas ?? 0) : 0, stable };
}

async function readStable(kube: RolloutKube, snapshot: RolloutSnapshot): Promise<WorkloadJson> {
  const stable = await kube.readWorkload(snapshot.target);
  if (stable.metadata.uid !== snapshot.uid) throw nonRetryable('WorkloadReplaced', `${describeTarget(snapshot.target)} was deleted and recreated during the rollout`);
  return stable;
}

/** A promotion step found the cluster other than planned (someone else wrote it): the retry re-reads it and plans again. */
const replan = (message: string) => ApplicationFailure.create({ type: 'RolloutReplan', message, nonRetryable: false });

interface ActionsOptions {
  /** Checked while the actions' waits last. */
  gate?: { ctx: StageContext; expectedPods: number };
  /** What the caller has just seen, updated by the actions' own writes and waits. */
  seen?: Seen;
}

async function runDeploymentActions(kube: RolloutKube, rolloutId: string, snapshot: RolloutSnapshot, actions: DeploymentAction[], { gate, seen = {} }: ActionsOptions = {}): Promise<string[]> {
  const done: string[] = [];
  const canary = canaryTarget(snapshot.target);
  const stableTarget = snapshot.target;
  const waitStable = (what: string, replicas: number, since: number) =>
    waitForWorkload(kube, stableTarget, what, (w) => deploymentSettled(w, replicas, since));
  for (const [i, action] of actions.entries()) {
    stopIfCancelled();
    switch (action.kind) {
      case 'scale': {
        if (action.workload === 'canary') {
          const written = await kube.scaleCanary(stableTarget, rolloutId, snapshot.newTemplate, action.replicas);
          done.push(`scale canary to ${action.replicas}`);
          delete seen.canaryPods;
          if (action.wait) {
            const pods = await waitForCanary(kube, rolloutId, snapshot, action.replicas, written.metadata.generation ?? 0, gate);
            if (pods !== null) seen.canaryPods = { replicas: action.replicas, pods };
          }
        } else {
          seen.stable = await kube.scale(stableTarget, action.replicas);
          done.push(`scale stable to ${action.replicas}`);
          if (action.wait) {
            const since = seen.stable.metadata.generation ?? 0;
            seen.stable = await waitForWorkload(kube, stableTarget, `stable ${action.replicas} ready`, (w) => deploymentSettled(w, action.replicas, since), { gate });
          }
        }
        break;
      }
      case 'setStableTemplate': {
        const written = await kube.setTemplate(stableTarget, snapshot.uid, snapshot.oldTemplate);
        done.push('set the stable template to the old one');
        seen.stable = await waitStable('stable rolled back to the old template', written.spec.replicas ?? 1, written.metadata.generation ?? 0);
        break;
      }
      case 'pauseStable': {
        // The ReplicaSets the next step deletes are listed meanwhile: a stable Deployment on its
        // old template makes none, paused or not (the check before deleting is on the write's answer).
        const listing = actions[i + 1]?.kind === 'deleteStableReplicaSets' ? kube.listReplicaSets(stableTarget.namespace, snapshot.selector) : null;
        [seen.stable] = await Promise.all([kube.setPaused(stableTarget, true, action.replicas), listing?.then((rss) => (seen.stableReplicaSets = rss))]);
        done.push(action.replicas === undefined ? 'pause stable' : `pause stable at ${action.replicas} replicas`);
        break;
      }
      case 'deleteStableReplicaSets': {
        // Only a paused stable Deployment at 0 replicas on the old template: anything else means
        // the cluster is not where the plan thought, and the activity plans again.
        const stable = seen.stable ?? (await readStable(kube, snapshot));
        if (stable.metadata.uid !== snapshot.uid || stable.spec.paused !== true || (stable.spec.replicas ?? 1) !== 0 || !templatesEqual(stable.spec.template, snapshot.oldTemplate)) {
          throw replan(`${describeTarget(stableTarget)} is not paused at 0 replicas on the old template; its ReplicaSets are left alone`);
        }
        const listed = seen.stableReplicaSets ?? (await kube.listReplicaSets(stableTarget.namespace, snapshot.selector));
        delete seen.stableReplicaSets;
        const owned = listed.filter((rs) => controllerOf(rs.metadata.ownerReferences)?.uid === snapshot.uid);
        stopIfCancelled();
        await Promise.all(owned.map((rs) => kube.deleteReplicaSet(stableTarget.namespace, rs.metadata.name, rs.metadata.uid)));
        done.push(`delete the stable ReplicaSets (${owned.map((rs) => rs.metadata.name).join(', ') || 'none'})`);
        break;
      }
      case 'handOver': {
        // A retried promotion that finds it handed over already (paused, on the new template with
        // every replica) writes nothing.
        const stable = seen.stable;
        const handedOver =
          stable !== undefined &&
          stable.metadata.uid === snapshot.uid &&
          stable.spec.paused === true &&
          (stable.spec.replicas ?? 1) === action.replicas &&
          templatesEqual(stable.spec.template, snapshot.newTemplate);
        if (!handedOver) seen.stable = await kube.handOver(stableTarget, snapshot.uid, snapshot.newTemplate, action.replicas);
        done.push(handedOver ? `stable has the new template and ${action.replicas} replicas` : `hand the new template and ${action.replicas} replicas to stable`);
        break;
      }
      case 'releaseCanary': {
        // Released already (being deleted, or gone): only the adoption is left to wait for.
        if (!seen.canaryReleased) await kube.deleteWorkload(canary, 'Orphan');
        done.push(seen.canaryReleased ? 'the canary ReplicaSet is released to stable' : 'release the canary ReplicaSet to stable');
        seen.canaryReleased = true;
        if (action.wait === false) break;
        // Adopted: the paused stable Deployment, which has no ReplicaSet of its own, counts the canary's pods.
        seen.stable = await waitForWorkload(kube, stableTarget, 'stable adopting the canary ReplicaSet', (w) => controllerObserved(w) && (w.status?.replicas ?? 0) === action.replicas);
        break;
      }
      case 'resumeStable': {
        const written = await kube.setPaused(stableTarget, false);
        done.push('resume stable');
        seen.stable = await waitStable(`stable ${action.replicas} ready`, action.replicas, written.metadata.generation ?? 0);
        break;
      }
      case 'takeBack':
        seen.stable = await kube.takeBack(stableTarget, snapshot.uid, snapshot.oldTemplate, action.replicas);
        done.push(`take stable back to the old template with ${action.replicas} replicas`);
        break;
      case 'deleteCanary':
        await kube.deleteWorkload(canary);
        done.push('delete the canary');
        break;
    }
  }
  return done;
}

/**
 * A canary Deployment left by an ended rollout of an earlier AutoCrane, whose selector was
 * narrowed by a label: a selector cannot be changed, so it is deleted (with its pods, which the
 * stable Deployment never counted) before this rollout's canary is applied.
 */
async function removeForeignCanary(kube: RolloutKube, stable: WorkloadJson): Promise<void> {
  const target: RolloutTarget = { namespace: stable.metadata.namespace, kind: 'Deployment', name: stable.metadata.name };
  const canary = await kube.readWorkloadIfExists(canaryTarget(target));
  if (canary === null || templatesEqual(canary.spec.selector, stable.spec.selector)) return;
  currentContext()?.log.warn('deleting a canary Deployment whose selector is not the stable one', { canary: canary.metadata.name });
  await kube.deleteWorkload(canaryTarget(target));
  // Waited for briefly (prepareRollout has 30 s in all); a retry of the activity waits on.
  for (let i = 0; i < FOREIGN_CANARY_POLLS; i++) {
    if ((await kube.readWorkloadIfExists(canaryTarget(target))) === null) return;
    await sleep(POLL_MS);
  }
  throw ApplicationFailure.create({ type: 'CanaryStillDeleting', message: `the old canary Deployment ${canary.metadata.name} is still being deleted`, nonRetryable: false });
}

/**
 * During the stages (stable unpaused, on the old template), a crash between a planned shrink
 * and grow leaves fewer than the total: they go back to the stable Deployment. A crash between
 * a grow of the canary and the stable's shrink leaves more: once the canary's pods are ready
 * (the wait the crash cut short), the stable Deployment shrinks by the excess.
 */
async function ensureSumMatches(
  kube: RolloutKube,
  rolloutId: string,
  snapshot: RolloutSnapshot,
  state: DeploymentState,
  {
    gate,
    seen = {},
    deferShrink = false,
  }: ActionsOptions & {
    /** Leave the shrink of an excess to the caller (`owedStable`), to go out with its next write to the stable Deployment. */
    deferShrink?: boolean;
  } = {},
): Promise<{ state: DeploymentState; owedStable?: number }> {
  const missing = snapshot.replicas - state.canary - state.stable;
  if (missing === 0 || state.stablePaused || state.stableOnNewTemplate) return { state };
  if (missing < 0) {
    const pods = await waitForCanary(kube, rolloutId, snapshot, state.canary, 0, gate);
    if (pods !== null) seen.canaryPods = { replicas: state.canary, pods };
  }
  const stable = Math.max(0, state.stable + missing);
  if (missing < 0 && deferShrink) return { state: { ...state, stable }, owedStable: stable };
  stopIfCancelled();
  seen.stable = await kube.scale(snapshot.target, stable);
  return { state: { ...state, stable } };
}

// ---------------------------------------------------------------------------
// StatefulSets
// ---------------------------------------------------------------------------

/**
 * The StatefulSet once its controller has seen its current spec. Until then its
 * status.updateRevision is the revision from before a template change, which the old pods still
 * carry: read just after the new template was written, every pod would look updated.
 */
async function readObservedStatefulSet(kube: RolloutKube, target: RolloutTarget): Promise<WorkloadJson> {
  for (;;) {
    const sts = await kube.readWorkload(target);
    if (controllerObserved(sts)) return sts;
    stopIfCancelled();
    await sleep(POLL_MS / 5);
  }
}

async function statefulSetState(kube: RolloutKube, snapshot: RolloutSnapshot): Promise<{ sts: WorkloadJson; state: StatefulSetState; pods: PodJson[] }> {
  const sts = await readObservedStatefulSet(kube, snapshot.target);
  if (sts.metadata.uid !== snapshot.uid) throw nonRetryable('WorkloadReplaced', `${describeTarget(snapshot.target)} was deleted and recreated during the rollout`);
  const pods = await kube.listPods(snapshot.target.namespace, snapshot.selector);
  const onNew = templatesEqual(sts.spec.template, snapshot.newTemplate);
  const revision = sts.status?.updateRevision;
  const updated: number[] = [];
  const unready: number[] = [];
  for (const pod of pods) {
    const ordinal = ordinalOf(snapshot.target.name, pod.metadata.name);
    if (ordinal === null) continue;
    if (onNew && revision !== undefined && pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === revision) updated.push(ordinal);
    if (!isPodReady(pod)) unready.push(ordinal);
  }
  const info = snapshot.statefulSet ?? { strategy: 'RollingUpdate' as const, partition: 0 };
  return {
    sts,
    pods,
    state: {
      strategy: info.strategy,
      total: snapshot.replicas,
      updated,
      unready,
      ...(info.maxUnavailable === undefined ? {} : { maxUnavailable: info.maxUnavailable }),
    },
  };
}

/**
 * statefulSetState plus the pods not yet on the old template's revision. That revision is the
 * StatefulSet's updateRevision once its template is the old one again (`oldWritten`: this
 * activity has just written it); before, the one prepareRollout recorded; null if neither.
 */
async function statefulSetRollbackState(kube: RolloutKube, snapshot: RolloutSnapshot, oldWritten: boolean): Promise<StatefulSetRollbackState> {
  const { sts, state, pods } = await statefulSetState(kube, snapshot);
  const restored = oldWritten || templatesEqual(sts.spec.template, snapshot.oldTemplate);
  const oldRevision = restored ? sts.status?.updateRevision : snapshot.statefulSet?.oldRevision;
  const notRolledBack =
    oldRevision === undefined
      ? null
      : podsNotOnRevision(
          pods.map((p) => ({ ordinal: ordinalOf(snapshot.target.name, p.metadata.name), revision: p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] })),
          oldRevision,
          snapshot.replicas,
        );
  return { ...state, notRolledBack };
}

/**
 * Rolls a StatefulSet back (planStatefulSetRollback). Without the old template's revision, the
 * first plan only writes the old template; the revision Kubernetes then reports is the old
 * one, and the rollback is planned again from there.
 */
async function rollBackStatefulSet(kube: RolloutKube, snapshot: RolloutSnapshot): Promise<string[]> {
  const originalPartition = snapshot.statefulSet?.partition ?? 0;
  const done: string[] = [];
  let state = await statefulSetRollbackState(kube, snapshot, false);
  if (state.notRolledBack === null) {
    done.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetRollback(state, originalPartition))));
    state = await statefulSetRollbackState(kube, snapshot, true);
  }
  done.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetRollback(state, originalPartition))));
  return done;
}

async function statefulSetPodsSettled(kube: RolloutKube, snapshot: RolloutSnapshot, ordinals: readonly number[]): Promise<boolean> {
  const sts = await kube.readWorkload(snapshot.target);
  const s = sts.status ?? {};
  if (!controllerObserved(sts)) return false;
  const pods = await kube.listPods(snapshot.target.namespace, snapshot.selector);
  const byName = new Map(pods.map((p) => [p.metadata.name, p]));
  const wanted = ordinals.every((o) => {
    const pod = byName.get(statefulSetPodName(snapshot.target.name, o));
    return pod !== undefined && isPodReady(pod) && pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === s.updateRevision;
  });
  return wanted && pods.length === snapshot.replicas && pods.every(isPodReady);
}

async function runStatefulSetActions(kube: RolloutKube, snapshot: RolloutSnapshot, actions: StatefulSetAction[], gate?: { ctx: StageContext; expectedPods: number }): Promise<string[]> {
  const done: string[] = [];
  const rollingUpdate = (partition: number) => ({
    partition,
    ...(snapshot.statefulSet?.maxUnavailable === undefined ? {} : { maxUnavailable: snapshot.statefulSet.maxUnavailable }),
  });
  for (const action of actions) {
    stopIfCancelled();
    switch (action.kind) {
      case 'setTemplate':
        await kube.setTemplate(
          snapshot.target,
          snapshot.uid,
          action.template === 'new' ? snapshot.newTemplate : snapshot.oldTemplate,
          action.partition === null ? undefined : rollingUpdate(action.partition),
        );
        done.push(`set the ${action.template} template${action.partition === null ? '' : ` with partition ${action.partition}`}`);
        // Pods deleted next must be made from this template: the controller has to have seen it.
        await readObservedStatefulSet(kube, snapshot.target);
        break;
      case 'setPartition':
        await kube.setPartition(snapshot.target, action.partition);
        done.push(`set partition ${action.partition}`);
        break;
      case 'deletePods':
        for (const ordinal of action.ordinals) {
          stopIfCancelled();
          await kube.deletePod(snapshot.target.namespace, statefulSetPodName(snapshot.target.name, ordinal));
        }
        done.push(`delete pods ${action.ordinals.map((o) => statefulSetPodName(snapshot.target.name, o)).join(', ')}`);
        break;
      case 'waitReady':
        await waitFor(kube, `pods ${action.ordinals.join(',')} updated and ready`, () => statefulSetPodsSettled(kube, snapshot, action.ordinals), gate);
        break;
    }
  }
  return done;
}

// ---------------------------------------------------------------------------
// The activities
// ---------------------------------------------------------------------------

export interface RolloutActivityOptions {
  /** Deadline of one of the gate's own probes (the watchdog prober's, AUTOCRANE_PROBE_TIMEOUT_SECONDS). */
  probeTimeoutSeconds?: number;
}

export function createRolloutActivities(kc: KubeConfig, options: RolloutActivityOptions = {}) {
  const kube = new RolloutKube(kc);
  const shortKube = new RolloutKube(kc, SHORT_CALL_TIMEOUT_MS);
  // The gate's lists give up well within watchGate's heartbeat timeout's worth of retries: a
  // hung call must end the attempt rather than hold a watch that sees nothing.
  const gateKube = new RolloutKube(kc, GATE_CALL_TIMEOUT_MS);
  const probeTimeoutMs = (options.probeTimeoutSeconds ?? DEFAULTS.probeTimeoutSeconds) * 1000;
  let httpProber: HttpProber | undefined;
  const gateProber = new GateProber(() => (httpProber ??= createHttpProber({ timeoutMs: probeTimeoutMs })), probeTimeoutMs);

  // A write the apiserver refuses as invalid would be refused on every retry.
  const guard = <T>(action: string, fn: () => Promise<T>): Promise<T> => guardActivity(action, fn, { refusedAs: INVALID_CHANGE });

  return {
    /**
     * Reads the target, marks it as under rollout and creates the canary (Deployment). With
     * beginFirstStage, a canary whose first stage needs no scale-down of the stable Deployment
     * first (within maxSurge) is created at that stage's count, so its pods start while the
     * workflow goes on to stage 1; the stable Deployment is not touched, so a retry reads the
     * same total and writes the same canary again.
     */
    async prepareRollout(input: { rolloutId: string; spec: RolloutSpec; beginFirstStage?: boolean }): Promise<RolloutSnapshot> {
      const { target, change } = input.spec;
      return guard(`prepare the rollout of ${describeTarget(target)}`, async () => {
        let workload: WorkloadJson;
        try {
          workload = await shortKube.readWorkload(target);
        } catch (err) {
          if ((err as { code?: number }).code === 404) throw nonRetryable('TargetNotFound', `${describeTarget(target)} not found`);
          throw err;
        }
        const matchLabels = workload.spec.selector.matchLabels ?? {};
        // A retry after the StatefulSet template was already written: the old template is gone
        // from the object, but the annotation says this rollout wrote it.
        const changed = checkTemplateChange(workload.spec.template, matchLabels, change, describeTarget(target));
        if (!changed.ok) throw nonRetryable(INVALID_CHANGE, [...new Set(changed.problems.map((p) => p.message))].join('; '));
        const refused = target.kind === 'StatefulSet' ? statefulSetRefusal(workload.spec) : null;
        if (refused !== null) throw nonRetryable(INVALID_CHANGE, `${describeTarget(target)}: ${refused}`);
        const held = workload.metadata.annotations?.[ROLLOUT_ANNOTATION];
        if (held !== undefined && held !== input.rolloutId) {
          currentContext()?.log.warn('taking over the rollout annotation of an ended rollout', { previous: held, rolloutId: input.rolloutId });
        }
        // The check for a foreign canary below touches nothing of the target's, so it need not
        // wait for the annotation to land.
        const annotated = shortKube.setRolloutAnnotation(target, input.rolloutId);
        const snapshot: RolloutSnapshot = {
          target,
          uid: workload.metadata.uid,
          replicas: workload.spec.replicas ?? 1,
          selector: matchLabels,
          oldTemplate: workload.spec.template,
          newTemplate: changed.template,
        };
        if (target.kind === 'Deployment') {
          snapshot.deploymentStrategy = workload.spec.strategy ?? {};
          await Promise.all([annotated, removeForeignCanary(shortKube, workload)]);
          const begin = input.beginFirstStage ? canaryAtPreparation(resolveStageCounts(input.spec.stages, snapshot.replicas)[0]!, snapshot.replicas, snapshot.deploymentStrategy) : 0;
          await shortKube.applyCanary(workload, input.rolloutId, changed.template, begin);
          if (begin > 0) snapshot.firstStageBegun = [`create the canary with ${begin} replicas`];
        } else {
          await annotated;
          const strategy = workload.spec.updateStrategy?.type === 'OnDelete' ? 'OnDelete' : 'RollingUpdate';
          const rolling = workload.spec.updateStrategy?.rollingUpdate;
          // status.updateRevision is the current template's revision once the controller has
          // observed the spec (it has, but for a template written moments ago).
          const oldRevision = controllerObserved(workload) ? workload.status?.updateRevision : undefined;
          snapshot.statefulSet = {
            strategy,
            partition: rolling?.partition ?? 0,
            ...(rolling?.maxUnavailable === undefined ? {} : { maxUnavailable: rolling.maxUnavailable }),
            ...(oldRevision === undefined ? {} : { oldRevision }),
          };
        }
        return snapshot;
      });
    },

    /**
     * Moves the workload to `count` replicas on the new template, watching the gate's error
     * check and deadline while it waits. With `gateAfterScaling` (a stage without bake), the
     * gate is evaluated once more as a bake of 0 s that began when the scaling finished, so a
     * stage that passes then needs no watchGate activity and workflow task of its own.
     */
    async advanceStage(input: StageContext & { count: number; gateAfterScaling?: boolean; nextCount?: number; beginPromotion?: boolean }): Promise<StageOutcome> {
      const { snapshot } = input;
      const gate = { ctx: input, expectedPods: input.count };
      const actions: string[] = [];
      return guard(`advance ${describeTarget(snapshot.target)} to ${input.count} updated replicas`, async () => {
        const seen: Seen = {};
        // With the next step to begin once the gate passes, the stage's last scale-down (the one
        // not waited for) is held until the gate's verdict: if it passes, the next step's first
        // write to the stable Deployment makes it (withOwedScaleDown); otherwise it goes out then.
        const begins = stepBegunEarly(snapshot.target.kind, input);
        const beginsNext = begins !== null;
        let owed: DeploymentAction | undefined;
        const writeOwed = async (): Promise<string[]> => {
          const action = owed;
          owed = undefined;
          return action ? runDeploymentActions(kube, input.rolloutId, snapshot, [action], { seen }) : [];
        };
        try {
          if (snapshot.target.kind === 'Deployment') {
            const { state } = await observeDeployment(kube, snapshot);
            const fixed = await ensureSumMatches(kube, input.rolloutId, snapshot, state, { gate, seen, deferShrink: beginsNext });
            if (fixed.owedStable !== undefined) owed = { kind: 'scale', workload: 'stable', replicas: fixed.owedStable, wait: false };
            const plan = planDeploymentStage(fixed.state, input.count, snapshot.replicas, snapshot.deploymentStrategy);
            if (plan.length > 0) actions.push(...(await writeOwed()));
            // A last scale-down is not waited for: it goes out alongside the gate's check below.
            const last = plan.at(-1);
            const shrinkLast = last?.kind === 'scale' && !last.wait;
            actions.push(...(await runDeploymentActions(kube, input.rolloutId, snapshot, shrinkLast ? plan.slice(0, -1) : plan, { gate, seen })));
            if (shrinkLast) owed = last;
          } else {
            let { sts, state } = await statefulSetState(kube, snapshot);
            if (!templatesEqual(sts.spec.template, snapshot.newTemplate)) {
              actions.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetStart(state.strategy, snapshot.replicas))));
              ({ sts, state } = await statefulSetState(kube, snapshot));
            }
            actions.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetStage(state, input.count), gate)));
          }
          // Settled is not enough: the gate's own check of the updated pods must not fail either.
          // The pods the canary's wait watched become ready are the ones a list would return now.
          const finishedAt = new Date().toISOString();
          const watched = seen.canaryPods?.replicas === input.count ? seen.canaryPods.pods : undefined;
          const holdOwed = beginsNext && owed?.kind === 'scale' && owed.workload === 'stable';
          const [result, trailed] = await Promise.all([
            checkGate(kube, input, input.count, { startedAt: input.gateAfterScaling ? finishedAt : null, seconds: 0 }, { watched, ...(input.gateAfterScaling ? { prober: gateProber } : {}) }),
            holdOwed ? [] : writeOwed(),
          ]);
          actions.push(...trailed);
          const passed = input.gateAfterScaling === true && result.verdict === 'pass';
          if (!passed) actions.push(...(await writeOwed()));
          if (result.verdict === 'fail') throw new GateFailure(result);
          if (passed) {
            const gatePassed = toWatchGateResult(result, 'pass');
            if (begins === null) return { outcome: 'done', actions, finishedAt, gatePassed };
            const now = { canary: input.count, stable: snapshot.replicas - input.count };
            const start =
              begins.step === 'stage'
                ? planDeploymentStageStart(now, begins.count, snapshot.replicas, snapshot.deploymentStrategy)
                : planDeploymentPromotionStart({ ...now, stablePaused: false, stableOnNewTemplate: false, canaryExists: true }, snapshot.replicas, snapshot.deploymentStrategy);
            const begin = withOwedScaleDown(start, owed);
            owed = undefined;
            const nextStarted = await runDeploymentActions(kube, input.rolloutId, snapshot, begin);
            return { outcome: 'done', actions, finishedAt, gatePassed, nextStarted };
          }
          return { outcome: 'done', actions, finishedAt };
        } catch (err) {
          if (err instanceof GateFailure) return { outcome: 'gate-failed', actions, reason: err.result.reason, erroring: err.result.erroring.map((e) => e.pod) };
          throw err;
        }
      });
    },

    /**
     * Watches the stage's updated pods until the gate passes (bake over, pods ready and clean)
     * or fails. With holdAfterPass it goes on watching until cancelled, so a pod that turns to
     * error while the rollout is paused or awaits approval still fails the gate.
     */
    async watchGate(input: WatchGateInput): Promise<WatchGateResult> {
      return guard(`watch the gate of ${describeTarget(input.snapshot.target)}`, async () => {
        // The stage's settling as seen so far (a blip during the bake holds the gate rather
        // than failing it at once: see evaluateGate), kept across polls, attempts and holds.
        const settle = { memory: initialSettleMemory(input, currentContext()?.info.heartbeatDetails) };
        // Heartbeats on a timer, with the latest details (the settle memory among them), so a
        // slow list or probe never looks like a dead worker, and a dead worker is noticed in 3 s.
        let latest: RolloutHeartbeat = { updated: 0, ready: 0, erroring: [], step: 'watching the gate', ...(settle.memory ? { settle: settle.memory } : {}) };
        heartbeat(latest);
        const ticker = setInterval(() => heartbeat(latest), GATE_HEARTBEAT_MS);
        const report = (details: RolloutHeartbeat) => {
          latest = details;
          heartbeat(details);
        };
        try {
          for (;;) {
            const result = await checkGate(gateKube, input, input.expectedPods, { startedAt: input.bakeStartedAt, seconds: input.bakeSeconds }, { settle, prober: gateProber, report });
            if (result.verdict === 'fail' || (result.verdict === 'pass' && !input.holdAfterPass)) {
              return toWatchGateResult(result, result.verdict);
            }
            await sleep(POLL_MS);
          }
        } finally {
          clearInterval(ticker);
          rememberSettle(input, settle.memory);
        }
      });
    },

    /**
     * Puts every replica on the new template (the stable workload itself), removes the canary,
     * and then the rollout annotation (`released`), so that a successful rollout needs no
     * finishRollout activity and workflow task of its own.
     */
    async promoteRollout(input: StageContext): Promise<{ actions: string[]; released: boolean }> {
      const { snapshot } = input;
      return guard(`promote ${describeTarget(snapshot.target)}`, async () => {
        let actions: string[];
        let settledStable: WorkloadJson | undefined;
        if (snapshot.target.kind === 'Deployment') {
          const { state, stable } = await observeDeployment(kube, snapshot);
          const seen: Seen = { stable, canaryReleased: !state.canaryExists };
          const fixed = await ensureSumMatches(kube, input.rolloutId, snapshot, state, { seen });
          actions = await runDeploymentActions(kube, input.rolloutId, snapshot, planDeploymentPromotion(fixed.state, snapshot.replicas, snapshot.deploymentStrategy), { seen });
          // The stable Deployment as the wait for it to settle left it, moments ago.
          settledStable = seen.stable;
        } else {
          const { state } = await statefulSetState(kube, snapshot);
          actions = await runStatefulSetActions(kube, snapshot, planStatefulSetPromotion(state, snapshot.statefulSet?.partition ?? 0));
        }
        await releaseTarget(kube, input.rolloutId, snapshot.target, settledStable);
        return { actions, released: true };
      });
    },

    /** Restores the old template everywhere and waits until every pod is back and ready. */
    async rollbackRollout(input: { rolloutId: string; snapshot: RolloutSnapshot }): Promise<{ actions: string[] }> {
      const { snapshot } = input;
      return guard(`roll back ${describeTarget(snapshot.target)}`, async () => {
        if (snapshot.target.kind === 'Deployment') {
          let observed = await observeDeployment(kube, snapshot);
          const { state } = observed;
          if (state.canary + state.stable > snapshot.replicas && !state.stablePaused && !state.stableOnNewTemplate) {
            // A crash between a grow and its shrink. If the stable Deployment grew (an earlier
            // rollback attempt), its pods (the old template) are waited for; the canary then
            // gives up the excess, unready pods first (planDeploymentRollback).
            await waitForWorkload(kube, snapshot.target, `stable ${state.stable} ready`, (w) => deploymentSettled(w, state.stable));
            observed = await observeDeployment(kube, snapshot);
          }
          const plan = planDeploymentRollback({ ...observed.state, canaryReady: Math.min(observed.canaryReady, observed.state.canary) }, snapshot.replicas, snapshot.deploymentStrategy);
          return { actions: await runDeploymentActions(kube, input.rolloutId, snapshot, plan) };
        }
        return { actions: await rollBackStatefulSet(kube, snapshot) };
      });
    },

    /** Removes the rollout annotation, if it is still this rollout's. */
    async finishRollout(input: { rolloutId: string; target: RolloutTarget }): Promise<void> {
      return guard(`release ${describeTarget(input.target)}`, () => releaseTarget(shortKube, input.rolloutId, input.target));
    },
  };
}

export type RolloutActivities = ReturnType<typeof createRolloutActivities>;

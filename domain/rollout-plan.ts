/**
 * Stage arithmetic: how many replicas each stage puts on the new template, and the ordered
 * Kubernetes actions that move a workload between stages, promote it and roll it back while
 * ready pods stay at or above replicas − maxUnavailable (the workload's own promise).
 *
 * Deployments (a canary Deployment carries the new template; the stable one shrinks):
 *  - Replicas move between the two in chunks. A chunk of `a` replicas uses surge first: the
 *    receiver grows by `a` and, once its new pods are ready, the giver shrinks by `a`. Only
 *    when `a` exceeds maxSurge does the giver shrink first, by `a − maxSurge` ≤ maxUnavailable.
 *    Only growth is waited for: a scale-down can only lower the pod count, so the next step
 *    starts at once (ready pods are then at least what the bound counts on). So the replicas
 *    asked for never exceed R + maxSurge (counted by spec, as Kubernetes' own Deployment
 *    controller counts them: a pod being scaled away may linger a moment) and ready pods never
 *    drop below R − maxUnavailable (R: the stable Deployment's replicas when the rollout
 *    began). Pods that are terminating are not counted, as Kubernetes does not count them.
 *  - The canary Deployment has the stable one's selector and exactly the new template (no
 *    label of its own: its pods are told apart by their ReplicaSet), so that promotion can hand
 *    its ReplicaSet, pods and all, to the stable Deployment without starting a pod:
 *      1. the replicas still on the stable Deployment move to the canary (a stage to 100%,
 *         nothing when the last stage was 100%);
 *      2. pause the stable Deployment (now at 0 replicas);
 *      3. delete its ReplicaSets (all at 0). Paused, Kubernetes scales the one active
 *         ReplicaSet to spec.replicas, or with none active the newest old one: step 4 would
 *         otherwise start every replica again on the old template;
 *      4. hand over: the stable Deployment gets the new template and every replica, in one
 *         write that checks it is paused (paused, with no ReplicaSet, it starts nothing);
 *      5. release the canary: delete the canary Deployment with propagationPolicy Orphan. Its
 *         ReplicaSet, now without owner and matching the stable selector, is adopted by the
 *         stable Deployment, which takes it as its new ReplicaSet (its template equals the
 *         Deployment's but for pod-template-hash); wait until the stable Deployment counts
 *         every replica;
 *      6. resume the stable Deployment and wait until every pod is updated and ready.
 *    No pod is created or deleted, so the bound holds trivially. Each step is idempotent and
 *    the state after each one can be told from the cluster (stable paused or not, stable
 *    template new or old, canary Deployment present or not), so a retried activity picks up
 *    where the last attempt stopped. Should the templates not compare equal after all, the
 *    adopted ReplicaSet is an old one and step 6 has Kubernetes roll the stable Deployment
 *    with its own budget: slower, still within the bound.
 *  - Rollback: canary pods that are not ready go first (a ReplicaSet removes not-ready pods
 *    first when scaled down, and they do not count towards the bound), and so does any excess
 *    over the total that a crash between a grow and its shrink left; then replicas move
 *    from canary to stable in chunks; then the canary is deleted. Ready pods stay at or above
 *    the bound (or what is left of them, when unready canary pods already broke it). From a
 *    promotion under way: a paused stable Deployment on the old template is resumed first;
 *    one handed over while the canary still exists is taken back (old template, the replicas
 *    it had, resumed: one write, starting nothing since it has no pods); one that has adopted
 *    the canary's ReplicaSet gets the old template back, and Kubernetes rolls it with its
 *    own budget (a Deployment promoted by an earlier AutoCrane, whose stable Deployment rolled
 *    to the new template itself, is restored the same way). In that last case, unready
 *    updated pods and Kubernetes' own maxUnavailable may add up.
 *  - maxSurge/maxUnavailable are resolved exactly like Kubernetes (ResolveFenceposts): surge
 *    percentages round up, unavailable percentages round down, and when both come to 0,
 *    maxUnavailable is 1. Recreate means maxSurge 0 and maxUnavailable R (Kubernetes stops
 *    every pod at once for it), so AutoCrane may then do the same.
 *
 * StatefulSets (ordinal order, highest first, like Kubernetes):
 *  - RollingUpdate: the new template is written together with partition = R, which updates no
 *    pod; a stage of k updated pods sets partition = R − k. Kubernetes replaces the pods one at
 *    a time (or maxUnavailable with its feature gate), keeping its own bound. Promotion sets
 *    partition 0, then restores the partition the StatefulSet had before.
 *  - OnDelete: a stage of k deletes the pods with ordinals R−k..R−1 that are not updated yet,
 *    highest first, in batches of maxUnavailable (default 1), each batch waited for; pods
 *    that are not ready go in the first batch, as deleting them costs no availability.
 *  - Rollback restores the old template (with partition 0), deletes the pods not yet rolled
 *    back that are not ready (Kubernetes does not replace a stuck pod by itself, see "Forced
 *    rollback" in the StatefulSet documentation), deletes the rest too for OnDelete (in
 *    batches), waits until every pod runs the old template and is ready, and restores the
 *    original partition. A pod is not yet rolled back when its controller-revision-hash is not
 *    the old template's revision (whatever template the StatefulSet has now: a retried
 *    rollback finds the old template already written and the pods still to do). When that
 *    revision is not known (a snapshot from before it was recorded, and the template not yet
 *    restored), the plan only writes the old template: the revision Kubernetes then gives it is
 *    the old one, and the caller plans again.
 *  - Ordinals here run from 0 to R−1: a StatefulSet whose spec.ordinals.start is not 0 is
 *    refused (statefulSetRefusal) rather than rolled out on the wrong pods.
 *
 * Pure: no I/O, safe to import from workflows.
 */
import type { StageReplicas } from './rollout-spec';

// ---------------------------------------------------------------------------
// int-or-percent, as Kubernetes resolves it
// ---------------------------------------------------------------------------

/** An IntOrString as found in a Kubernetes object: 3 or "25%". */
export type IntOrPercent = number | string;

const PERCENT_VALUE = /^([0-9]+)%$/;

/**
 * Kubernetes' GetScaledValueFromIntOrPercent: an integer as is; "N%" of `total`, rounded up
 * or down. Throws RangeError for anything else (what the API server would not have accepted).
 */
export function scaledValue(value: IntOrPercent, total: number, roundUp: boolean): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`invalid int-or-percent ${value}: expected a whole number ≥ 0`);
    return value;
  }
  const match = PERCENT_VALUE.exec(value);
  if (match === null) throw new RangeError(`invalid int-or-percent '${value}': expected a whole number or a percentage like '25%'`);
  const scaled = (Number(match[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

export interface DeploymentBudget {
  maxSurge: number;
  maxUnavailable: number;
}

/** Kubernetes' ResolveFenceposts: surge rounds up, unavailable down; both 0 → maxUnavailable 1. */
export function resolveFenceposts(maxSurge: IntOrPercent | undefined, maxUnavailable: IntOrPercent | undefined, replicas: number): DeploymentBudget {
  const surge = scaledValue(maxSurge ?? 0, replicas, true);
  const unavailable = scaledValue(maxUnavailable ?? 0, replicas, false);
  return { maxSurge: surge, maxUnavailable: surge === 0 && unavailable === 0 ? 1 : unavailable };
}

/** The part of a Deployment's spec.strategy that matters here. */
export interface DeploymentStrategy {
  type?: string;
  rollingUpdate?: { maxSurge?: IntOrPercent; maxUnavailable?: IntOrPercent };
}

/** The API server's default for a missing maxSurge or maxUnavailable of a RollingUpdate Deployment. */
export const DEFAULT_ROLLING_UPDATE = { maxSurge: '25%', maxUnavailable: '25%' } as const;

/** A Deployment's maxSurge and maxUnavailable at `replicas` (see the module comment for Recreate). */
export function deploymentBudget(strategy: DeploymentStrategy | undefined, replicas: number): DeploymentBudget {
  if (strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: replicas };
  const rolling = strategy?.rollingUpdate;
  return resolveFenceposts(rolling?.maxSurge ?? DEFAULT_ROLLING_UPDATE.maxSurge, rolling?.maxUnavailable ?? DEFAULT_ROLLING_UPDATE.maxUnavailable, replicas);
}

/** A StatefulSet's maxUnavailable as Kubernetes resolves it: default 1, percentages round down, at least 1. */
export function statefulSetMaxUnavailable(value: IntOrPercent | undefined, replicas: number): number {
  return Math.max(1, scaledValue(value ?? 1, replicas, false));
}

// ---------------------------------------------------------------------------
// Shares (here rather than in rollout-spec so that workflows importing plans do not load zod)
// ---------------------------------------------------------------------------

export type Share = { unit: 'percent'; value: number } | { unit: 'count'; value: number };

/** A stage's share as a unit and a number ("25%" → percent 25; 3 → count 3). Input must be valid. */
export function parseShare(replicas: StageReplicas): Share {
  return typeof replicas === 'number' ? { unit: 'count', value: replicas } : { unit: 'percent', value: Number(replicas.slice(0, -1)) };
}

/** "25%" or "3 replicas" (or "1 replica"). */
export function formatShare(replicas: StageReplicas): string {
  if (typeof replicas === 'string') return replicas;
  return `${replicas} ${replicas === 1 ? 'replica' : 'replicas'}`;
}

// ---------------------------------------------------------------------------
// Stage counts
// ---------------------------------------------------------------------------

/** Replicas on the new template for a stage share: percentages round up; at least 1, at most `total`. */
export function stageUpdatedCount(replicas: StageReplicas, total: number): number {
  if (total <= 0) return 0;
  const share = parseShare(replicas);
  const count = share.unit === 'percent' ? Math.ceil((share.value * total) / 100) : share.value;
  return Math.min(total, Math.max(1, count));
}

/**
 * Each stage's count of replicas on the new template. A stage never goes below the one before
 * (a count followed by a smaller percentage keeps the count), since stages only move forward.
 */
export function resolveStageCounts(stages: readonly { replicas: StageReplicas }[], total: number): number[] {
  const counts: number[] = [];
  for (const stage of stages) counts.push(Math.max(counts[counts.length - 1] ?? 0, stageUpdatedCount(stage.replicas, total)));
  return counts;
}

// ---------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------

export type DeploymentWorkload = 'canary' | 'stable';

export type DeploymentAction =
  /**
   * Set the workload's replicas. wait: then wait until it has exactly `replicas` pods, all
   * ready and on its current template; without wait, go on at once.
   */
  | { kind: 'scale'; workload: DeploymentWorkload; replicas: number; wait: boolean }
  /** Give the stable Deployment the old template back and wait until Kubernetes has rolled it and every pod is ready. */
  | { kind: 'setStableTemplate'; template: 'old' }
  /**
   * Promotion step 2: set spec.paused on the stable Deployment; with `replicas`, its last
   * scale-down (to 0) goes out in the same write (a scale-down owed by the last stage).
   */
  | { kind: 'pauseStable'; replicas?: number }
  /** Promotion step 3: delete the ReplicaSets the paused stable Deployment owns (it must be at 0 replicas). */
  | { kind: 'deleteStableReplicaSets' }
  /** Promotion step 4: the paused stable Deployment gets the new template and `replicas`, in one write. */
  | { kind: 'handOver'; replicas: number }
  /**
   * Promotion step 5: orphan-delete the canary Deployment; wait until it is gone and the stable
   * Deployment counts `replicas` pods (unless wait is false: promotion begun early, whose own
   * activity then waits).
   */
  | { kind: 'releaseCanary'; replicas: number; wait?: false }
  /** Unpause the stable Deployment and wait until it has `replicas` pods, all updated and ready. */
  | { kind: 'resumeStable'; replicas: number }
  /** Rollback of a hand-over: the paused stable Deployment gets the old template, `replicas` and is resumed, in one write. */
  | { kind: 'takeBack'; replicas: number }
  | { kind: 'deleteCanary' };

export interface DeploymentCounts {
  canary: number;
  stable: number;
}

/**
 * Moves `amount` replicas from `giver` to `receiver`, surge first (see the module comment).
 * `counts` is updated as the actions are planned.
 */
function moveReplicas(counts: DeploymentCounts, giver: DeploymentWorkload, amount: number, budget: DeploymentBudget): DeploymentAction[] {
  const receiver: DeploymentWorkload = giver === 'canary' ? 'stable' : 'canary';
  const chunkSize = Math.max(1, budget.maxSurge + budget.maxUnavailable);
  const actions: DeploymentAction[] = [];
  let left = amount;
  while (left > 0) {
    const chunk = Math.min(left, chunkSize);
    const first = Math.max(0, chunk - budget.maxSurge);
    if (first > 0) {
      counts[giver] -= first;
      actions.push({ kind: 'scale', workload: giver, replicas: counts[giver], wait: false });
    }
    counts[receiver] += chunk;
    actions.push({ kind: 'scale', workload: receiver, replicas: counts[receiver], wait: true });
    if (chunk > first) {
      counts[giver] -= chunk - first;
      // Not waited for: a scale-down only lowers the pod count (see the module comment).
      actions.push({ kind: 'scale', workload: giver, replicas: counts[giver], wait: false });
    }
    left -= chunk;
  }
  return actions;
}

/**
 * The actions taking a Deployment rollout from `current` (canary + stable = total) to
 * `canaryTarget` replicas on the canary. The canary must exist (with 0 replicas at first).
 */
export function planDeploymentStage(current: DeploymentCounts, canaryTarget: number, total: number, strategy: DeploymentStrategy | undefined): DeploymentAction[] {
  checkCounts(current, total);
  if (!Number.isInteger(canaryTarget) || canaryTarget < 0 || canaryTarget > total) {
    throw new RangeError(`canary target ${canaryTarget} is outside 0..${total}`);
  }
  const counts = { ...current };
  const budget = deploymentBudget(strategy, total);
  const delta = canaryTarget - current.canary;
  return delta >= 0 ? moveReplicas(counts, 'stable', delta, budget) : moveReplicas(counts, 'canary', -delta, budget);
}

/**
 * The writes that begin the move to `canaryTarget`, for a stage without bake whose gate has
 * just passed: planDeploymentStage's actions up to its first scale-up, which is not waited
 * for. The next stage's activity then finds the canary grown past the total, waits for its
 * pods and shrinks the stable Deployment (the path of a crash between a grow and its shrink),
 * so the next stage's pods start while the workflow is still recording the last stage's
 * verdict. Empty when the move has no scale-up (nothing is gained by starting it early).
 */
export function planDeploymentStageStart(current: DeploymentCounts, canaryTarget: number, total: number, strategy: DeploymentStrategy | undefined): DeploymentAction[] {
  const plan = planDeploymentStage(current, canaryTarget, total, strategy);
  return beginThrough(plan, plan.findIndex((a) => a.kind === 'scale' && a.wait));
}

/**
 * The canary's replicas when the rollout is prepared: stage 1's count when its first chunk is
 * a growth of the canary alone (within maxSurge, no scale-down of the stable Deployment first),
 * so its pods start at once and a retried preparation, finding the stable Deployment as it
 * was, writes the same; 0 otherwise.
 */
export function canaryAtPreparation(firstCount: number, total: number, strategy: DeploymentStrategy | undefined): number {
  const start = planDeploymentStageStart({ canary: 0, stable: total }, firstCount, total, strategy);
  const only = start.length === 1 ? start[0] : undefined;
  return only?.kind === 'scale' && only.workload === 'canary' ? only.replicas : 0;
}

/**
 * The writes that begin the next step (`start`) with a scale-down the stage still owes folded
 * in (`owed`: the stage's last one, not waited for, held while its gate was evaluated). `start`
 * was planned from the counts `owed` leads to, so a first scale-down of the same workload in it
 * takes that workload further, and a first pause of the stable Deployment can carry it in the
 * same write; otherwise `owed` goes first. The workloads pass through no count that `owed` and
 * then `start` would not, in one write fewer.
 */
export function withOwedScaleDown(start: DeploymentAction[], owed: DeploymentAction | undefined): DeploymentAction[] {
  if (owed === undefined) return start;
  if (owed.kind !== 'scale' || owed.wait) throw new RangeError(`only a scale-down not waited for can be owed, not ${JSON.stringify(owed)}`);
  const first = start[0];
  if (first?.kind === 'scale' && first.workload === owed.workload && !first.wait && first.replicas <= owed.replicas) return start;
  if (first?.kind === 'pauseStable' && first.replicas === undefined && owed.workload === 'stable') return [{ ...first, replicas: owed.replicas }, ...start.slice(1)];
  return [owed, ...start];
}

/** `plan` up to and including `last`, whose wait is dropped: the early start of a step (empty when last < 0). */
function beginThrough(plan: DeploymentAction[], last: number): DeploymentAction[] {
  if (last < 0) return [];
  return plan.slice(0, last + 1).map((a, i) => (i === last && (a.kind === 'scale' || a.kind === 'releaseCanary') ? { ...a, wait: false as const } : a));
}

/** A Deployment rollout as observed: each workload's spec.replicas, and how far a promotion went. */
export interface DeploymentState extends DeploymentCounts {
  /** spec.paused of the stable Deployment. */
  stablePaused: boolean;
  /** The stable Deployment's template is no longer the old one (a promotion handed it over, or an earlier AutoCrane rolled it). */
  stableOnNewTemplate: boolean;
  /** The canary Deployment exists and is not being deleted (canary is 0 otherwise). */
  canaryExists: boolean;
}

/**
 * The actions ending a Deployment rollout: the stable Deployment takes the canary's
 * ReplicaSet over as it is (see the module comment), from wherever an earlier attempt stopped.
 */
export function planDeploymentPromotion(state: DeploymentState, total: number, strategy: DeploymentStrategy | undefined): DeploymentAction[] {
  checkState(state, total);
  const handOver: DeploymentAction[] = [
    { kind: 'handOver', replicas: total },
    { kind: 'releaseCanary', replicas: total },
    { kind: 'resumeStable', replicas: total },
  ];
  if (!state.stableOnNewTemplate) {
    checkCounts(state, total);
    const counts: DeploymentCounts = { canary: state.canary, stable: state.stable };
    const actions: DeploymentAction[] = [];
    let paused = state.stablePaused;
    if (counts.stable > 0) {
      // Replicas left on the stable Deployment (a last stage under 100%) go to the canary first.
      if (paused) actions.push({ kind: 'resumeStable', replicas: counts.stable });
      paused = false;
      actions.push(...moveReplicas(counts, 'stable', counts.stable, deploymentBudget(strategy, total)));
    }
    if (!paused) actions.push({ kind: 'pauseStable' });
    return [...actions, { kind: 'deleteStableReplicaSets' }, ...handOver];
  }
  if (state.stablePaused) return handOver; // handed over, maybe released: both steps are idempotent
  if (state.canaryExists) {
    // Promoted the way an earlier AutoCrane did: the stable Deployment rolled to the new
    // template itself; replicas move back from the canary in chunks.
    checkCounts(state, total);
    return [...moveReplicas({ canary: state.canary, stable: state.stable }, 'canary', state.canary, deploymentBudget(strategy, total)), { kind: 'deleteCanary' }];
  }
  return [{ kind: 'resumeStable', replicas: total }]; // done: only wait until it is settled
}

/**
 * The promotion steps a last stage without bake or approval takes as its gate passes, when
 * promotion starts no pod (the last stage was 100%): pause, drop the empty ReplicaSets, hand
 * over, release the canary, without waiting for the adoption, which Kubernetes then does
 * while the workflow records the verdict. The promotion activity finds the cluster at step 5
 * and goes on from there. Empty when replicas would still have to move.
 */
export function planDeploymentPromotionStart(state: DeploymentState, total: number, strategy: DeploymentStrategy | undefined): DeploymentAction[] {
  const plan = planDeploymentPromotion(state, total, strategy);
  const release = plan.findIndex((a) => a.kind === 'releaseCanary');
  return plan.slice(0, release).some((a) => a.kind === 'scale') ? [] : beginThrough(plan, release);
}

export interface DeploymentRollbackState extends DeploymentState {
  /** Canary pods that are ready now (≤ canary). */
  canaryReady: number;
}

/** The actions restoring the stable Deployment (old template, every replica) and deleting the canary. */
export function planDeploymentRollback(state: DeploymentRollbackState, total: number, strategy: DeploymentStrategy | undefined): DeploymentAction[] {
  checkState(state, total);
  if (!Number.isInteger(state.canaryReady) || state.canaryReady < 0 || state.canaryReady > state.canary) {
    throw new RangeError(`canaryReady ${state.canaryReady} is outside 0..${state.canary}`);
  }
  const actions: DeploymentAction[] = [];
  let stableOnNewTemplate = state.stableOnNewTemplate;
  let stable = state.stable;
  if (state.stablePaused) {
    if (!stableOnNewTemplate) {
      actions.push({ kind: 'resumeStable', replicas: stable });
    } else if (state.canaryExists) {
      // Handed over, not released: the stable Deployment has no pod of its own yet.
      stable = total - state.canary;
      stableOnNewTemplate = false;
      actions.push({ kind: 'takeBack', replicas: stable });
    } else {
      // Released: the stable Deployment owns (or is adopting) the canary's pods.
      actions.push({ kind: 'releaseCanary', replicas: total }, { kind: 'resumeStable', replicas: total });
    }
  }
  const counts: DeploymentCounts = { canary: state.canary, stable };
  // More than the total: a crash between a grow and its shrink. The canary gives up the excess
  // (the caller waited until the stable Deployment's pods were ready, if it was the one that grew).
  const keep = Math.min(state.canaryReady, Math.max(0, total - counts.stable));
  if (keep < counts.canary) {
    counts.canary = keep;
    // No wait: the pods left may flap, and the ready count is not lowered by this step
    // (a ReplicaSet removes its pods that are not ready first).
    actions.push({ kind: 'scale', workload: 'canary', replicas: counts.canary, wait: false });
  }
  if (stableOnNewTemplate) actions.push({ kind: 'setStableTemplate', template: 'old' });
  // Unready canary pods removed above are given back to the stable Deployment too.
  const budget = deploymentBudget(strategy, total);
  const missing = total - counts.canary - counts.stable;
  if (missing > 0) {
    counts.stable += missing;
    actions.push({ kind: 'scale', workload: 'stable', replicas: counts.stable, wait: true });
  }
  actions.push(...moveReplicas(counts, 'canary', counts.canary, budget), { kind: 'deleteCanary' });
  return actions;
}

function checkState(state: DeploymentState, total: number): void {
  checkCounts(state, total, true, true);
  if (!state.canaryExists && state.canary !== 0) throw new RangeError(`canary replicas ${state.canary} without a canary Deployment`);
}

/**
 * Counts are whole numbers ≥ 0 that add up to `total` (`atMost`: to at most `total`, as a crash
 * between a shrink and a grow leaves them; `any`: each at most `total`, as during a hand-over).
 */
function checkCounts(counts: DeploymentCounts, total: number, atMost = false, any = false): void {
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`total replicas ${total} must be a whole number ≥ 0`);
  for (const workload of ['canary', 'stable'] as const) {
    const n = counts[workload];
    if (!Number.isInteger(n) || n < 0 || (any && n > total)) throw new RangeError(`${workload} replicas ${n} must be a whole number in 0..${total}`);
  }
  const sum = counts.canary + counts.stable;
  if (!any && (atMost ? sum > total : sum !== total)) {
    throw new RangeError(`canary ${counts.canary} + stable ${counts.stable} must ${atMost ? 'not exceed' : 'equal'} the total ${total}`);
  }
}

export interface PlanEnvelope {
  /** Fewest ready pods at any moment, counting the worst case of every action. */
  minReady: number;
  /** Most pods (not terminating) at any moment. */
  maxPods: number;
  /** Pods created along the way (each one Kubernetes has to start). */
  podsStarted: number;
  /** The pods each workload has at the end (a hand-over gives the stable Deployment a spec but no pod until it is released). */
  end: DeploymentCounts;
}

/**
 * Plays `actions` from `start` pods (every one ready, unless `startReady` says otherwise) in
 * the worst case: a scale-down removes ready pods at once, a scale-up adds pods that are ready
 * only once waited for, and a template change is rolled by Kubernetes with the stable
 * Deployment's own budget at its size. A paused stable Deployment starts nothing once its
 * ReplicaSets are deleted: pausing, handing over and deleting its (empty) ReplicaSets change no
 * pod, and releasing the canary makes the canary's pods the stable's; a hand-over while it
 * still has a ReplicaSet starts every replica on it (Kubernetes scales the newest one). Lets a
 * caller (and the tests) check a plan against the bound before running it.
 */
export function deploymentPlanEnvelope(
  actions: readonly DeploymentAction[],
  start: DeploymentCounts,
  strategy: DeploymentStrategy | undefined,
  startReady: DeploymentCounts = start,
  /** Whether the stable Deployment may own a ReplicaSet at the start (not once a promotion deleted them and handed over). */
  stableOwnsReplicaSets = true,
): PlanEnvelope {
  const pods = { ...start };
  const ready = { ...startReady };
  let minReady = ready.canary + ready.stable;
  let maxPods = pods.canary + pods.stable;
  let podsStarted = 0;
  // Whether the stable Deployment may still own a ReplicaSet (until deleteStableReplicaSets).
  let stableReplicaSets = stableOwnsReplicaSets;
  const observe = (readyNow: number, podsNow: number) => {
    minReady = Math.min(minReady, readyNow);
    maxPods = Math.max(maxPods, podsNow);
  };
  const setPods = (workload: DeploymentWorkload, replicas: number, wait: boolean) => {
    podsStarted += Math.max(0, replicas - pods[workload]);
    pods[workload] = replicas;
    ready[workload] = Math.min(ready[workload], replicas);
    observe(ready.canary + ready.stable, pods.canary + pods.stable);
    if (wait) ready[workload] = replicas;
  };
  for (const action of actions) {
    switch (action.kind) {
      case 'scale':
        setPods(action.workload, action.replicas, action.wait);
        if (action.workload === 'stable') stableReplicaSets = true;
        break;
      case 'setStableTemplate': {
        const own = deploymentBudget(strategy, pods.stable);
        observe(ready.canary + Math.max(0, pods.stable - own.maxUnavailable), pods.canary + pods.stable + own.maxSurge);
        podsStarted += pods.stable;
        ready.stable = pods.stable;
        break;
      }
      case 'pauseStable':
        if (action.replicas !== undefined) setPods('stable', action.replicas, false);
        break;
      case 'handOver':
        // Paused, Kubernetes scales the newest ReplicaSet it still owns to the new replicas.
        if (stableReplicaSets) setPods('stable', action.replicas, false);
        break;
      case 'deleteStableReplicaSets':
        setPods('stable', 0, false);
        stableReplicaSets = false;
        break;
      case 'releaseCanary':
        pods.stable += pods.canary;
        ready.stable += ready.canary;
        pods.canary = 0;
        ready.canary = 0;
        // Fewer than `replicas` adopted: the paused stable Deployment scales its one ReplicaSet up.
        setPods('stable', Math.max(pods.stable, action.replicas), false);
        break;
      case 'resumeStable':
        setPods('stable', action.replicas, true);
        stableReplicaSets = true;
        break;
      case 'takeBack':
        setPods('stable', action.replicas, false);
        stableReplicaSets = true;
        break;
      case 'deleteCanary':
        setPods('canary', 0, false);
        break;
    }
  }
  return { minReady, maxPods, podsStarted, end: pods };
}

// ---------------------------------------------------------------------------
// StatefulSets
// ---------------------------------------------------------------------------

export type StatefulSetUpdateStrategy = 'RollingUpdate' | 'OnDelete';

export type StatefulSetAction =
  /** One patch of the template and, for RollingUpdate, rollingUpdate.partition (null: leave it). */
  | { kind: 'setTemplate'; template: 'new' | 'old'; partition: number | null }
  | { kind: 'setPartition'; partition: number }
  /** Delete these pods (by ordinal); the StatefulSet recreates them on its current template. */
  | { kind: 'deletePods'; ordinals: number[] }
  /** Wait until the pods of these ordinals run the StatefulSet's current template, and every pod is ready. */
  | { kind: 'waitReady'; ordinals: number[] };

/** Ordinals from..to−1, highest first. */
const ordinalsDown = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => to - 1 - i);

/** The first actions of a StatefulSet rollout: write the new template without updating any pod. */
export function planStatefulSetStart(strategy: StatefulSetUpdateStrategy, total: number): StatefulSetAction[] {
  return [{ kind: 'setTemplate', template: 'new', partition: strategy === 'RollingUpdate' ? total : null }];
}

export interface StatefulSetState {
  strategy: StatefulSetUpdateStrategy;
  total: number;
  /** Ordinals of the pods running the new template now (OnDelete; ignored for RollingUpdate). */
  updated: readonly number[];
  /** Ordinals of the pods that are not ready now. */
  unready: readonly number[];
  /** spec.updateStrategy.rollingUpdate.maxUnavailable, as found. */
  maxUnavailable?: IntOrPercent;
}

/** Deletes `ordinals` in batches: unready ones first all together, then ready ones `batch` at a time, highest first. */
function deleteInBatches(ordinals: readonly number[], unready: readonly number[], batch: number): StatefulSetAction[] {
  const sorted = [...ordinals].sort((a, b) => b - a);
  const free = sorted.filter((o) => unready.includes(o));
  const costly = sorted.filter((o) => !unready.includes(o));
  const batches: number[][] = free.length > 0 ? [free] : [];
  for (let i = 0; i < costly.length; i += batch) batches.push(costly.slice(i, i + batch));
  return batches.flatMap((ordinals) => [
    { kind: 'deletePods', ordinals },
    { kind: 'waitReady', ordinals },
  ]);
}

/** The actions updating the `count` highest ordinals of a StatefulSet (a stage, or promotion with count = total). */
export function planStatefulSetStage(state: StatefulSetState, count: number): StatefulSetAction[] {
  if (!Number.isInteger(count) || count < 0 || count > state.total) throw new RangeError(`updated count ${count} is outside 0..${state.total}`);
  const target = ordinalsDown(state.total - count, state.total);
  if (state.strategy === 'RollingUpdate') {
    return [
      { kind: 'setPartition', partition: state.total - count },
      { kind: 'waitReady', ordinals: target },
    ];
  }
  const pending = target.filter((o) => !state.updated.includes(o));
  return deleteInBatches(pending, state.unready, statefulSetMaxUnavailable(state.maxUnavailable, state.total));
}

/** The actions ending a StatefulSet rollout: every pod updated, then the original partition back. */
export function planStatefulSetPromotion(state: StatefulSetState, originalPartition: number): StatefulSetAction[] {
  const actions = planStatefulSetStage(state, state.total);
  if (state.strategy === 'RollingUpdate' && originalPartition !== 0) actions.push({ kind: 'setPartition', partition: originalPartition });
  return actions;
}

export interface StatefulSetRollbackState extends StatefulSetState {
  /**
   * Ordinals of the pods whose controller-revision-hash is not the old template's revision
   * (the pods to unstick or replace), or null when that revision is not known yet.
   */
  notRolledBack: readonly number[] | null;
}

/**
 * The actions putting every pod of a StatefulSet back on the old template (see the module
 * comment). `state.updated` is not used: a pod may be on neither template's revision the
 * rollout knows of (an earlier update never finished), and with the old template already
 * written (a retry) no pod counts as updated at all.
 */
export function planStatefulSetRollback(state: StatefulSetRollbackState, originalPartition: number): StatefulSetAction[] {
  const restore: StatefulSetAction = { kind: 'setTemplate', template: 'old', partition: state.strategy === 'RollingUpdate' ? 0 : null };
  if (state.notRolledBack === null) return [restore];
  for (const o of state.notRolledBack) {
    if (!Number.isInteger(o) || o < 0 || o >= state.total) throw new RangeError(`ordinal ${o} is outside 0..${state.total - 1}`);
  }
  const all = ordinalsDown(0, state.total);
  const pending = [...new Set(state.notRolledBack)].sort((a, b) => b - a);
  if (state.strategy === 'RollingUpdate') {
    const stuck = pending.filter((o) => state.unready.includes(o));
    const actions: StatefulSetAction[] = [restore];
    if (stuck.length > 0) actions.push({ kind: 'deletePods', ordinals: stuck });
    actions.push({ kind: 'waitReady', ordinals: all });
    if (originalPartition !== 0) actions.push({ kind: 'setPartition', partition: originalPartition });
    return actions;
  }
  // The last wait covers every pod: a retry may find all of them on the old revision, some not ready yet.
  return [restore, ...deleteInBatches(pending, state.unready, statefulSetMaxUnavailable(state.maxUnavailable, state.total)), { kind: 'waitReady', ordinals: all }];
}

/**
 * Ordinals (0..total−1) of the pods whose controller-revision-hash is not `oldRevision`.
 * Pods named otherwise, or beyond the total (being scaled away), are not counted.
 */
export function podsNotOnRevision(pods: readonly { ordinal: number | null; revision: string | undefined }[], oldRevision: string, total: number): number[] {
  return pods.filter((p) => p.ordinal !== null && p.ordinal < total && p.revision !== oldRevision).map((p) => p.ordinal!);
}

/**
 * Why AutoCrane cannot roll this StatefulSet out, or null when it can: a spec.ordinals.start
 * other than 0 (the plans, pod names and partitions here count ordinals from 0).
 */
export function statefulSetRefusal(spec: { ordinals?: { start?: number } | null }): string | null {
  const start = spec.ordinals?.start ?? 0;
  if (start !== 0) return `spec.ordinals.start is ${start}: AutoCrane rolls out only StatefulSets whose ordinals start at 0`;
  return null;
}

/**
 * Stage arithmetic for Deployments: the ordered Kubernetes actions that move a workload between
 * stages, promote it and roll it back while
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
 * StatefulSets: domain/rollout/rollout-plan-statefulset.ts; shares and int-or-percent: domain/rollout/rollout-shares.ts;
 * the worst case of a plan: domain/rollout/rollout-plan-envelope.ts.
 *
 * Pure: no I/O, safe to import from workflows.
 */
import { scaledValue, type IntOrPercent } from './rollout-shares';

export interface DeploymentBudget {
  maxSurge: number;
  maxUnavailable: number;
}

/** Kubernetes' ResolveFenceposts: surge rounds up, unavailable down; both 0 → maxUnavailable 1. */
export function resolveFenceposts(
  maxSurge: IntOrPercent | undefined,
  maxUnavailable: IntOrPercent | undefined,
  replicas: number,
): DeploymentBudget {
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
  return resolveFenceposts(
    rolling?.maxSurge ?? DEFAULT_ROLLING_UPDATE.maxSurge,
    rolling?.maxUnavailable ?? DEFAULT_ROLLING_UPDATE.maxUnavailable,
    replicas,
  );
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
export function planDeploymentStage(
  current: DeploymentCounts,
  canaryTarget: number,
  total: number,
  strategy: DeploymentStrategy | undefined,
): DeploymentAction[] {
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
export function planDeploymentStageStart(
  current: DeploymentCounts,
  canaryTarget: number,
  total: number,
  strategy: DeploymentStrategy | undefined,
): DeploymentAction[] {
  const plan = planDeploymentStage(current, canaryTarget, total, strategy);
  return beginThrough(
    plan,
    plan.findIndex((a) => a.kind === 'scale' && a.wait),
  );
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
  if (first?.kind === 'pauseStable' && first.replicas === undefined && owed.workload === 'stable')
    return [{ ...first, replicas: owed.replicas }, ...start.slice(1)];
  return [owed, ...start];
}

/** `plan` up to and including `last`, whose wait is dropped: the early start of a step (empty when last < 0). */
function beginThrough(plan: DeploymentAction[], last: number): DeploymentAction[] {
  if (last < 0) return [];
  return plan
    .slice(0, last + 1)
    .map((a, i) => (i === last && (a.kind === 'scale' || a.kind === 'releaseCanary') ? { ...a, wait: false as const } : a));
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
export function planDeploymentPromotion(
  state: DeploymentState,
  total: number,
  strategy: DeploymentStrategy | undefined,
): DeploymentAction[] {
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
    return [
      ...moveReplicas({ canary: state.canary, stable: state.stable }, 'canary', state.canary, deploymentBudget(strategy, total)),
      { kind: 'deleteCanary' },
    ];
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
export function planDeploymentPromotionStart(
  state: DeploymentState,
  total: number,
  strategy: DeploymentStrategy | undefined,
): DeploymentAction[] {
  const plan = planDeploymentPromotion(state, total, strategy);
  const release = plan.findIndex((a) => a.kind === 'releaseCanary');
  return plan.slice(0, release).some((a) => a.kind === 'scale') ? [] : beginThrough(plan, release);
}

export interface DeploymentRollbackState extends DeploymentState {
  /** Canary pods that are ready now (≤ canary). */
  canaryReady: number;
}

/** The actions restoring the stable Deployment (old template, every replica) and deleting the canary. */
export function planDeploymentRollback(
  state: DeploymentRollbackState,
  total: number,
  strategy: DeploymentStrategy | undefined,
): DeploymentAction[] {
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
    if (!Number.isInteger(n) || n < 0 || (any && n > total))
      throw new RangeError(`${workload} replicas ${n} must be a whole number in 0..${total}`);
  }
  const sum = counts.canary + counts.stable;
  if (!any && (atMost ? sum > total : sum !== total)) {
    throw new RangeError(`canary ${counts.canary} + stable ${counts.stable} must ${atMost ? 'not exceed' : 'equal'} the total ${total}`);
  }
}

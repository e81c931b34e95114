/**
 * Stage arithmetic for StatefulSets (domain/rollout/rollout-plan.ts has the Deployment side), in ordinal
 * order, highest first, like Kubernetes:
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
import { scaledValue, type IntOrPercent } from './rollout-shares';

/** A StatefulSet's maxUnavailable as Kubernetes resolves it: default 1, percentages round down, at least 1. */
export function statefulSetMaxUnavailable(value: IntOrPercent | undefined, replicas: number): number {
  return Math.max(1, scaledValue(value ?? 1, replicas, false));
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
  if (!Number.isInteger(count) || count < 0 || count > state.total)
    throw new RangeError(`updated count ${count} is outside 0..${state.total}`);
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
  return [
    restore,
    ...deleteInBatches(pending, state.unready, statefulSetMaxUnavailable(state.maxUnavailable, state.total)),
    { kind: 'waitReady', ordinals: all },
  ];
}

/**
 * Ordinals (0..total−1) of the pods whose controller-revision-hash is not `oldRevision`.
 * Pods named otherwise, or beyond the total (being scaled away), are not counted.
 */
export function podsNotOnRevision(
  pods: readonly { ordinal: number | null; revision: string | undefined }[],
  oldRevision: string,
  total: number,
): number[] {
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

/**
 * Shares and int-or-percent values: how many replicas a stage's "25%" or 3 comes to, and how
 * Kubernetes resolves an IntOrString such as a maxSurge. Kept apart from rollout-spec (zod) and
 * the plans so that the spec, its summary, the plans and the workflows all read them from here.
 *
 * Pure: no I/O, safe to import from workflows.
 */

/** A stage's replicas as the spec gives them (rollout-spec validates them): "25%" or a count. */
export type StageShare = number | string;

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

// ---------------------------------------------------------------------------
// Shares (here rather than in rollout-spec so that workflows do not load zod)
// ---------------------------------------------------------------------------

export type Share = { unit: 'percent'; value: number } | { unit: 'count'; value: number };

/** A stage's share as a unit and a number ("25%" → percent 25; 3 → count 3). Input must be valid. */
export function parseShare(replicas: StageShare): Share {
  return typeof replicas === 'number' ? { unit: 'count', value: replicas } : { unit: 'percent', value: Number(replicas.slice(0, -1)) };
}

/** "25%" or "3 replicas" (or "1 replica"). */
export function formatShare(replicas: StageShare): string {
  if (typeof replicas === 'string') return replicas;
  return `${replicas} ${replicas === 1 ? 'replica' : 'replicas'}`;
}

// ---------------------------------------------------------------------------
// Stage counts
// ---------------------------------------------------------------------------

/** Replicas on the new template for a stage share: percentages round up; at least 1, at most `total`. */
export function stageUpdatedCount(replicas: StageShare, total: number): number {
  if (total <= 0) return 0;
  const share = parseShare(replicas);
  const count = share.unit === 'percent' ? Math.ceil((share.value * total) / 100) : share.value;
  return Math.min(total, Math.max(1, count));
}

/**
 * Each stage's count of replicas on the new template. A stage never goes below the one before
 * (a count followed by a smaller percentage keeps the count), since stages only move forward.
 */
export function resolveStageCounts(stages: readonly { replicas: StageShare }[], total: number): number[] {
  const counts: number[] = [];
  for (const stage of stages) counts.push(Math.max(counts[counts.length - 1] ?? 0, stageUpdatedCount(stage.replicas, total)));
  return counts;
}

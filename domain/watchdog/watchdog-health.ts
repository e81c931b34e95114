/**
 * A pod's aggregate watchdog health, and the `status.autocrane.io/health` label value.
 *
 * The fold is AutoCrane's, kept exactly: weights error 3 > warning 2 > info 1 > anything
 * else 0 (case-insensitive), starting from "Unknown", and on equal weights the value
 * already held wins. Two consequences follow and are relied on:
 *  - values of weight 0 can never replace the start value, so a pod whose statuses are all
 *    unrecognised aggregates to "Unknown", exactly like a pod with no status;
 *  - skipping a malformed value and folding it in at weight 0 give the same result, so the
 *    order of the annotations never changes the aggregate's weight, only which of several
 *    equally-weighted spellings ('Error' vs 'error') is kept. We then lowercase that
 *    spelling, so the result does not depend on annotation order at all.
 *
 * Pure: safe to import from workflows.
 */
import type { ParsedStatus, ReadLevel } from './watchdog-status';

/** AutoCrane's weight of a level text: error 3, warning 2, info 1, anything else 0 (case-insensitive). */
export function levelWeight(level: string): 0 | 1 | 2 | 3 {
  switch (level.toLowerCase()) {
    case 'error':
      return 3;
    case 'warning':
      return 2;
    case 'info':
      return 1;
    default:
      return 0;
  }
}

/** AutoCrane's start value of the fold, returned as is when nothing outweighs it. */
export const AUTOCRANE_INITIAL_AGGREGATE = 'Unknown';

/** The more critical of two level texts; on equal weight, the first one (`held`). AutoCrane's rule. */
export function moreCriticalLevel(held: string, candidate: string): string {
  return levelWeight(held) >= levelWeight(candidate) ? held : candidate;
}

/**
 * AutoCrane's aggregate of raw level texts, spelling preserved: folds moreCriticalLevel
 * over `levels` in order, starting from "Unknown".
 */
export function foldLevels(levels: Iterable<string>): string {
  let held = AUTOCRANE_INITIAL_AGGREGATE;
  for (const level of levels) held = moreCriticalLevel(held, level);
  return held;
}

/** What aggregation reads from a status: its declared level text (see ParsedStatus.declaredLevel). */
export type AggregationInput = string | Pick<ParsedStatus, 'declaredLevel'>;

/**
 * The aggregate health of a pod's statuses: 'error' > 'warning' > 'info', and 'unknown'
 * when no status names one of those (including when there are none). A string input is a
 * raw level text ('Error'); a parsed status contributes its declaredLevel, so a status whose
 * level reads error counts as error even if its time is garbled (AutoCrane counted it too).
 */
export function aggregateHealth(statuses: Iterable<AggregationInput>): ReadLevel {
  const levels = Array.from(statuses, (s) => (typeof s === 'string' ? s : s.declaredLevel));
  const folded = foldLevels(levels);
  // Weight > 0 means `folded` is some casing of error/warning/info.
  return levelWeight(folded) === 0 ? 'unknown' : (folded.toLowerCase() as ReadLevel);
}

/**
 * The value to write to the `status.autocrane.io/health` label for a pod whose status
 * annotations are `statuses`.
 *
 * Choice: with no status annotation at all the label is removed (null, i.e. `null` in a
 * JSON merge patch), so a pod without watchdogs looks like one AutoCrane never touched and
 * `-l status.autocrane.io/health` selects only pods that have watchdogs. With statuses, it is
 * the lowercase aggregate, 'unknown' when none of them has a recognised level. (AutoCrane
 * wrote "Unknown" in both cases; we keep every value lowercase, like the levels. Eviction
 * selects `error` exactly, which stays compatible.) Every value is a valid label value.
 */
export function healthLabelValue(statuses: Iterable<AggregationInput>): ReadLevel | null {
  const list = Array.from(statuses);
  return list.length === 0 ? null : aggregateHealth(list);
}

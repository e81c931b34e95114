/**
 * Watchdogs over a pod's whole annotation map: reading them all (for the API), and building
 * the JSON merge patch that writes some of them together with the recomputed health label.
 *
 * AutoCrane replaced the whole annotation and label maps on every write, without a
 * resourceVersion, and so lost concurrent updates. The patch built here names only the
 * status keys being changed and the health label.
 *
 * Pure: safe to import from workflows.
 */
import { HEALTH_LABEL, STATUS_ANNOTATION_PREFIX } from '../shared/keys';
import { aggregateHealth, healthLabelValue } from './watchdog-health';
import { parseStatus, statusAnnotationKey, type ParsedStatus, type ReadLevel } from './watchdog-status';

export type Annotations = Readonly<Record<string, string>>;

export interface WatchdogRecord extends ParsedStatus {
  name: string;
}

export interface WatchdogReport {
  /** Every status.autocrane.io/* annotation, parsed, sorted by name (code-unit order). */
  watchdogs: WatchdogRecord[];
  /** aggregateHealth of all of them: 'unknown' when there are none. */
  aggregate: ReadLevel;
}

function statusEntries(annotations: Annotations | null | undefined): Array<[name: string, value: string]> {
  const entries: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (key.startsWith(STATUS_ANNOTATION_PREFIX)) entries.push([key.slice(STATUS_ANNOTATION_PREFIX.length), value]);
  }
  return entries;
}

/**
 * All watchdogs of a pod and their aggregate, for the GET API. Values that do not parse are
 * listed too (level 'unknown', with `problem` and `raw`), never dropped.
 */
export function readWatchdogs(annotations: Annotations | null | undefined): WatchdogReport {
  const watchdogs = statusEntries(annotations).map(([name, value]): WatchdogRecord => ({ name, ...parseStatus(value) }));
  const aggregate = aggregateHealth(watchdogs);
  watchdogs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { watchdogs, aggregate };
}

/** A JSON merge patch (RFC 7386) on a pod's metadata; null removes a key. */
export interface StatusPatch {
  metadata: {
    /** Present when given: the API server then refuses the patch (409) if the pod changed since it was read. */
    resourceVersion?: string;
    annotations: Record<string, string | null>;
    labels: { [HEALTH_LABEL]: string | null };
  };
}

export interface StatusPatchOptions {
  /**
   * The resourceVersion of the pod `currentAnnotations` were read from. Recommended: the
   * health label is computed from those annotations, so without it a concurrent write to
   * another watchdog could leave the label stale.
   */
  resourceVersion?: string;
}

/**
 * The merge patch that sets watchdog statuses and recomputes the health label.
 *
 * `updates` maps watchdog names to new values (as made by formatStatus or decideProbeWrite),
 * or to null to remove that watchdog's status. Only keys whose value actually changes appear
 * under `annotations` (possibly none); no other annotation or label is ever named. The health
 * label is always present, recomputed from the annotations as they will be after the patch
 * (see healthLabelValue: null, i.e. removed, when no status remains). Writing it every time
 * also repairs a label left stale by an older writer.
 *
 * Throws RangeError if a name is not a valid watchdog name. Values are not checked: callers
 * write what formatStatus produced, and reading is tolerant anyway.
 */
export function buildStatusPatch(
  currentAnnotations: Annotations | null | undefined,
  updates: Readonly<Record<string, string | null>>,
  options: StatusPatchOptions = {},
): StatusPatch {
  const current = currentAnnotations ?? {};
  const merged = new Map(statusEntries(current));
  const changed: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(updates)) {
    const key = statusAnnotationKey(name);
    const before = Object.prototype.hasOwnProperty.call(current, key) ? current[key] : undefined;
    if (value === null) {
      merged.delete(name);
      if (before !== undefined) changed[key] = null;
    } else {
      merged.set(name, value);
      if (before !== value) changed[key] = value;
    }
  }
  const label = healthLabelValue(Array.from(merged.values(), (v) => parseStatus(v)));
  const metadata: StatusPatch['metadata'] = { annotations: changed, labels: { [HEALTH_LABEL]: label } };
  if (options.resourceVersion !== undefined) metadata.resourceVersion = options.resourceVersion;
  return { metadata };
}

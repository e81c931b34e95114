/**
 * What the gate saw for itself during a bake: its own probes of the updated pods' declared
 * probes, and when it looked. evaluateGate (domain/gate/stage-gate.ts) passes a bake only on this
 * evidence, never on the absence of news:
 *  - every declared probe (`probe.autocrane.io/<name>`, the named ones under gate.watchdogs) of
 *    every updated pod has a result the gate probed at or after the bake's clean start, and
 *    recently (within `maxProbeAgeMs`): a stalled prober (a dead worker, an apiserver outage)
 *    leaves old results, and an old "ok" says nothing about the version now;
 *  - the bake counts only watched time: the time between two complete looks (pods listed and
 *    every declared probe freshly probed) when they are at most `maxLookGapMs` apart. A longer
 *    gap (the worker died and the watch resumed elsewhere, the apiserver did not answer) does
 *    not count, and the bake is extended by it.
 * The watchdog sweep's statuses and the statuses apps push still count as errors as before;
 * they are not needed for a pass, since the sweep writes on transitions only (a declared probe
 * without status may just not have been probed since the bake began).
 *
 * Pure: no I/O, no clock, safe to import from workflows.
 */
import { parseStatusTime } from '../watchdog/watchdog-status';

/** One of the gate's own probes of a pod's declared probe: the latest result for that pod and probe. */
export interface GateProbeResult {
  pod: string;
  probe: string;
  /** RFC 3339 time the probe was sent (a probe sent before the bake began is not evidence for it). */
  at: string;
  ok: boolean;
  /** Why it failed (e.g. "HTTP 500"); absent when ok. */
  reason?: string;
}

/** What the caller watched and probed, and the bounds that make a look count. */
export interface GateEvidence {
  /** Latest result per pod and probe; results of pods not observed are ignored. */
  probes: readonly GateProbeResult[];
  /** Two complete looks further apart than this: the time between them was not watched. */
  maxLookGapMs: number;
  /** A result older than this (from now) is stale: the prober is not keeping up. */
  maxProbeAgeMs: number;
}

/** The watched time of the bake's current clean spell, threaded from one evaluation to the next. */
export interface WatchMemory {
  /** RFC 3339: the clean start this accounting belongs to; another one starts it over. */
  cleanSince: string;
  /** RFC 3339: the last complete look (or the clean start, before the first one). */
  lastLookAt: string;
  /** Watched time since the clean start, in ms. */
  watchedMs: number;
  /** Time since the clean start that was not watched (gaps longer than maxLookGapMs), in ms. */
  unwatchedMs: number;
  /** The longest gap not counted, for the decision log. */
  longestGap?: { from: string; to: string };
}

export function isWatchMemory(value: unknown): value is WatchMemory {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  const gap = v.longestGap as Record<string, unknown> | undefined;
  return (
    typeof v.cleanSince === 'string' &&
    typeof v.lastLookAt === 'string' &&
    typeof v.watchedMs === 'number' &&
    typeof v.unwatchedMs === 'number' &&
    (gap === undefined || (typeof gap === 'object' && gap !== null && typeof gap.from === 'string' && typeof gap.to === 'string'))
  );
}

const timeOf = (text: string): number | undefined => parseStatusTime(text)?.getTime();
const iso = (ms: number): string => new Date(ms).toISOString();
export const seconds = (ms: number): string => `${Math.round(ms / 100) / 10}s`;

export const resultKey = (pod: string, probe: string): string => `${pod}\u0000${probe}`;

/** The latest result of each (pod, probe) among `results`. */
export function latestResults(results: readonly GateProbeResult[]): Map<string, GateProbeResult & { atMs: number }> {
  const latest = new Map<string, GateProbeResult & { atMs: number }>();
  for (const r of results) {
    const atMs = timeOf(r.at);
    if (atMs === undefined) continue;
    const key = resultKey(r.pod, r.probe);
    const seen = latest.get(key);
    if (seen === undefined || atMs > seen.atMs) latest.set(key, { ...r, atMs });
  }
  return latest;
}

export interface MissingProbe {
  pod: string;
  probe: string;
  /** When it was last probed, if ever. */
  lastAt: string | null;
}

/** The declared probes (that count) without a fresh result: probed at or after `since` and within maxProbeAgeMs of now. */
export function missingEvidence(
  pods: readonly { name: string; probes?: string[] }[],
  counts: (probe: string) => boolean,
  latest: ReadonlyMap<string, GateProbeResult & { atMs: number }>,
  since: number,
  nowMs: number,
  maxProbeAgeMs: number,
): MissingProbe[] {
  const missing: MissingProbe[] = [];
  for (const pod of pods) {
    for (const probe of pod.probes ?? []) {
      if (!counts(probe)) continue;
      const r = latest.get(resultKey(pod.name, probe));
      if (r === undefined || r.atMs < since || r.atMs < nowMs - maxProbeAgeMs)
        missing.push({ pod: pod.name, probe, lastAt: r?.at ?? null });
    }
  }
  return missing;
}

/**
 * The watched time after this look. A complete look credits the time since the previous
 * complete look (or the clean start) when it is at most maxLookGapMs; a longer gap is
 * unwatched. An incomplete look credits nothing and does not count as a look, so the gap runs
 * on until the next complete one.
 */
export function accountWatch(
  previous: WatchMemory | undefined,
  cleanSince: number,
  nowMs: number,
  complete: boolean,
  maxLookGapMs: number,
): WatchMemory {
  const spell: WatchMemory =
    previous !== undefined && timeOf(previous.cleanSince) === cleanSince
      ? previous
      : {
          cleanSince: iso(cleanSince),
          lastLookAt: iso(Math.max(cleanSince, Math.min(nowMs, timeOf(previous?.lastLookAt ?? '') ?? cleanSince))),
          watchedMs: 0,
          unwatchedMs: 0,
        };
  if (!complete) return spell;
  const from = timeOf(spell.lastLookAt) ?? cleanSince;
  const gap = Math.max(0, nowMs - from);
  if (gap <= maxLookGapMs) return { ...spell, lastLookAt: iso(nowMs), watchedMs: spell.watchedMs + gap };
  const longest = spell.longestGap === undefined || gap > (timeOf(spell.longestGap.to) ?? 0) - (timeOf(spell.longestGap.from) ?? 0);
  return {
    ...spell,
    lastLookAt: iso(nowMs),
    unwatchedMs: spell.unwatchedMs + gap,
    ...(longest ? { longestGap: { from: iso(from), to: iso(nowMs) } } : {}),
  };
}

/** "a (http), b (http, disk) and 2 more", with the last probe time of one that has any. */
export function describeMissing(missing: readonly MissingProbe[], limit: number): string {
  const byPod = new Map<string, string[]>();
  for (const m of missing) byPod.set(m.pod, [...(byPod.get(m.pod) ?? []), m.probe]);
  const pods = [...byPod.entries()];
  const shown = pods.slice(0, limit).map(([pod, probes]) => `${pod} (${probes.join(', ')})`);
  const more = pods.length > limit ? ` and ${pods.length - limit} more` : '';
  const last = missing
    .map((m) => m.lastAt)
    .filter((t): t is string => t !== null)
    .sort()[0];
  return `${shown.join(', ')}${more}${last === undefined ? ', never probed by the gate' : `, oldest last probed at ${last}`}`;
}

/** What the decision log says of time that did not count. */
export function describeUnwatched(watch: WatchMemory): string {
  if (watch.unwatchedMs <= 0) return '';
  const gap = watch.longestGap === undefined ? '' : ` (longest: ${watch.longestGap.from} to ${watch.longestGap.to})`;
  return `bake extended by ${seconds(watch.unwatchedMs)} the gate could not watch${gap}`;
}

/**
 * Scaling decisions of a rollout group: leader/follower replicas, the minimum time between two
 * zones' downscales, the "other zones" check shared with the prepare-downscale webhook, and the
 * delayed-downscale bookkeeping. `now` is always an input.
 *
 * - Follower (`grafana.com/rollout-downscale-leader: <leader>`), rollout-operator's rules:
 *   scale up to the leader's spec.replicas at once, or, with
 *   `grafana.com/rollout-upscale-only-when-leader-ready: "true"`, once the leader's
 *   status.readyReplicas equals its spec.replicas; scale down only when the most recent
 *   `grafana.com/last-downscale` of the *other* members is at least the follower's min time
 *   ago (none at all: allowed). A missing or unusable min time on the follower, a leader that is
 *   not in the group, or an unparsable last-downscale is an error: no change.
 *   Ours on top (the group lock): a follower's downscale also waits while another member is
 *   disrupted or mid-rollout, the same check the prepare-downscale webhook makes.
 *   rollout-operator allows a downscale when elapsed > min time in the controller and
 *   elapsed ≥ min time in the webhook; we use ≥ in both (a difference of one instant).
 * - Another member blocks a zone's downscale when it was downscaled less than its own min time
 *   ago, when its min time or last downscale cannot be read, or when it is disrupted: a pod not
 *   on its update revision, a terminating pod, a spec the controller has not observed, or a pod
 *   not ready / missing. Except (rollout-operator's issue "Downscale webhook fails when currently
 *   upscaling"): a member that is only scaling up does not block. It is "only scaling up" when
 *   the caller knows the replicas at which it was last settled (`settledReplicas`, the group
 *   workflow's memory) and every pod below that count is updated and ready, so its not-ready
 *   and missing pods are all new ones: they held nothing and serve nothing yet, so no capacity
 *   is lost there, and refusing would block undoing a runaway upscale across the group. Without
 *   that memory the check stays strict.
 * - Delayed downscale: POST (prepare) to the pods to be removed, [desired, current), DELETE
 *   (cancel) to the others; from the POST answers' timestamps, the pods removed are those from
 *   the top ordinal down whose delay has elapsed, stopping at the first that has not. Any pod
 *   that did not answer with a timestamp holds the downscale. A scale-up cancels every pod.
 *
 * Pure: no I/O, no clock, safe to import from workflows.
 */
import { formatDuration } from '../shared/durations';
import { LAST_DOWNSCALE_ANNOTATION, MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY, ROLLOUT_DOWNSCALE_LEADER_ANNOTATION } from '../shared/keys';
import { isInvalid, readMemberSettings, type GroupPodJson, type GroupStatefulSetJson, type MemberSettings } from './rollout-group';
import { listNames, memberState, unsettledDetail, type MemberState } from './rollout-group-pods';

export interface GroupView {
  /** The group's StatefulSets. */
  statefulSets: readonly GroupStatefulSetJson[];
  /** The group's pods (matched to members by owner UID). */
  pods: readonly GroupPodJson[];
  /** Replicas at which each member was last seen settled, when the caller remembers it. */
  settledReplicas?: Readonly<Record<string, number>>;
  now: Date;
}

export interface Blocker {
  statefulSet: string;
  reason: string;
  /** When the passing of time alone lifts this blocker (a min time running out); null otherwise. */
  until: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Why another member's last downscale forbids a zone's downscale now (its own min time), or null. */
export function recentDownscaleBlocker(other: MemberSettings, now: Date): Blocker | null {
  const { lastDownscale, minTimeBetweenZonesDownscaleMs: minTime } = other;
  if (isInvalid(lastDownscale))
    return { statefulSet: other.name, reason: `cannot read its last downscale: ${lastDownscale.invalid}`, until: null };
  if (lastDownscale === null || minTime === null) return null;
  if (isInvalid(minTime))
    return { statefulSet: other.name, reason: `cannot read its min time between zone downscales: ${minTime.invalid}`, until: null };
  const until = lastDownscale.getTime() + minTime;
  if (now.getTime() >= until) return null;
  return {
    statefulSet: other.name,
    reason: `StatefulSet ${other.name} was downscaled at ${lastDownscale.toISOString()} and waits ${formatDuration(minTime)} between zone downscales (${formatDuration(until - now.getTime())} left)`,
    until: iso(until),
  };
}

/** Why member `m` counts as disrupted for a downscale elsewhere in the group, or null (see the module comment). */
export function disruptionBlocker(m: MemberState, settledReplicas: number | undefined): Blocker | null {
  const block = (why: string): Blocker => ({ statefulSet: m.name, reason: `StatefulSet ${m.name} ${why}`, until: null });
  if (!m.observed || m.updateRevision === null) return block('has a spec its controller has not observed yet');
  if (m.outdated.length > 0)
    return block(`has ${m.outdated.length} pods not on its update revision (${listNames(m.outdated.map((p) => p.name))})`);
  if (m.terminating.length > 0) return block(`has terminating pods (${listNames(m.terminating.map((p) => p.name))})`);
  if (m.settled) return null;
  if (settledReplicas !== undefined && settledReplicas <= m.replicas) {
    const old = m.pods.filter((p) => p.ordinal !== null && p.ordinal < settledReplicas);
    const oldReady = old.filter((p) => p.ready).length === settledReplicas;
    const strays = m.pods.filter((p) => p.ordinal === null || p.ordinal >= m.replicas);
    if (oldReady && strays.length === 0) return null;
  }
  return block(`is not ready (${unsettledDetail(m)})`);
}

/**
 * Everything that forbids downscaling member `target` now because of the other members, in
 * name order. Empty: the other zones allow it.
 */
export function otherZoneBlockers(target: string, view: GroupView): Blocker[] {
  const blockers: Blocker[] = [];
  for (const sts of [...view.statefulSets].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    if (sts.metadata.name === target) continue;
    const recent = recentDownscaleBlocker(readMemberSettings(sts).settings, view.now);
    if (recent !== null) blockers.push(recent);
    const disrupted = disruptionBlocker(memberState(sts, view.pods), view.settledReplicas?.[sts.metadata.name]);
    if (disrupted !== null) blockers.push(disrupted);
  }
  return blockers;
}

// ---------------------------------------------------------------------------
// Leader and follower
// ---------------------------------------------------------------------------

export type FollowerAction = 'none' | 'scaleUp' | 'scaleDown' | 'hold' | 'error';

export interface FollowerDecision {
  statefulSet: string;
  action: FollowerAction;
  /** The replicas to set (the current ones unless scaling). */
  replicas: number;
  reason: string;
  /** When time alone may change a hold; null otherwise. */
  recheckAt: string | null;
}

/** What follower `name` should do about its leader's replicas. */
export function decideFollowerReplicas(name: string, view: GroupView): FollowerDecision {
  const follower = view.statefulSets.find((s) => s.metadata.name === name);
  if (follower === undefined)
    return { statefulSet: name, action: 'error', replicas: 0, reason: `StatefulSet ${name} is not in the group`, recheckAt: null };
  const settings = readMemberSettings(follower).settings;
  const current = settings.replicas;
  const out = (action: FollowerAction, reason: string, replicas = current, recheckAt: string | null = null): FollowerDecision => ({
    statefulSet: name,
    action,
    replicas,
    reason,
    recheckAt,
  });
  if (settings.leader === null) return out('none', `StatefulSet ${name} has no leader`);
  const leader = view.statefulSets.find((s) => s.metadata.name === settings.leader);
  if (leader === undefined)
    return out('error', `StatefulSet ${name}: its leader ${settings.leader} (${ROLLOUT_DOWNSCALE_LEADER_ANNOTATION}) is not in the group`);
  const target = readMemberSettings(leader).settings.replicas;
  if (target === current) return out('none', `StatefulSet ${name} has its leader's ${current} replicas`);

  if (target > current) {
    const leaderReady = leader.status?.readyReplicas ?? 0;
    if (settings.upscaleOnlyWhenLeaderReady && leaderReady !== target) {
      return out(
        'hold',
        `StatefulSet ${name} scales up to ${target} once its leader ${settings.leader} has all ${target} replicas ready (${leaderReady} now)`,
      );
    }
    return out('scaleUp', `StatefulSet ${name} scales up from ${current} to its leader ${settings.leader}'s ${target} replicas`, target);
  }

  let last: { at: Date; by: string } | null = null;
  for (const other of view.statefulSets) {
    if (other.metadata.name === name) continue;
    const at = readMemberSettings(other).settings.lastDownscale;
    if (isInvalid(at)) return out('error', `StatefulSet ${name} cannot scale down: ${at.invalid}`);
    if (at !== null && (last === null || at > last.at)) last = { at, by: other.metadata.name };
  }
  if (last !== null) {
    const minTime = settings.minTimeBetweenZonesDownscaleMs;
    if (minTime === null)
      return out(
        'error',
        `StatefulSet ${name} cannot scale down: it has no ${MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY} (annotation or label) while ${last.by} has a ${LAST_DOWNSCALE_ANNOTATION}`,
      );
    if (isInvalid(minTime)) return out('error', `StatefulSet ${name} cannot scale down: ${minTime.invalid}`);
    const until = last.at.getTime() + minTime;
    if (view.now.getTime() < until) {
      return out(
        'hold',
        `StatefulSet ${name} scales down to ${target} after ${iso(until)}: ${last.by} was downscaled at ${last.at.toISOString()} and ${name} waits ${formatDuration(minTime)} between zone downscales`,
        current,
        iso(until),
      );
    }
  }
  const disrupted = view.statefulSets
    .filter((s) => s.metadata.name !== name)
    .map((s) => disruptionBlocker(memberState(s, view.pods), view.settledReplicas?.[s.metadata.name]))
    .filter((b): b is Blocker => b !== null);
  if (disrupted.length > 0) {
    return out(
      'hold',
      `StatefulSet ${name} scales down to ${target} once no other zone is disrupted: ${disrupted.map((b) => b.reason).join('; ')}`,
    );
  }
  return out('scaleDown', `StatefulSet ${name} scales down from ${current} to its leader ${settings.leader}'s ${target} replicas`, target);
}

/** The first follower (in name order) with a change or an error, else 'none': one change per pass, as rollout-operator. */
export function planGroupScaling(view: GroupView): { decision: FollowerDecision | null; holds: FollowerDecision[] } {
  const holds: FollowerDecision[] = [];
  const names = view.statefulSets.map((s) => s.metadata.name).sort();
  for (const name of names) {
    const d = decideFollowerReplicas(name, view);
    if (d.action === 'hold') holds.push(d);
    else if (d.action !== 'none') return { decision: d, holds };
  }
  return { decision: null, holds };
}

// ---------------------------------------------------------------------------
// Delayed downscale
// ---------------------------------------------------------------------------

/** Ordinals to POST (prepare) and to DELETE (cancel) when going from `current` to `desired` replicas. */
export function delayedDownscaleCalls(current: number, desired: number): { prepare: number[]; cancel: number[] } {
  const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
  if (desired >= current) return { prepare: [], cancel: range(0, current) };
  return { prepare: range(desired, current), cancel: range(0, desired) };
}

export interface DelayedDownscaleInput {
  statefulSet: string;
  current: number;
  desired: number;
  delayMs: number;
  /** Per ordinal in [desired, current): the `timestamp` (Unix seconds) its POST answered; null or absent when it failed. */
  preparedAt: Readonly<Record<number, number | null>>;
  now: Date;
}

export interface DelayedDownscaleDecision {
  /** The replicas allowed now (current when nothing may go yet). */
  replicas: number;
  reason: string;
  /** When the next pod's delay ends; null when time alone changes nothing. */
  recheckAt: string | null;
}

/** How far down a delayed downscale may go now (see the module comment). */
export function delayedDownscaleReplicas(input: DelayedDownscaleInput): DelayedDownscaleDecision {
  const { statefulSet, current, desired, delayMs, now } = input;
  if (desired >= current)
    return {
      replicas: desired,
      reason: `StatefulSet ${statefulSet}: not a downscale; every pod's preparation is cancelled`,
      recheckAt: null,
    };
  const failed: string[] = [];
  for (let o = desired; o < current; o++) {
    const ts = input.preparedAt[o];
    if (ts === undefined || ts === null || !Number.isFinite(ts) || ts <= 0) failed.push(`${statefulSet}-${o}`);
  }
  if (failed.length > 0) {
    return {
      replicas: current,
      reason: `StatefulSet ${statefulSet}: ${listNames(failed)} did not confirm preparing for the downscale to ${desired}; it stays at ${current}`,
      recheckAt: null,
    };
  }
  let allowed = current;
  let recheckAt: string | null = null;
  for (let o = current - 1; o >= desired; o--) {
    const readyAt = input.preparedAt[o]! * 1000 + delayMs;
    if (now.getTime() < readyAt) {
      recheckAt = iso(readyAt);
      break;
    }
    allowed--;
  }
  if (allowed === current) {
    return {
      replicas: current,
      reason: `StatefulSet ${statefulSet}: ${statefulSet}-${current - 1} has been prepared for less than ${formatDuration(delayMs)}; the downscale to ${desired} waits until ${recheckAt}`,
      recheckAt,
    };
  }
  const rest = allowed > desired ? `; the rest waits until ${recheckAt}` : '';
  return {
    replicas: allowed,
    reason: `StatefulSet ${statefulSet}: scale down from ${current} to ${allowed}, the pods above have been prepared for ${formatDuration(delayMs)}${rest}`,
    recheckAt,
  };
}

/**
 * The zone-aware rollout of a rollout group: from what its StatefulSets and pods look like now,
 * the one step to take (delete these pods of this member, record a finished member's
 * currentRevision) or why the group waits. The group's workflow asks again whenever a member
 * or pod changes, so each answer is one step and carries its reason for the decision log.
 *
 * Rules, in order (members in name order; see rollout-group-pods for "settled"):
 *  1. Every member must be OnDelete, else nothing is deleted (rollout-operator's rule).
 *  2. A member whose status the StatefulSet controller has not caught up with (observedGeneration
 *     below generation, or no updateRevision yet) makes the group wait: its revisions are stale.
 *  3. Two or more unsettled members: wait. Never two members disrupted at once.
 *  4. Exactly one unsettled member goes first (it is the one in progress); then name order.
 *  5. For the member in turn:
 *     a. paused (`grafana.com/rollout-paused: "true"`): none of its pods is deleted. If it is
 *        settled the walk goes on to the next member (rollout-operator's "the others go on");
 *        if it is not settled the whole group waits. (rollout-operator lets a later zone roll
 *        past a paused zone that is not ready: two zones disrupted at once. We do not.)
 *     b. with outdated pods (not on updateRevision, not terminating):
 *        - the watchdog gate, when on, stops everything while an updated pod of the member has an
 *          error watchdog: the new revision is failing, the group pauses and says so;
 *        - outdated pods that are already not ready are deleted at once, without using budget:
 *          deleting a pod that serves nothing removes no capacity. This is the CrashLoopBackOff
 *          recovery: after a bad revision crash-loops and a fix is pushed, the crash-looping
 *          pods are on an old revision and are replaced straight away, where rollout-operator
 *          waits forever for them to become ready before spending its budget;
 *        - then outdated ready pods in ordinal order, at most max-unavailable − unavailable
 *          (missing and terminating pods are unavailable and use the budget);
 *        - crash-looping pods on the new revision are not "done": they keep using the budget,
 *          so a bad revision stops after max-unavailable pods instead of taking the zone down.
 *     c. all pods updated but not settled: wait for it (never move to the next member).
 *     d. settled: if the watchdog gate is on and an updated pod has an error watchdog, the
 *        group pauses before the next member. Otherwise, if status.currentRevision is not
 *        updateRevision, it is to be set (OnDelete leaves that to us) and the walk goes on.
 *  6. Nothing left: the group is idle.
 *
 * Pure: no I/O, no clock, safe to import from workflows.
 */
import { ROLLOUT_PAUSED_ANNOTATION } from '../shared/keys';
import {
  findRolloutGroups,
  readMemberSettings,
  updateStrategyRefusal,
  type ConfigProblem,
  type GroupPodJson,
  type GroupStatefulSetJson,
  type MemberSettings,
} from './rollout-group';
import { erroringUpdatedPods, listNames, memberState, unsettledDetail, type MemberState } from './rollout-group-pods';

export type GroupRolloutAction =
  /** Delete `deletions` (each with a UID precondition). */
  | 'delete'
  /** Nothing to do until a pod or StatefulSet changes. */
  | 'wait'
  /** The watchdog gate stopped the group. */
  | 'paused'
  /** The group cannot be rolled as configured (a member is not OnDelete). */
  | 'blocked'
  /** Every member is updated and settled. */
  | 'idle';

export interface PodDeletion {
  statefulSet: string;
  pod: string;
  /** Precondition of the delete: a pod of that name with another UID is left alone. */
  uid: string;
  /** 'notReady': outdated and not ready, deleted without using budget; 'budget': within max-unavailable. */
  why: 'notReady' | 'budget';
}

export interface RevisionUpdate {
  statefulSet: string;
  uid: string;
  /** The value for status.currentRevision (the member's updateRevision). */
  revision: string;
}

export interface MemberSummary {
  name: string;
  replicas: number;
  ready: number;
  updated: number;
  maxUnavailable: number;
  paused: boolean;
  settled: boolean;
  updateRevision: string | null;
  currentRevision: string | null;
}

export interface GroupRolloutDecision {
  action: GroupRolloutAction;
  /** The member in turn, when there is one. */
  statefulSet: string | null;
  deletions: PodDeletion[];
  /** Finished members whose status.currentRevision is to be set (also with other actions). */
  revisionUpdates: RevisionUpdate[];
  /** For people: names the StatefulSets and pods concerned. */
  reason: string;
  members: MemberSummary[];
  /** Settings that could not be used (and what was done instead). */
  problems: ConfigProblem[];
  /** The watchdog gate is on for this group. */
  watchdogGate: boolean;
}

export interface GroupRolloutInput {
  /** The group's StatefulSets (any order). */
  statefulSets: readonly GroupStatefulSetJson[];
  /** The namespace's pods, or at least the group's; matched by owner UID. */
  pods: readonly GroupPodJson[];
}

interface Member {
  settings: MemberSettings;
  state: MemberState;
}

const summary = ({ settings, state }: Member): MemberSummary => ({
  name: settings.name,
  replicas: state.replicas,
  ready: state.readyCount,
  updated: state.pods.filter((p) => p.updated && !p.terminating).length,
  maxUnavailable: settings.maxUnavailable,
  paused: settings.paused,
  settled: state.settled,
  updateRevision: state.updateRevision,
  currentRevision: state.currentRevision,
});

/** The next step of the group's rollout. The StatefulSets must all be of one group. */
export function planGroupRollout(input: GroupRolloutInput): GroupRolloutDecision {
  const { groups, problems } = findRolloutGroups(input.statefulSets);
  const [group] = groups;
  if (group === undefined || groups.length > 1) {
    const names = groups.map((g) => `${g.namespace}/${g.name}`);
    return empty(
      'blocked',
      group === undefined
        ? 'no StatefulSet of a rollout group was given'
        : `StatefulSets of several groups were given: ${names.join(', ')}`,
      [],
      problems,
      false,
    );
  }
  const members: Member[] = group.members.map((sts) => {
    const read = readMemberSettings(sts);
    problems.push(...read.problems);
    return { settings: read.settings, state: memberState(sts, input.pods) };
  });
  const summaries = members.map(summary);
  const watchdogGate = members.some((m) => m.settings.watchdogGate);
  const decide = (action: GroupRolloutAction, reason: string, extra: Partial<GroupRolloutDecision> = {}): GroupRolloutDecision => ({
    ...empty(action, reason, summaries, problems, watchdogGate),
    ...extra,
  });

  const refusal = updateStrategyRefusal(group);
  if (refusal !== null) return decide('blocked', refusal);

  const stale = members.find((m) => !m.state.observed || m.state.updateRevision === null);
  if (stale !== undefined) {
    return decide('wait', `StatefulSet ${stale.settings.name}: the StatefulSet controller has not reported its current revisions yet`, {
      statefulSet: stale.settings.name,
    });
  }

  const unsettled = members.filter((m) => !m.state.settled);
  if (unsettled.length > 1) {
    const detail = unsettled.map((m) => `${m.settings.name}: ${unsettledDetail(m.state)}`).join('; ');
    return decide(
      'wait',
      `${unsettled.length} StatefulSets of group ${group.name} are disrupted at once (${detail}): nothing is deleted until all but one are ready`,
    );
  }
  const [first] = unsettled;
  const ordered = first === undefined ? members : [first, ...members.filter((m) => m !== first)];

  const revisionUpdates: RevisionUpdate[] = [];
  const skippedPaused: string[] = [];
  const withUpdates = (extra: Partial<GroupRolloutDecision>) => ({ revisionUpdates, ...extra });
  for (const m of ordered) {
    const { settings, state } = m;
    const name = settings.name;
    if (settings.paused) {
      if (!state.settled) {
        return decide(
          'wait',
          `StatefulSet ${name} is paused (${ROLLOUT_PAUSED_ANNOTATION}) and not ready (${unsettledDetail(state)}): the group waits, no other StatefulSet is disrupted meanwhile`,
          withUpdates({ statefulSet: name }),
        );
      }
      if (state.outdated.length > 0) {
        skippedPaused.push(`${name} (${state.outdated.length} pods to update)`);
        continue;
      }
    }
    const erroring = watchdogGate ? erroringUpdatedPods(state) : [];
    if (state.outdated.length > 0) {
      if (erroring.length > 0) {
        return decide(
          'paused',
          `StatefulSet ${name}: updated pods have error watchdogs: ${listNames(erroring)}; the group's watchdog gate stops the rollout (no pod deleted)`,
          withUpdates({ statefulSet: name }),
        );
      }
      return stepMember(m, decide, withUpdates);
    }
    if (!state.settled) {
      return decide(
        'wait',
        `StatefulSet ${name}: every pod is on revision ${state.updateRevision}; waiting for it to be ready (${unsettledDetail(state)})`,
        withUpdates({ statefulSet: name }),
      );
    }
    if (erroring.length > 0) {
      const next = ordered.slice(ordered.indexOf(m) + 1).find((o) => o.state.outdated.length > 0);
      const before = next === undefined ? '' : ` before ${next.settings.name}`;
      return decide(
        'paused',
        `StatefulSet ${name} is updated and ready but its updated pods have error watchdogs: ${listNames(erroring)}; the group pauses${before}`,
        withUpdates({ statefulSet: name }),
      );
    }
    if (state.currentRevision !== state.updateRevision) {
      revisionUpdates.push({ statefulSet: name, uid: settings.uid, revision: state.updateRevision! });
    }
  }
  const paused = skippedPaused.length > 0 ? `; paused, left as they are: ${skippedPaused.join(', ')}` : '';
  const recorded =
    revisionUpdates.length > 0 ? `; currentRevision to record for ${revisionUpdates.map((u) => u.statefulSet).join(', ')}` : '';
  return decide('idle', `every StatefulSet of group ${group.name} is on its update revision and ready${paused}${recorded}`, {
    revisionUpdates,
  });
}

/** Rule 5b for the member in turn, which has outdated pods. */
function stepMember(
  { settings, state }: Member,
  decide: (action: GroupRolloutAction, reason: string, extra?: Partial<GroupRolloutDecision>) => GroupRolloutDecision,
  withUpdates: (extra: Partial<GroupRolloutDecision>) => Partial<GroupRolloutDecision>,
): GroupRolloutDecision {
  const name = settings.name;
  const free = state.outdated.filter((p) => !p.ready);
  const budget = Math.max(0, settings.maxUnavailable - state.unavailable);
  const paid = state.outdated.filter((p) => p.ready).slice(0, budget);
  const deletions: PodDeletion[] = [
    ...free.map((p) => ({ statefulSet: name, pod: p.name, uid: p.uid, why: 'notReady' as const })),
    ...paid.map((p) => ({ statefulSet: name, pod: p.name, uid: p.uid, why: 'budget' as const })),
  ];
  const left = state.outdated.length;
  const crashing = state.pods.filter((p) => p.updated && p.crashLooping).map((p) => p.name);
  const crashNote =
    crashing.length > 0
      ? `; on the new revision in CrashLoopBackOff: ${listNames(crashing)} (push a fix: they will be replaced without waiting for them)`
      : '';
  if (deletions.length === 0) {
    return decide(
      'wait',
      `StatefulSet ${name}: ${left} pods to update on revision ${state.updateRevision}, but ${state.unavailable} unavailable reach max-unavailable ${settings.maxUnavailable} (${unsettledDetail(state)})${crashNote}`,
      withUpdates({ statefulSet: name }),
    );
  }
  const parts: string[] = [];
  if (free.length > 0) parts.push(`${listNames(free.map((p) => p.name))} (not ready on an old revision: no budget used)`);
  if (paid.length > 0)
    parts.push(`${listNames(paid.map((p) => p.name))} (${state.unavailable} unavailable, max-unavailable ${settings.maxUnavailable})`);
  return decide(
    'delete',
    `StatefulSet ${name}: delete ${parts.join(' and ')} to update them to revision ${state.updateRevision}; ${left} pods left to update${crashNote}`,
    withUpdates({ statefulSet: name, deletions }),
  );
}

function empty(
  action: GroupRolloutAction,
  reason: string,
  members: MemberSummary[],
  problems: ConfigProblem[],
  watchdogGate: boolean,
): GroupRolloutDecision {
  return { action, statefulSet: null, deletions: [], revisionUpdates: [], reason, members, problems, watchdogGate };
}

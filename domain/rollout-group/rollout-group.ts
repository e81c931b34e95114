/**
 * Rollout groups: which StatefulSets form one, and each member's settings read from
 * rollout-operator's keys (domain/shared/keys.ts), with rollout-operator's formats and fallbacks.
 *
 * - A group is the StatefulSets of one namespace whose `rollout-group` label has the same
 *   non-empty value; members are in name order (code-unit order, as Go's string `<`).
 *   An empty label value is reported and the StatefulSet left out: rollout-operator would
 *   make a group named "" of all of them, which no one means.
 * - `rollout-max-unavailable`: surrounding space ignored; `N%` with N an integer 1..100 gives
 *   floor(N × spec.replicas / 100), at least 1; otherwise an integer > 0. Absent: 1. Any other
 *   value (0, -1, `abc`, `150%`, `1.5`) falls back to 1, as rollout-operator does, and is
 *   reported as a problem naming the StatefulSet and the key.
 * - Boolean keys (`grafana.com/rollout-paused`, …) are on only when exactly "true".
 * - `grafana.com/min-time-between-zones-downscale`: the annotation if set and non-empty, else
 *   the label (rollout-operator reads both, the annotation first); a Go duration.
 * - `grafana.com/last-downscale`: RFC 3339 with an offset, as Go's time.RFC3339 parses it.
 * - `grafana.com/rollout-delayed-downscale` with `grafana.com/rollout-prepare-delayed-downscale-url`:
 *   configured only when both are non-empty and the delay is not 0 (Prometheus duration).
 *
 * Reading never throws: a value that cannot be used yields an InvalidValue (or the fallback)
 * plus a ConfigProblem, so one member's bad annotation never stops the loop over the others.
 *
 * Pure: no I/O, safe to import from workflows.
 */
import { parseGoDuration, parsePrometheusDuration } from '../shared/durations';
import {
  DEFAULT_ROLLOUT_MAX_UNAVAILABLE,
  GROUP_WATCHDOG_GATE_ANNOTATION,
  LAST_DOWNSCALE_ANNOTATION,
  MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY,
  NO_DOWNSCALE_LABEL,
  PREPARE_DOWNSCALE_HTTP_PATH_ANNOTATION,
  PREPARE_DOWNSCALE_HTTP_PORT_ANNOTATION,
  PREPARE_DOWNSCALE_LABEL,
  ROLLOUT_DELAYED_DOWNSCALE_ANNOTATION,
  ROLLOUT_DOWNSCALE_LEADER_ANNOTATION,
  ROLLOUT_GROUP_LABEL,
  ROLLOUT_MAX_UNAVAILABLE_ANNOTATION,
  ROLLOUT_OPERATOR_TRUE,
  ROLLOUT_PAUSED_ANNOTATION,
  ROLLOUT_PREPARE_DELAYED_DOWNSCALE_URL_ANNOTATION,
  ROLLOUT_UPSCALE_ONLY_WHEN_LEADER_READY_ANNOTATION,
} from '../shared/keys';
import { parseStatusTime } from '../watchdog/watchdog-status';

// ---------------------------------------------------------------------------
// The shapes read (the JSON of the Kubernetes objects, only the fields used)
// ---------------------------------------------------------------------------

export interface OwnerReferenceJson {
  kind?: string;
  name?: string;
  uid: string;
  controller?: boolean;
}

export interface GroupStatefulSetJson {
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: { replicas?: number | null; serviceName?: string; updateStrategy?: { type?: string } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

export interface ContainerStatusJson {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string }; running?: object; terminated?: object };
}

/** A pod's metadata as the apiserver's JSON has it, for every reader of pods (the rollout activities too). */
export interface PodMetadataJson<Owner = OwnerReferenceJson> {
  name: string;
  uid: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  ownerReferences?: Owner[];
}

export interface GroupPodJson {
  metadata: PodMetadataJson;
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: ContainerStatusJson[];
  };
}

// ---------------------------------------------------------------------------
// Problems and invalid values
// ---------------------------------------------------------------------------

/** A key whose value could not be used, for the decision log and the group's status. */
export interface ConfigProblem {
  /** `StatefulSet <namespace>/<name>`. */
  object: string;
  key: string;
  value: string;
  /** What is wrong and what is done instead. */
  message: string;
}

/** A setting present but unusable; a decision that needs it refuses with `invalid` as the reason. */
export interface InvalidValue {
  invalid: string;
}

export const isInvalid = (value: unknown): value is InvalidValue => typeof value === 'object' && value !== null && 'invalid' in value;

export const objectRef = (sts: Pick<GroupStatefulSetJson, 'metadata'>): string =>
  `StatefulSet ${sts.metadata.namespace ?? ''}/${sts.metadata.name}`;

// ---------------------------------------------------------------------------
// Membership
// ---------------------------------------------------------------------------

export interface RolloutGroup {
  namespace: string;
  name: string;
  /** In name order. */
  members: GroupStatefulSetJson[];
}

/** `rollout-group/<namespace>/<group>`: one workflow per group. */
export const rolloutGroupKey = (g: Pick<RolloutGroup, 'namespace' | 'name'>): string => `rollout-group/${g.namespace}/${g.name}`;

const byName = (a: GroupStatefulSetJson, b: GroupStatefulSetJson): number =>
  a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;

/**
 * The rollout groups among `statefulSets` (of any namespaces), sorted by namespace then group
 * name, each with its members in name order. StatefulSets without the label are not members.
 */
export function findRolloutGroups(statefulSets: readonly GroupStatefulSetJson[]): { groups: RolloutGroup[]; problems: ConfigProblem[] } {
  const byKey = new Map<string, RolloutGroup>();
  const problems: ConfigProblem[] = [];
  for (const sts of statefulSets) {
    const group = sts.metadata.labels?.[ROLLOUT_GROUP_LABEL];
    if (group === undefined) continue;
    if (group === '') {
      problems.push({
        object: objectRef(sts),
        key: ROLLOUT_GROUP_LABEL,
        value: '',
        message: 'the rollout-group label is empty: the StatefulSet is in no group',
      });
      continue;
    }
    const namespace = sts.metadata.namespace ?? '';
    const key = `${namespace}\u0000${group}`;
    const entry = byKey.get(key) ?? { namespace, name: group, members: [] };
    entry.members.push(sts);
    byKey.set(key, entry);
  }
  const groups = [...byKey.values()];
  for (const g of groups) g.members.sort(byName);
  groups.sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));
  return { groups, problems };
}

/** Why the group cannot be rolled (a member is not OnDelete), or null. apps/v1 defaults updateStrategy to RollingUpdate. */
export function updateStrategyRefusal(group: RolloutGroup): string | null {
  for (const sts of group.members) {
    const type = sts.spec.updateStrategy?.type ?? 'RollingUpdate';
    if (type !== 'OnDelete') {
      return `${objectRef(sts)} has update strategy ${type}; every member of rollout group ${group.name} must be OnDelete, so no pod of the group is deleted`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------
// A member's settings
// ---------------------------------------------------------------------------

export interface PrepareDownscaleSettings {
  path: string;
  port: string;
}

export interface DelayedDownscaleSettings {
  delayMs: number;
  url: string;
}

export interface MemberSettings {
  name: string;
  namespace: string;
  uid: string;
  group: string | null;
  /** spec.replicas; Kubernetes defaults a missing one to 1. */
  replicas: number;
  /** rollout-max-unavailable resolved against spec.replicas. */
  maxUnavailable: number;
  paused: boolean;
  leader: string | null;
  upscaleOnlyWhenLeaderReady: boolean;
  /** null when neither the annotation nor the label is set. */
  minTimeBetweenZonesDownscaleMs: number | InvalidValue | null;
  lastDownscale: Date | InvalidValue | null;
  noDownscale: boolean;
  /** null when the prepare-downscale label is not "true"; the path and port may be empty. */
  prepareDownscale: PrepareDownscaleSettings | null;
  delayedDownscale: DelayedDownscaleSettings | InvalidValue | null;
  /** AutoCrane's own opt-in (GROUP_WATCHDOG_GATE_ANNOTATION). */
  watchdogGate: boolean;
}

/**
 * rollout-max-unavailable for a StatefulSet of `replicas` replicas: the value and, when the
 * text could not be used, why (the value is then the fallback, 1).
 */
export function parseMaxUnavailable(text: string | undefined, replicas: number | null): { value: number; problem: string | null } {
  if (text === undefined) return { value: DEFAULT_ROLLOUT_MAX_UNAVAILABLE, problem: null };
  const trimmed = text.trim();
  const fallback = (why: string) => ({
    value: DEFAULT_ROLLOUT_MAX_UNAVAILABLE,
    problem: `${why}; using ${DEFAULT_ROLLOUT_MAX_UNAVAILABLE}`,
  });
  if (trimmed.endsWith('%')) {
    const percent = goAtoi(trimmed.slice(0, -1));
    if (percent === null || percent <= 0 || percent > 100) return fallback(`'${text}' is not a percentage from 1% to 100%`);
    if (replicas === null) return { value: DEFAULT_ROLLOUT_MAX_UNAVAILABLE, problem: null };
    return { value: Math.max(1, Math.floor((percent * replicas) / 100)), problem: null };
  }
  const count = goAtoi(trimmed);
  if (count === null || count <= 0) return fallback(`'${text}' is not a positive integer or a percentage`);
  return { value: count, problem: null };
}

/** Go's strconv.Atoi on 64-bit: optional sign, decimal digits only. */
function goAtoi(text: string): number | null {
  if (!/^[+-]?\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Go's time.Parse(time.RFC3339, …): an offset is required. */
export function parseRfc3339(text: string): Date | null {
  return RFC3339.test(text) ? (parseStatusTime(text) ?? null) : null;
}

/** Formats `at` as rollout-operator writes `grafana.com/last-downscale`: UTC, to the second. */
export const formatLastDownscale = (at: Date): string => `${at.toISOString().slice(0, 19)}Z`;

/** The min-time key's value: annotation first (if non-empty), then the label. */
export function minTimeBetweenZonesDownscaleText(sts: Pick<GroupStatefulSetJson, 'metadata'>): string | undefined {
  const annotation = sts.metadata.annotations?.[MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY];
  if (annotation !== undefined && annotation !== '') return annotation;
  const label = sts.metadata.labels?.[MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY];
  return label !== undefined && label !== '' ? label : undefined;
}

/** Reads every setting of a member; never throws. */
export function readMemberSettings(sts: GroupStatefulSetJson): { settings: MemberSettings; problems: ConfigProblem[] } {
  const annotations = sts.metadata.annotations ?? {};
  const labels = sts.metadata.labels ?? {};
  const problems: ConfigProblem[] = [];
  const report = (key: string, value: string, message: string) => problems.push({ object: objectRef(sts), key, value, message });
  const replicas = typeof sts.spec.replicas === 'number' ? sts.spec.replicas : null;

  const maxText = annotations[ROLLOUT_MAX_UNAVAILABLE_ANNOTATION];
  const max = parseMaxUnavailable(maxText, replicas);
  if (max.problem !== null) report(ROLLOUT_MAX_UNAVAILABLE_ANNOTATION, maxText ?? '', max.problem);

  let minTime: MemberSettings['minTimeBetweenZonesDownscaleMs'] = null;
  const minText = minTimeBetweenZonesDownscaleText(sts);
  if (minText !== undefined) {
    const parsed = parseGoDuration(minText);
    if ('error' in parsed) {
      minTime = { invalid: `${objectRef(sts)}: ${MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY}: ${parsed.error}` };
      report(MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY, minText, parsed.error);
    } else minTime = parsed.ms;
  }

  let lastDownscale: MemberSettings['lastDownscale'] = null;
  const lastText = annotations[LAST_DOWNSCALE_ANNOTATION];
  if (lastText !== undefined) {
    const parsed = parseRfc3339(lastText);
    if (parsed === null) {
      const message = `'${lastText}' is not an RFC 3339 time with an offset`;
      lastDownscale = { invalid: `${objectRef(sts)}: ${LAST_DOWNSCALE_ANNOTATION}: ${message}` };
      report(LAST_DOWNSCALE_ANNOTATION, lastText, message);
    } else lastDownscale = parsed;
  }

  let delayed: MemberSettings['delayedDownscale'] = null;
  const delayText = annotations[ROLLOUT_DELAYED_DOWNSCALE_ANNOTATION] ?? '';
  const urlText = annotations[ROLLOUT_PREPARE_DELAYED_DOWNSCALE_URL_ANNOTATION] ?? '';
  if (delayText !== '' && urlText !== '') {
    const parsed = parsePrometheusDuration(delayText);
    if ('error' in parsed) {
      delayed = { invalid: `${objectRef(sts)}: ${ROLLOUT_DELAYED_DOWNSCALE_ANNOTATION}: ${parsed.error}` };
      report(ROLLOUT_DELAYED_DOWNSCALE_ANNOTATION, delayText, parsed.error);
    } else if (!/^https?:\/\/[^\s/?#]/i.test(urlText)) {
      const message = `'${urlText}' is not an http(s) URL`;
      delayed = { invalid: `${objectRef(sts)}: ${ROLLOUT_PREPARE_DELAYED_DOWNSCALE_URL_ANNOTATION}: ${message}` };
      report(ROLLOUT_PREPARE_DELAYED_DOWNSCALE_URL_ANNOTATION, urlText, message);
    } else if (parsed.ms > 0) delayed = { delayMs: parsed.ms, url: urlText };
  }

  const gateText = annotations[GROUP_WATCHDOG_GATE_ANNOTATION];
  let watchdogGate = false;
  if (gateText !== undefined) {
    watchdogGate = gateText !== 'false';
    if (gateText !== 'true' && gateText !== 'false') {
      report(GROUP_WATCHDOG_GATE_ANNOTATION, gateText, `expected "true" or "false"; the gate is on, the safer reading`);
    }
  }

  const group = labels[ROLLOUT_GROUP_LABEL];
  return {
    settings: {
      name: sts.metadata.name,
      namespace: sts.metadata.namespace ?? '',
      uid: sts.metadata.uid,
      group: group === undefined || group === '' ? null : group,
      replicas: replicas ?? 1,
      maxUnavailable: max.value,
      paused: annotations[ROLLOUT_PAUSED_ANNOTATION] === ROLLOUT_OPERATOR_TRUE,
      leader: annotations[ROLLOUT_DOWNSCALE_LEADER_ANNOTATION] ?? null,
      upscaleOnlyWhenLeaderReady: annotations[ROLLOUT_UPSCALE_ONLY_WHEN_LEADER_READY_ANNOTATION] === ROLLOUT_OPERATOR_TRUE,
      minTimeBetweenZonesDownscaleMs: minTime,
      lastDownscale,
      noDownscale: labels[NO_DOWNSCALE_LABEL] === ROLLOUT_OPERATOR_TRUE,
      prepareDownscale:
        labels[PREPARE_DOWNSCALE_LABEL] === ROLLOUT_OPERATOR_TRUE
          ? {
              path: annotations[PREPARE_DOWNSCALE_HTTP_PATH_ANNOTATION] ?? '',
              port: annotations[PREPARE_DOWNSCALE_HTTP_PORT_ANNOTATION] ?? '',
            }
          : null,
      delayedDownscale: delayed,
      watchdogGate,
    },
    problems,
  };
}

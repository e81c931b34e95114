/**
 * A group member's pods and whether the member is settled (every replica there, ready, none
 * terminating), as the group's rollout and the downscale checks see them.
 *
 * - A member's pods are the pods whose controlling owner reference has the StatefulSet's UID,
 *   not the pods carrying some label: rollout-operator matched `name=<template's name label>`,
 *   which missed every pod of charts without that label (the mimir chart) and could match
 *   another StatefulSet's pods.
 * - A pod is updated when its `controller-revision-hash` is the StatefulSet's
 *   status.updateRevision.
 * - A pod is ready when it is Running, not terminating, its Ready condition is True and each
 *   container is ready and running (rollout-operator's test, plus the condition so readiness
 *   gates count). A terminating pod is never ready.
 * - A member of N replicas (N > 0) is settled only when N of its pods with ordinals below N are
 *   ready and no pod of it is terminating or not ready: zero pods is "0 of N ready", never
 *   "no pod is unready" (rollout-operator's outage). A member of 0 replicas with no pod is
 *   settled (nothing runs to disrupt).
 * - Unavailable = N − ready pods below N, at least status.replicas − status.readyReplicas (the
 *   larger of the two views: each lags the other at times). Missing pods and terminating pods
 *   are unavailable and so use the member's budget.
 *
 * Pure: safe to import from workflows.
 */
import { CONTROLLER_REVISION_HASH_LABEL } from '../shared/keys';
import type { GroupPodJson, GroupStatefulSetJson } from './rollout-group';
import { readWatchdogs } from '../watchdog/watchdog-annotations';

export interface MemberPod {
  name: string;
  uid: string;
  /** The ordinal from the name `<statefulset>-<n>`; null when the name is not of that form. */
  ordinal: number | null;
  revision: string | null;
  updated: boolean;
  ready: boolean;
  terminating: boolean;
  /** Pending: no container has started yet (nothing to prepare, nothing served). */
  pending: boolean;
  /** A container waits in CrashLoopBackOff. */
  crashLooping: boolean;
  /** Names of its error watchdogs (`status.autocrane.io/<name>` at level error). */
  errorWatchdogs: string[];
}

export interface MemberState {
  name: string;
  uid: string;
  replicas: number;
  updateRevision: string | null;
  currentRevision: string | null;
  /** The StatefulSet controller has seen the latest spec (status.observedGeneration ≥ generation). */
  observed: boolean;
  /** Pods in ordinal (natural) order. */
  pods: MemberPod[];
  readyCount: number;
  unavailable: number;
  /** Ordinals below replicas without a pod. */
  missing: number[];
  notReady: MemberPod[];
  terminating: MemberPod[];
  /** Non-terminating pods not on updateRevision (all pods when the revision is unknown). */
  outdated: MemberPod[];
  settled: boolean;
}

/** The ordinal of `podName` in StatefulSet `statefulSet`, or null. */
export function podOrdinal(statefulSet: string, podName: string): number | null {
  const prefix = `${statefulSet}-`;
  if (!podName.startsWith(prefix)) return null;
  const rest = podName.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : null;
}

/** The pods controlled by `sts` (controlling owner reference with its UID). */
export function podsOwnedBy(sts: Pick<GroupStatefulSetJson, 'metadata'>, pods: readonly GroupPodJson[]): GroupPodJson[] {
  return pods.filter((p) => (p.metadata.ownerReferences ?? []).some((o) => o.controller === true && o.uid === sts.metadata.uid));
}

export function isPodReady(pod: GroupPodJson): boolean {
  if (pod.metadata.deletionTimestamp !== undefined) return false;
  if (pod.status?.phase !== 'Running') return false;
  const condition = pod.status.conditions?.find((c) => c.type === 'Ready');
  if (condition?.status !== 'True') return false;
  return (pod.status.containerStatuses ?? []).every((c) => c.ready === true && c.state?.running !== undefined);
}

export function observePod(statefulSet: string, pod: GroupPodJson, updateRevision: string | null): MemberPod {
  const revision = pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] ?? null;
  const containers = pod.status?.containerStatuses ?? [];
  return {
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    ordinal: podOrdinal(statefulSet, pod.metadata.name),
    revision,
    updated: updateRevision !== null && revision === updateRevision,
    ready: isPodReady(pod),
    terminating: pod.metadata.deletionTimestamp !== undefined,
    pending: (pod.status?.phase ?? 'Pending') === 'Pending',
    crashLooping: containers.some((c) => c.state?.waiting?.reason === 'CrashLoopBackOff'),
    errorWatchdogs: readWatchdogs(pod.metadata.annotations)
      .watchdogs.filter((w) => w.declaredLevel === 'error')
      .map((w) => w.name),
  };
}

const naturalOrder = (a: MemberPod, b: MemberPod): number => {
  if (a.ordinal !== null && b.ordinal !== null) return a.ordinal - b.ordinal;
  if (a.ordinal !== null) return -1;
  if (b.ordinal !== null) return 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
};

/** What `sts` and its pods (any pods: those it does not own are ignored) say about the member. */
export function memberState(sts: GroupStatefulSetJson, allPods: readonly GroupPodJson[]): MemberState {
  const replicas = typeof sts.spec.replicas === 'number' ? sts.spec.replicas : 1;
  const updateRevision = sts.status?.updateRevision || null;
  const currentRevision = sts.status?.currentRevision || null;
  const pods = podsOwnedBy(sts, allPods)
    .map((p) => observePod(sts.metadata.name, p, updateRevision))
    .sort(naturalOrder);
  const inRange = (p: MemberPod) => p.ordinal !== null && p.ordinal < replicas;
  const readyCount = pods.filter((p) => p.ready && inRange(p)).length;
  const present = new Set(pods.filter((p) => !p.terminating && inRange(p)).map((p) => p.ordinal));
  const missing: number[] = [];
  for (let o = 0; o < replicas; o++) if (!present.has(o)) missing.push(o);
  const statusGap = (sts.status?.replicas ?? 0) - (sts.status?.readyReplicas ?? 0);
  const unavailable = Math.max(replicas - readyCount, statusGap, 0);
  const notReady = pods.filter((p) => !p.ready);
  const terminating = pods.filter((p) => p.terminating);
  const generation = sts.metadata.generation;
  const observed = generation === undefined || (sts.status?.observedGeneration ?? 0) >= generation;
  return {
    name: sts.metadata.name,
    uid: sts.metadata.uid,
    replicas,
    updateRevision,
    currentRevision,
    observed,
    pods,
    readyCount,
    unavailable,
    missing,
    notReady,
    terminating,
    outdated: pods.filter((p) => !p.terminating && !p.updated),
    settled: unavailable === 0 && notReady.length === 0,
  };
}

/** How many names a reason lists before "and N more". */
export const REASON_NAME_LIMIT = 5;

export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, REASON_NAME_LIMIT).join(', ');
  return names.length > REASON_NAME_LIMIT ? `${shown} and ${names.length - REASON_NAME_LIMIT} more` : shown;
}

/** Why a member is not settled, for people: "2 of 3 pods ready; not ready: a-1 (terminating); missing: a-2". */
export function unsettledDetail(m: MemberState): string {
  const parts = [`${m.readyCount} of ${m.replicas} pods ready`];
  if (m.notReady.length > 0) {
    const tag = (p: MemberPod) => (p.terminating ? `${p.name} (terminating)` : p.crashLooping ? `${p.name} (CrashLoopBackOff)` : p.name);
    parts.push(`not ready: ${listNames(m.notReady.map(tag))}`);
  }
  if (m.missing.length > 0) parts.push(`missing: ${listNames(m.missing.map((o) => `${m.name}-${o}`))}`);
  return parts.join('; ');
}

/** Updated pods of the member with an error watchdog, as "pod (watchdog, …)". */
export function erroringUpdatedPods(m: MemberState): string[] {
  return m.pods
    .filter((p) => p.updated && !p.terminating && p.errorWatchdogs.length > 0)
    .map((p) => `${p.name} (${p.errorWatchdogs.join(', ')})`);
}

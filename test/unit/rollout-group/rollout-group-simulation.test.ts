/**
 * Drives planGroupRollout against a simulated group until it is idle, applying each step the
 * way the StatefulSet controller would (a deleted pod comes back on the update revision, not
 * ready, then turns ready one pod per tick), and checks the guarantees after every step, not
 * only at the end.
 */
import { planGroupRollout } from '../../../domain/rollout-group/rollout-group-plan';
import type { GroupPodJson, GroupStatefulSetJson } from '../../../domain/rollout-group/rollout-group';
import { NEW, pod, pods, sts } from '../../fixtures/rollout-group';

const ZONES = ['ingester-zone-a', 'ingester-zone-b', 'ingester-zone-c'];

function simulate(maxUnavailable: number, replicas: number, readyPerTick: number) {
  const statefulSets: GroupStatefulSetJson[] = ZONES.map((n) =>
    sts(n, { replicas, update: NEW, annotations: { 'rollout-max-unavailable': String(maxUnavailable) } }),
  );
  let podList: GroupPodJson[] = ZONES.flatMap((n) => pods(n, replicas));
  const zoneOf = (p: GroupPodJson) => p.metadata.ownerReferences![0]!.name!;
  const notReady = (zone: string) => podList.filter((p) => zoneOf(p) === zone && p.status!.conditions![0]!.status !== 'True').length;
  const disruptedZones = () => ZONES.filter((z) => notReady(z) > 0);
  let steps = 0;
  let deletions = 0;
  for (;;) {
    const d = planGroupRollout({ statefulSets, pods: podList });
    for (const u of d.revisionUpdates) statefulSets.find((s) => s.metadata.name === u.statefulSet)!.status!.currentRevision = u.revision;
    if (d.action === 'idle') break;
    expect(['delete', 'wait']).toContain(d.action);
    for (const del of d.deletions) {
      deletions++;
      const ordinal = Number(del.pod.slice(del.statefulSet.length + 1));
      podList = podList.map((p) =>
        p.metadata.name === del.pod ? pod(del.statefulSet, ordinal, { revision: NEW, ready: false, phase: 'Pending' }) : p,
      );
    }
    // The guarantees, after the step took effect.
    expect(disruptedZones().length).toBeLessThanOrEqual(1);
    for (const z of ZONES) expect(notReady(z)).toBeLessThanOrEqual(maxUnavailable);
    // Time passes: some not-ready pods turn ready.
    let turned = 0;
    podList = podList.map((p) => {
      if (turned >= readyPerTick || p.status!.conditions![0]!.status === 'True') return p;
      turned++;
      return pod(zoneOf(p), Number(p.metadata.name.slice(zoneOf(p).length + 1)), { revision: NEW });
    });
    steps++;
    if (steps > 200) throw new Error('the rollout did not finish in 200 steps');
  }
  return { steps, deletions, podList, statefulSets };
}

describe('a whole group rollout, step by step', () => {
  it.each([
    [1, 3, 1],
    [2, 4, 1],
    [2, 4, 2],
    [3, 10, 1],
    [5, 5, 3],
  ])(
    'max-unavailable %d, %d pods per zone, %d pods ready per tick: one zone at a time, within budget, every pod updated once',
    (maxUnavailable, replicas, readyPerTick) => {
      const { deletions, podList, statefulSets } = simulate(maxUnavailable, replicas, readyPerTick);
      expect(deletions).toBe(ZONES.length * replicas);
      expect(podList.every((p) => p.metadata.labels!['controller-revision-hash'] === NEW)).toBe(true);
      expect(statefulSets.map((s) => s.status!.currentRevision)).toEqual([NEW, NEW, NEW]);
    },
  );
});

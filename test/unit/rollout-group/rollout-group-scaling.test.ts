import {
  decideFollowerReplicas,
  delayedDownscaleCalls,
  delayedDownscaleReplicas,
  disruptionBlocker,
  otherZoneBlockers,
  planGroupScaling,
  type DelayedDownscaleInput,
  type GroupView,
} from '../../../domain/rollout-group/rollout-group-scaling';
import { memberState } from '../../../domain/rollout-group/rollout-group-pods';
import type { GroupPodJson, GroupStatefulSetJson } from '../../../domain/rollout-group/rollout-group';
import { NEW, pod, pods, sts } from '../../fixtures/rollout-group';

const NOW = new Date('2026-12-07T22:00:00Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString().replace('.000Z', 'Z');
const view = (statefulSets: GroupStatefulSetJson[], podList: GroupPodJson[] = [], over: Partial<GroupView> = {}): GroupView => ({
  statefulSets,
  pods: podList,
  now: NOW,
  ...over,
});

const MIN = { 'grafana.com/min-time-between-zones-downscale': '12h' };
const leaderA = (replicas: number, o: Parameters<typeof sts>[1] = {}) => sts('ingester-zone-a', { replicas, ...o });
const followerB = (replicas: number, annotations: Record<string, string> = {}, labels: Record<string, string> = MIN) =>
  sts('ingester-zone-b', { replicas, labels, annotations: { 'grafana.com/rollout-downscale-leader': 'ingester-zone-a', ...annotations } });
const allPods = (a: number, b: number) => [...pods('ingester-zone-a', a), ...pods('ingester-zone-b', b)];

describe('decideFollowerReplicas: scale up', () => {
  it('follows the leader up at once', () => {
    expect(decideFollowerReplicas('ingester-zone-b', view([leaderA(5), followerB(3)], allPods(5, 3)))).toMatchObject({
      action: 'scaleUp',
      replicas: 5,
    });
  });

  it('with upscale-only-when-leader-ready, waits until every leader replica is ready', () => {
    const annotations = { 'grafana.com/rollout-upscale-only-when-leader-ready': 'true' };
    const notReady = decideFollowerReplicas('ingester-zone-b', view([leaderA(5, { ready: 4 }), followerB(3, annotations)]));
    expect(notReady).toMatchObject({ action: 'hold', replicas: 3 });
    expect(notReady.reason).toContain('(4 now)');
    expect(decideFollowerReplicas('ingester-zone-b', view([leaderA(5), followerB(3, annotations)]))).toMatchObject({
      action: 'scaleUp',
      replicas: 5,
    });
  });
});

describe('decideFollowerReplicas: scale down', () => {
  it('follows the leader down when no member was ever downscaled', () => {
    expect(decideFollowerReplicas('ingester-zone-b', view([leaderA(3), followerB(5)], allPods(3, 5)))).toMatchObject({
      action: 'scaleDown',
      replicas: 3,
    });
  });

  it("holds until the follower's min time has passed since the most recent other downscale, and says when", () => {
    const leader = leaderA(3, { annotations: { 'grafana.com/last-downscale': hoursAgo(2) } });
    const third = sts('ingester-zone-c', { annotations: { 'grafana.com/last-downscale': hoursAgo(11) } });
    const d = decideFollowerReplicas(
      'ingester-zone-b',
      view([leader, followerB(5), third], [...allPods(3, 5), ...pods('ingester-zone-c', 3)]),
    );
    expect(d).toMatchObject({ action: 'hold', replicas: 5, recheckAt: '2026-12-08T08:00:00.000Z' });
    expect(d.reason).toContain('ingester-zone-a was downscaled');
  });

  it('scales down once exactly the min time has passed', () => {
    const leader = leaderA(3, { annotations: { 'grafana.com/last-downscale': hoursAgo(12) } });
    expect(decideFollowerReplicas('ingester-zone-b', view([leader, followerB(5)], allPods(3, 5)))).toMatchObject({
      action: 'scaleDown',
      replicas: 3,
    });
  });

  it("ignores the follower's own last downscale", () => {
    const follower = followerB(5, { 'grafana.com/last-downscale': hoursAgo(1) });
    expect(decideFollowerReplicas('ingester-zone-b', view([leaderA(3), follower], allPods(3, 5)))).toMatchObject({ action: 'scaleDown' });
  });

  it('reads the min time from the annotation before the label', () => {
    const leader = leaderA(3, { annotations: { 'grafana.com/last-downscale': hoursAgo(2) } });
    const follower = followerB(5, { 'grafana.com/min-time-between-zones-downscale': '1h' });
    expect(decideFollowerReplicas('ingester-zone-b', view([leader, follower], allPods(3, 5)))).toMatchObject({ action: 'scaleDown' });
  });

  it.each([
    ['no min time on the follower', followerB(5, {}, {}), 'has no grafana.com/min-time-between-zones-downscale'],
    ['an unparsable min time', followerB(5, {}, { 'grafana.com/min-time-between-zones-downscale': '12' }), "invalid Go duration '12'"],
  ])('refuses to scale down with %s, naming the key', (_, follower, message) => {
    const leader = leaderA(3, { annotations: { 'grafana.com/last-downscale': hoursAgo(20) } });
    const d = decideFollowerReplicas('ingester-zone-b', view([leader, follower], allPods(3, 5)));
    expect(d).toMatchObject({ action: 'error', replicas: 5 });
    expect(d.reason).toContain(message);
  });

  it('refuses to scale down when another member has an unparsable last-downscale', () => {
    const leader = leaderA(3, { annotations: { 'grafana.com/last-downscale': 'yesterday' } });
    const d = decideFollowerReplicas('ingester-zone-b', view([leader, followerB(5)], allPods(3, 5)));
    expect(d.action).toBe('error');
    expect(d.reason).toContain('StatefulSet ns/ingester-zone-a: grafana.com/last-downscale');
  });

  it('holds a downscale while another member is mid-rollout (the group lock)', () => {
    const third = sts('ingester-zone-c', { update: NEW });
    const d = decideFollowerReplicas(
      'ingester-zone-b',
      view([leaderA(3), followerB(5), third], [...allPods(3, 5), ...pods('ingester-zone-c', 3)]),
    );
    expect(d.action).toBe('hold');
    expect(d.reason).toContain('ingester-zone-c has 3 pods not on its update revision');
  });
});

describe('decideFollowerReplicas: configuration', () => {
  it('does nothing without a leader, or with the same replicas', () => {
    expect(decideFollowerReplicas('ingester-zone-a', view([leaderA(3)])).action).toBe('none');
    expect(decideFollowerReplicas('ingester-zone-b', view([leaderA(3), followerB(3)])).action).toBe('none');
  });

  it('reports a leader that is not in the group', () => {
    const d = decideFollowerReplicas('ingester-zone-b', view([followerB(3)]));
    expect(d.action).toBe('error');
    expect(d.reason).toContain('its leader ingester-zone-a');
  });

  it('plans one change per pass, in name order, listing the holds', () => {
    const c = sts('ingester-zone-c', { replicas: 1, annotations: { 'grafana.com/rollout-downscale-leader': 'ingester-zone-b' } });
    const { decision, holds } = planGroupScaling(view([leaderA(5), followerB(3), c]));
    expect(decision).toMatchObject({ statefulSet: 'ingester-zone-b', action: 'scaleUp', replicas: 5 });
    expect(holds).toEqual([]);
  });
});

describe('other zones and a downscale', () => {
  it("refuses while another zone's own min time has not passed since its downscale", () => {
    const a = sts('ingester-zone-a', { annotations: { 'grafana.com/last-downscale': hoursAgo(1) }, labels: MIN });
    const blockers = otherZoneBlockers('ingester-zone-b', view([a, sts('ingester-zone-b')], allPods(3, 3)));
    expect(blockers).toEqual([expect.objectContaining({ statefulSet: 'ingester-zone-a', until: '2026-12-08T09:00:00.000Z' })]);
  });

  it('ignores a last downscale on a zone without a min time', () => {
    const a = sts('ingester-zone-a', { annotations: { 'grafana.com/last-downscale': hoursAgo(1) } });
    expect(otherZoneBlockers('ingester-zone-b', view([a, sts('ingester-zone-b')], allPods(3, 3)))).toEqual([]);
  });

  it('refuses while another zone has a terminating pod or a not-ready pod', () => {
    const terminating = memberState(sts('a'), [pod('a', 0), pod('a', 1), pod('a', 2, { terminating: true })]);
    expect(disruptionBlocker(terminating, undefined)?.reason).toContain('terminating pods (a-2)');
    const notReady = memberState(sts('a'), [pod('a', 0), pod('a', 1, { ready: false }), pod('a', 2)]);
    expect(disruptionBlocker(notReady, undefined)?.reason).toContain('is not ready');
  });

  it('does not refuse because another zone is only scaling up, when its settled size is known', () => {
    const growing = memberState(sts('a', { replicas: 5, ready: 3 }), [...pods('a', 3), pod('a', 3, { ready: false, phase: 'Pending' })]);
    expect(disruptionBlocker(growing, 3)).toBeNull();
    expect(disruptionBlocker(growing, undefined)).not.toBeNull();
  });

  it('still refuses a zone scaling up when one of its older pods is not ready', () => {
    const growing = memberState(sts('a', { replicas: 5 }), [
      pod('a', 0),
      pod('a', 1, { ready: false }),
      pod('a', 2),
      pod('a', 3, { ready: false }),
    ]);
    expect(disruptionBlocker(growing, 3)).not.toBeNull();
  });
});

describe('delayed downscale', () => {
  it('prepares the pods being removed and cancels the others; a scale-up cancels all', () => {
    expect(delayedDownscaleCalls(5, 3)).toEqual({ prepare: [3, 4], cancel: [0, 1, 2] });
    expect(delayedDownscaleCalls(3, 5)).toEqual({ prepare: [], cancel: [0, 1, 2] });
  });

  const seconds = (h: number) => Math.floor((NOW.getTime() - h * 3_600_000) / 1000);
  const input = (preparedAt: DelayedDownscaleInput['preparedAt']): DelayedDownscaleInput => ({
    statefulSet: 'ingester-zone-a',
    current: 5,
    desired: 2,
    delayMs: 4 * 3_600_000,
    preparedAt,
    now: NOW,
  });

  it('removes pods from the top ordinal down while their delay has elapsed, stopping at the first that has not', () => {
    const d = delayedDownscaleReplicas(input({ 2: seconds(5), 3: seconds(1), 4: seconds(4) }));
    expect(d.replicas).toBe(4);
    expect(d.recheckAt).toBe('2026-12-08T01:00:00.000Z');
  });

  it('removes every pod once all delays have elapsed', () => {
    expect(delayedDownscaleReplicas(input({ 2: seconds(5), 3: seconds(6), 4: seconds(4) }))).toMatchObject({
      replicas: 2,
      recheckAt: null,
    });
  });

  it('keeps every pod while the top one has not waited its delay', () => {
    const d = delayedDownscaleReplicas(input({ 2: seconds(5), 3: seconds(5), 4: seconds(1) }));
    expect(d.replicas).toBe(5);
    expect(d.reason).toContain('ingester-zone-a-4');
  });

  it('holds when a pod did not answer with a timestamp', () => {
    const d = delayedDownscaleReplicas(input({ 2: seconds(5), 3: null, 4: 0 }));
    expect(d.replicas).toBe(5);
    expect(d.reason).toContain('ingester-zone-a-3, ingester-zone-a-4 did not confirm');
  });

  it('lets a scale-up through at once', () => {
    expect(delayedDownscaleReplicas({ ...input({}), desired: 7 }).replicas).toBe(7);
  });
});

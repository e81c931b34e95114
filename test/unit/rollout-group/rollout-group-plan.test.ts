import { planGroupRollout, type GroupRolloutInput } from '../../../domain/rollout-group/rollout-group-plan';
import type { GroupPodJson, GroupStatefulSetJson } from '../../../domain/rollout-group/rollout-group';
import { NEW, OLD, pod, pods, sts } from '../../fixtures/rollout-group';

const plan = (statefulSets: GroupStatefulSetJson[], podList: GroupPodJson[]) =>
  planGroupRollout({ statefulSets, pods: podList } satisfies GroupRolloutInput);
const deleted = (d: ReturnType<typeof plan>) => d.deletions.map((x) => x.pod);

/** Three zones of 3 pods, template changed everywhere, every pod still on OLD and ready. */
const zones = (o: Parameters<typeof sts>[1] = {}) =>
  ['ingester-zone-a', 'ingester-zone-b', 'ingester-zone-c'].map((n) => sts(n, { update: NEW, ...o }));
const oldPods = () => [...pods('ingester-zone-a', 3), ...pods('ingester-zone-b', 3), ...pods('ingester-zone-c', 3)];

describe('planGroupRollout: order and budget', () => {
  it('rolls the first StatefulSet in name order, one pod at a time by default', () => {
    const d = plan(zones().reverse(), oldPods());
    expect(d.action).toBe('delete');
    expect(d.statefulSet).toBe('ingester-zone-a');
    expect(d.deletions).toEqual([
      { statefulSet: 'ingester-zone-a', pod: 'ingester-zone-a-0', uid: 'uid-ingester-zone-a-0', why: 'budget' },
    ]);
    expect(d.reason).toContain('ingester-zone-a-0');
  });

  it('deletes up to rollout-max-unavailable pods at once, in ordinal order', () => {
    const d = plan(zones({ annotations: { 'rollout-max-unavailable': '2' } }), oldPods());
    expect(deleted(d)).toEqual(['ingester-zone-a-0', 'ingester-zone-a-1']);
  });

  it('resolves a percentage against spec.replicas (floor, at least 1)', () => {
    const statefulSets = ['ingester-zone-a', 'ingester-zone-b'].map((n) =>
      sts(n, { update: NEW, replicas: 10, annotations: { 'rollout-max-unavailable': '25%' } }),
    );
    const d = plan(statefulSets, [...pods('ingester-zone-a', 10), ...pods('ingester-zone-b', 10)]);
    expect(deleted(d)).toEqual(['ingester-zone-a-0', 'ingester-zone-a-1']);
  });

  it('counts not-ready updated pods against the budget of the StatefulSet in progress', () => {
    const d = plan(zones(), [
      pod('ingester-zone-a', 0, { revision: NEW, ready: false }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(d.action).toBe('wait');
    expect(d.statefulSet).toBe('ingester-zone-a');
    expect(d.reason).toContain('max-unavailable 1');
  });

  it('counts a terminating pod as not ready even while status still counts it ready', () => {
    // rollout-operator took status.replicas − status.readyReplicas (0 here) and deleted another pod.
    const d = plan(zones(), [
      pod('ingester-zone-a', 0, { terminating: true }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(d.action).toBe('wait');
    expect(d.deletions).toEqual([]);
    expect(d.reason).toContain('ingester-zone-a-0 (terminating)');
  });

  it('counts missing pods as unavailable', () => {
    const d = plan(zones(), [
      pod('ingester-zone-a', 0, { revision: NEW }),
      pod('ingester-zone-a', 1),
      ...pods('ingester-zone-b', 3),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(d.action).toBe('wait');
    expect(d.reason).toContain('missing: ingester-zone-a-2');
  });

  it('never deletes more than the budget left when some pods are already updated and ready', () => {
    const d = plan(zones({ annotations: { 'rollout-max-unavailable': '2' } }), [
      pod('ingester-zone-a', 0, { revision: NEW }),
      pod('ingester-zone-a', 1, { revision: NEW, ready: false }),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(deleted(d)).toEqual(['ingester-zone-a-2']);
  });
});

describe('planGroupRollout: one StatefulSet disrupted at a time', () => {
  it('waits when two StatefulSets are not ready, naming both', () => {
    const d = plan(zones(), [
      pod('ingester-zone-a', 0, { ready: false }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 2),
      pod('ingester-zone-b', 2, { ready: false }),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(d.action).toBe('wait');
    expect(d.deletions).toEqual([]);
    expect(d.reason).toMatch(/2 StatefulSets .*ingester-zone-a.*ingester-zone-b/);
  });

  it('takes the one not-ready StatefulSet first, whatever its name', () => {
    const d = plan(zones(), [
      ...pods('ingester-zone-a', 3),
      ...pods('ingester-zone-b', 3),
      pod('ingester-zone-c', 0, { ready: false }),
      pod('ingester-zone-c', 1),
      pod('ingester-zone-c', 2),
    ]);
    expect(d.statefulSet).toBe('ingester-zone-c');
    expect(deleted(d)).toEqual(['ingester-zone-c-0']);
  });

  it('does not move to the next StatefulSet until every pod of the previous one is updated and ready', () => {
    const d = plan(zones(), [
      pod('ingester-zone-a', 0, { revision: NEW }),
      pod('ingester-zone-a', 1, { revision: NEW }),
      pod('ingester-zone-a', 2, { revision: NEW, ready: false }),
      ...pods('ingester-zone-b', 3),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(d.action).toBe('wait');
    expect(d.statefulSet).toBe('ingester-zone-a');
    expect(d.reason).toContain('every pod is on revision rev-new');
  });

  it('treats a StatefulSet with replicas but no pod as not ready (zero pods is not "all ready")', () => {
    // rollout-operator listed the not-ready pods, found none, and moved on to the next zone.
    const d = plan(zones(), [...pods('ingester-zone-b', 3), ...pods('ingester-zone-c', 3)]);
    expect(d.statefulSet).toBe('ingester-zone-a');
    expect(d.action).toBe('wait');
    expect(d.deletions).toEqual([]);
    expect(d.reason).toContain('0 of 3 pods ready');
  });

  it('treats a StatefulSet of 0 replicas with no pod as ready', () => {
    const statefulSets = [sts('ingester-zone-a', { replicas: 0, update: NEW }), sts('ingester-zone-b', { update: NEW })];
    const d = plan(statefulSets, pods('ingester-zone-b', 3));
    expect(deleted(d)).toEqual(['ingester-zone-b-0']);
  });

  it("records the finished StatefulSet's currentRevision and moves on to the next", () => {
    const d = plan(zones(), [...pods('ingester-zone-a', 3, NEW), ...pods('ingester-zone-b', 3), ...pods('ingester-zone-c', 3)]);
    expect(d.revisionUpdates).toEqual([{ statefulSet: 'ingester-zone-a', uid: 'uid-ingester-zone-a', revision: NEW }]);
    expect(deleted(d)).toEqual(['ingester-zone-b-0']);
  });

  it('is idle once every StatefulSet is updated and ready, recording the revisions left to record', () => {
    const statefulSets = [sts('ingester-zone-a', { update: NEW, current: NEW }), sts('ingester-zone-b', { update: NEW })];
    const d = plan(statefulSets, [...pods('ingester-zone-a', 3, NEW), ...pods('ingester-zone-b', 3, NEW)]);
    expect(d.action).toBe('idle');
    expect(d.revisionUpdates.map((u) => u.statefulSet)).toEqual(['ingester-zone-b']);
  });
});

describe('planGroupRollout: which pods belong to a StatefulSet', () => {
  it('matches pods by controlling owner UID, without needing a name label', () => {
    const d = plan(zones(), oldPods());
    expect(deleted(d)).toEqual(['ingester-zone-a-0']);
  });

  it('ignores a pod named like a member but owned by something else', () => {
    const stray = pod('ingester-zone-a', 3, { owner: 'other-sts', revision: OLD });
    const bare = pod('ingester-zone-a', 4, { owner: null, ready: false });
    const d = plan(zones(), [
      stray,
      bare,
      ...pods('ingester-zone-a', 3, NEW),
      ...pods('ingester-zone-b', 3),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(deleted(d)).toEqual(['ingester-zone-b-0']);
  });

  it('ignores the name label: a pod of another StatefulSet sharing it is not counted', () => {
    const shared = { name: 'ingester' };
    const other = pod('ingester-zone-b', 0, { labels: shared, revision: OLD, ready: false });
    const d = plan(zones(), [
      ...pods('ingester-zone-a', 3).map((p) => ({ ...p, metadata: { ...p.metadata, labels: { ...p.metadata.labels, ...shared } } })),
      other,
      pod('ingester-zone-b', 1),
      pod('ingester-zone-b', 2),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(d.statefulSet).toBe('ingester-zone-b');
  });
});

describe('planGroupRollout: pause, strategy, stale status', () => {
  it('skips a paused StatefulSet that is ready and rolls the next one', () => {
    const statefulSets = [
      sts('ingester-zone-a', { update: NEW, annotations: { 'grafana.com/rollout-paused': 'true' } }),
      sts('ingester-zone-b', { update: NEW }),
    ];
    const d = plan(statefulSets, [...pods('ingester-zone-a', 3), ...pods('ingester-zone-b', 3)]);
    expect(deleted(d)).toEqual(['ingester-zone-b-0']);
  });

  it('makes the group wait while a paused StatefulSet is not ready (rollout-operator would roll the next zone)', () => {
    const statefulSets = [
      sts('ingester-zone-a', { update: NEW, annotations: { 'grafana.com/rollout-paused': 'true' } }),
      sts('ingester-zone-b', { update: NEW }),
    ];
    const d = plan(statefulSets, [
      pod('ingester-zone-a', 0, { ready: false }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
    ]);
    expect(d.action).toBe('wait');
    expect(d.deletions).toEqual([]);
    expect(d.reason).toContain('paused');
  });

  it('reads only "true" as paused', () => {
    const statefulSets = [
      sts('ingester-zone-a', { update: NEW, annotations: { 'grafana.com/rollout-paused': 'yes' } }),
      sts('ingester-zone-b', { update: NEW }),
    ];
    expect(deleted(plan(statefulSets, [...pods('ingester-zone-a', 3), ...pods('ingester-zone-b', 3)]))).toEqual(['ingester-zone-a-0']);
  });

  it('deletes nothing when a member is not OnDelete, and says which', () => {
    const statefulSets = [sts('ingester-zone-a', { update: NEW }), sts('ingester-zone-b', { update: NEW, strategy: 'RollingUpdate' })];
    const d = plan(statefulSets, [...pods('ingester-zone-a', 3), ...pods('ingester-zone-b', 3)]);
    expect(d.action).toBe('blocked');
    expect(d.reason).toContain('StatefulSet ns/ingester-zone-b has update strategy RollingUpdate');
  });

  it('waits while the StatefulSet controller has not observed the latest spec', () => {
    const statefulSets = [
      sts('ingester-zone-a', { update: NEW, generation: 2, observedGeneration: 1 }),
      sts('ingester-zone-b', { update: NEW }),
    ];
    const d = plan(statefulSets, [...pods('ingester-zone-a', 3), ...pods('ingester-zone-b', 3)]);
    expect(d.action).toBe('wait');
    expect(d.reason).toContain('ingester-zone-a');
  });

  it('refuses StatefulSets of several groups', () => {
    const d = plan([sts('a', { group: 'x' }), sts('b', { group: 'y' })], []);
    expect(d.action).toBe('blocked');
  });

  it('reports an invalid rollout-max-unavailable with the object and key, and uses 1', () => {
    const d = plan(zones({ annotations: { 'rollout-max-unavailable': '0' } }), oldPods());
    expect(deleted(d)).toEqual(['ingester-zone-a-0']);
    expect(d.problems[0]).toMatchObject({ object: 'StatefulSet ns/ingester-zone-a', key: 'rollout-max-unavailable', value: '0' });
  });
});

describe('planGroupRollout: CrashLoopBackOff', () => {
  const FIX = 'rev-fix';

  it('replaces crash-looping pods of a bad revision at once when a fix is pushed, without budget', () => {
    // rollout-operator: 1 not ready ≥ max-unavailable 1, so it waits for a readiness that never comes.
    const statefulSets = [sts('ingester-zone-a', { update: FIX }), sts('ingester-zone-b', { update: FIX })];
    const d = plan(statefulSets, [
      pod('ingester-zone-a', 0, { revision: NEW, crashLoop: true }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
    ]);
    expect(d.deletions).toEqual([
      { statefulSet: 'ingester-zone-a', pod: 'ingester-zone-a-0', uid: 'uid-ingester-zone-a-0', why: 'notReady' },
    ]);
  });

  it('keeps crash-looping pods of the new revision in the budget, so a bad revision stops instead of taking the zone down', () => {
    const d = plan(zones(), [
      pod('ingester-zone-a', 0, { revision: NEW, crashLoop: true }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
      ...pods('ingester-zone-c', 3),
    ]);
    expect(d.action).toBe('wait');
    expect(d.reason).toContain('CrashLoopBackOff: ingester-zone-a-0');
  });
});

describe('planGroupRollout: watchdog gate', () => {
  const gate = { 'rollout.autocrane.io/group-watchdog-gate': 'true' };

  it('stops deleting when an updated pod of the StatefulSet in progress has an error watchdog', () => {
    const statefulSets = [sts('ingester-zone-a', { update: NEW, annotations: gate }), sts('ingester-zone-b', { update: NEW })];
    const d = plan(statefulSets, [
      pod('ingester-zone-a', 0, { revision: NEW, errorWatchdog: 'http' }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
    ]);
    expect(d.action).toBe('paused');
    expect(d.reason).toContain('ingester-zone-a-0 (http)');
  });

  it('pauses before the next StatefulSet when a finished one has an error watchdog', () => {
    const statefulSets = [sts('ingester-zone-a', { update: NEW, annotations: gate }), sts('ingester-zone-b', { update: NEW })];
    const d = plan(statefulSets, [
      pod('ingester-zone-a', 0, { revision: NEW, errorWatchdog: 'http' }),
      ...pods('ingester-zone-a', 3, NEW).slice(1),
      ...pods('ingester-zone-b', 3),
    ]);
    expect(d.action).toBe('paused');
    expect(d.reason).toContain('before ingester-zone-b');
  });

  it('ignores watchdogs when the group has not opted in', () => {
    const statefulSets = [sts('ingester-zone-a', { update: NEW }), sts('ingester-zone-b', { update: NEW })];
    const d = plan(statefulSets, [
      pod('ingester-zone-a', 0, { revision: NEW, errorWatchdog: 'http' }),
      ...pods('ingester-zone-a', 3, NEW).slice(1),
      ...pods('ingester-zone-b', 3),
    ]);
    expect(deleted(d)).toEqual(['ingester-zone-b-0']);
  });

  it('ignores error watchdogs on pods of an old revision', () => {
    const statefulSets = [sts('ingester-zone-a', { update: NEW, annotations: gate }), sts('ingester-zone-b', { update: NEW })];
    const d = plan(statefulSets, [
      pod('ingester-zone-a', 0, { errorWatchdog: 'http' }),
      pod('ingester-zone-a', 1),
      pod('ingester-zone-a', 2),
      ...pods('ingester-zone-b', 3),
    ]);
    expect(deleted(d)).toEqual(['ingester-zone-a-0']);
  });
});

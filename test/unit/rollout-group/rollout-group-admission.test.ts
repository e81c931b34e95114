import {
  decideNoDownscale,
  decidePrepareDownscale,
  prepareFailureVerdict,
  type PrepareDownscaleInput,
  type ReplicasChange,
} from '../../../domain/rollout-group/rollout-group-admission';
import type { GroupPodJson, GroupStatefulSetJson } from '../../../domain/rollout-group/rollout-group';
import { NEW, pod, pods, sts } from '../../fixtures/rollout-group';

const NOW = new Date('2026-12-07T22:00:00.600Z');
const change = (oldReplicas: number | null, newReplicas: number | null, name = 'ingester-zone-a'): ReplicasChange => ({
  resource: 'statefulsets',
  namespace: 'ns',
  name,
  oldReplicas,
  newReplicas,
});

describe('decideNoDownscale', () => {
  const labelled = { 'grafana.com/no-downscale': 'true' };

  it.each([
    [5, 3, labelled, false],
    [5, 3, {}, true],
    [5, 3, { 'grafana.com/no-downscale': 'True' }, true],
    [3, 5, labelled, true],
    [3, 3, labelled, true],
    [null, 3, labelled, true],
    [5, null, labelled, true],
    [null, null, labelled, true],
  ] as const)('%j → %j replicas with labels %j: allowed %j', (from, to, labels, allowed) => {
    expect(decideNoDownscale({ change: change(from, to), labels }).allowed).toBe(allowed);
  });

  it('names the object, the counts and the label when it refuses', () => {
    expect(decideNoDownscale({ change: change(5, 3), labels: labelled }).reason).toBe(
      "downscale of statefulsets/ingester-zone-a in ns from 5 to 3 replicas is not allowed because it has the label 'grafana.com/no-downscale=true'",
    );
  });

  it('warns on a change from or to null replicas', () => {
    expect(decideNoDownscale({ change: change(null, 3), labels: labelled }).warnings).toEqual([
      'old/new replicas is null, allowing the change',
    ]);
  });

  it('allows with a warning when the parent of a /scale cannot be read, unless told to fail closed', () => {
    const open = decideNoDownscale({ change: change(5, 3), labels: null, readError: 'timeout' });
    expect(open).toMatchObject({
      allowed: true,
      warnings: ["can't get statefulsets/ingester-zone-a in namespace ns: timeout, allowing the change"],
    });
    expect(decideNoDownscale({ change: change(5, 3), labels: null, failOpen: false }).allowed).toBe(false);
  });
});

const PREPARE_LABELS = { 'grafana.com/prepare-downscale': 'true', 'grafana.com/min-time-between-zones-downscale': '12h' };
const PREPARE_ANNOTATIONS = {
  'grafana.com/prepare-downscale-http-path': 'ingester/prepare-shutdown',
  'grafana.com/prepare-downscale-http-port': '8080',
};
const zone = (name: string, o: Parameters<typeof sts>[1] = {}) =>
  sts(name, { replicas: 5, ...o, labels: { ...PREPARE_LABELS, ...o.labels }, annotations: { ...PREPARE_ANNOTATIONS, ...o.annotations } });

function input(
  target: GroupStatefulSetJson,
  others: GroupStatefulSetJson[],
  podList: GroupPodJson[],
  over: Partial<PrepareDownscaleInput> = {},
): PrepareDownscaleInput {
  return {
    change: change(5, 3),
    dryRun: false,
    target,
    group: { statefulSets: [target, ...others], pods: podList, now: NOW },
    clusterDomain: 'cluster.local',
    ...over,
  };
}
const healthy = () => [...pods('ingester-zone-a', 5), ...pods('ingester-zone-b', 5)];

describe('decidePrepareDownscale', () => {
  it('prepares the removed pods from the top ordinal down, then records the downscale time in UTC to the second', () => {
    const d = decidePrepareDownscale(input(zone('ingester-zone-a'), [zone('ingester-zone-b')], healthy()));
    expect(d.allowed).toBe(true);
    expect(d.prepare.map((p) => p.url)).toEqual([
      'http://ingester-zone-a-4.ingester.ns.svc.cluster.local:8080/ingester/prepare-shutdown',
      'http://ingester-zone-a-3.ingester.ns.svc.cluster.local:8080/ingester/prepare-shutdown',
    ]);
    expect(d.recordLastDownscale).toBe('2026-12-07T22:00:00Z');
  });

  it('does nothing for an upscale, an unchanged count, or an unlabelled StatefulSet', () => {
    expect(decidePrepareDownscale(input(zone('ingester-zone-a'), [], healthy(), { change: change(3, 5) }))).toMatchObject({
      allowed: true,
      prepare: [],
      recordLastDownscale: null,
    });
    const plain = sts('ingester-zone-a', { replicas: 5 });
    expect(decidePrepareDownscale(input(plain, [], healthy()))).toMatchObject({ allowed: true, prepare: [], recordLastDownscale: null });
  });

  it.each([
    ['grafana.com/prepare-downscale-http-port', { 'grafana.com/prepare-downscale-http-port': '' }],
    ['grafana.com/prepare-downscale-http-path', { 'grafana.com/prepare-downscale-http-path': '' }],
  ])('refuses without %s', (key, annotations) => {
    const d = decidePrepareDownscale(input(zone('ingester-zone-a', { annotations }), [], healthy()));
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain(`the ${key} annotation is not set or empty`);
  });

  it('refuses without a serviceName', () => {
    expect(decidePrepareDownscale(input(zone('ingester-zone-a', { serviceName: '' }), [], healthy())).reason).toContain('serviceName');
  });

  it('refuses while another zone was downscaled within its min time, and says when it may pass', () => {
    const b = zone('ingester-zone-b', { annotations: { 'grafana.com/last-downscale': '2026-12-07T20:00:00Z' } });
    const d = decidePrepareDownscale(input(zone('ingester-zone-a'), [b], healthy()));
    expect(d).toMatchObject({ allowed: false, prepare: [], recordLastDownscale: null, retryAt: '2026-12-08T08:00:00.000Z' });
    expect(d.reason).toContain('StatefulSet ingester-zone-b was downscaled at 2026-12-07T20:00:00.000Z');
  });

  it('refuses while another zone is mid-rollout or not ready', () => {
    const midRollout = decidePrepareDownscale(input(zone('ingester-zone-a'), [zone('ingester-zone-b', { update: NEW })], healthy()));
    expect(midRollout.allowed).toBe(false);
    expect(midRollout.reason).toContain('ingester-zone-b has 5 pods not on its update revision');
    const podList = [...pods('ingester-zone-a', 5), ...pods('ingester-zone-b', 4), pod('ingester-zone-b', 4, { ready: false })];
    expect(decidePrepareDownscale(input(zone('ingester-zone-a'), [zone('ingester-zone-b')], podList)).allowed).toBe(false);
  });

  it('refuses when another zone has an unreadable last-downscale', () => {
    const b = zone('ingester-zone-b', { annotations: { 'grafana.com/last-downscale': 'soon' } });
    const d = decidePrepareDownscale(input(zone('ingester-zone-a'), [b], healthy()));
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('grafana.com/last-downscale');
  });

  it('does not refuse because the StatefulSet is still scaling up: pods not created or not started are not prepared', () => {
    // rollout-operator POSTed to ingester-zone-a-4, got "no such host" and refused.
    const target = zone('ingester-zone-a', { ready: 3 });
    const podList = [
      ...pods('ingester-zone-a', 3),
      pod('ingester-zone-a', 3, { phase: 'Pending', ready: false }),
      ...pods('ingester-zone-b', 5),
    ];
    const d = decidePrepareDownscale(input(target, [zone('ingester-zone-b')], podList, { change: change(5, 1) }));
    expect(d.allowed).toBe(true);
    expect(d.prepare.map((p) => p.pod)).toEqual(['ingester-zone-a-2', 'ingester-zone-a-1']);
    expect(d.skipped.map((s) => s.pod)).toEqual(['ingester-zone-a-4', 'ingester-zone-a-3']);
  });

  it('does not refuse because another zone is only scaling up, when its settled size is known', () => {
    const b = zone('ingester-zone-b', { replicas: 7, ready: 5 });
    const podList = [
      ...pods('ingester-zone-a', 5),
      ...pods('ingester-zone-b', 5),
      pod('ingester-zone-b', 5, { phase: 'Pending', ready: false }),
    ];
    const base = input(zone('ingester-zone-a'), [b], podList);
    expect(decidePrepareDownscale(base).allowed).toBe(false);
    expect(decidePrepareDownscale({ ...base, group: { ...base.group, settledReplicas: { 'ingester-zone-b': 5 } } }).allowed).toBe(true);
  });

  it('gives a dry run the same verdict without preparing or recording anything', () => {
    const allowed = decidePrepareDownscale(input(zone('ingester-zone-a'), [zone('ingester-zone-b')], healthy(), { dryRun: true }));
    expect(allowed).toMatchObject({ allowed: true, prepare: [], recordLastDownscale: null });
    const refused = decidePrepareDownscale(
      input(zone('ingester-zone-a'), [zone('ingester-zone-b', { update: NEW })], healthy(), { dryRun: true }),
    );
    expect(refused.allowed).toBe(false);
  });

  it('names the pods that failed to prepare in the refusal', () => {
    expect(prepareFailureVerdict(change(5, 3), ['ingester-zone-a-4']).reason).toContain('ingester-zone-a-4 failed to prepare for shutdown');
  });
});

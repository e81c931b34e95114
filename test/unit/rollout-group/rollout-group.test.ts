import { formatDuration, parseGoDuration, parsePrometheusDuration } from '../../../domain/shared/durations';
import {
  findRolloutGroups,
  formatLastDownscale,
  isInvalid,
  parseMaxUnavailable,
  parseRfc3339,
  readMemberSettings,
  rolloutGroupKey,
} from '../../../domain/rollout-group/rollout-group';
import { memberState, podOrdinal } from '../../../domain/rollout-group/rollout-group-pods';
import { pod, sts } from '../../fixtures/rollout-group';

describe('parseGoDuration accepts what Go time.ParseDuration accepts', () => {
  it.each([
    ['12h', 43_200_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['5.s', 5_000],
    ['-2m', -120_000],
    ['+3s', 3_000],
    ['0', 0],
    ['-0', 0],
    ['300ms', 300],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['2000000ns', 2],
    ['1h1h', 7_200_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toEqual({ ms });
  });

  it.each(['', '12', '1d', '12 h', 'h', '.s', '-', '1.5.5s', ' 12h', '1e3s', '3000000h'])(
    'refuses %j with a message naming the value',
    (text) => {
      const result = parseGoDuration(text);
      expect(result).toHaveProperty('error');
      expect('error' in result && result.error).toContain(`'${text}'`);
    },
  );
});

describe('parsePrometheusDuration accepts what Prometheus model.ParseDuration accepts', () => {
  it.each([
    ['1d12h', 129_600_000],
    ['90m', 5_400_000],
    ['1y', 31_536_000_000],
    ['2w', 1_209_600_000],
    ['1h30m10s500ms', 5_410_500],
    ['0', 0],
    ['0s', 0],
  ])('%s → %d ms', (text, ms) => {
    expect(parsePrometheusDuration(text)).toEqual({ ms });
  });

  it.each(['', '1.5h', '-1h', '30m1h', '1h ', 'abc', '1hh'])('refuses %j', (text) => {
    expect(parsePrometheusDuration(text)).toHaveProperty('error');
  });
});

describe('formatDuration', () => {
  it.each([
    [43_200_000, '12h'],
    [5_410_000, '1h30m10s'],
    [250, '250ms'],
    [0, '0ms'],
    [-60_000, '-1m'],
  ])('%d ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('parseMaxUnavailable matches rollout-operator', () => {
  it.each([
    [undefined, 3, 1],
    ['1', 3, 1],
    ['2', 3, 2],
    [' 4 ', 3, 4],
    ['+2', 3, 2],
    ['10', 3, 10],
    ['50%', 10, 5],
    ['25%', 10, 2],
    ['10%', 3, 1],
    ['100%', 7, 7],
    ['1%', 0, 1],
    ['50%', null, 1],
  ] as const)('%j with %j replicas → %d', (text, replicas, value) => {
    expect(parseMaxUnavailable(text, replicas)).toEqual({ value, problem: null });
  });

  it.each(['0', '-1', 'abc', '1.5', '', '0%', '101%', '-5%', 'x%', '%'])('falls back to 1 on %j and says why', (text) => {
    const result = parseMaxUnavailable(text, 10);
    expect(result.value).toBe(1);
    expect(result.problem).toMatch(/using 1$/);
  });
});

describe('last-downscale times', () => {
  it('parses RFC 3339 with an offset, as Go time.RFC3339', () => {
    expect(parseRfc3339('2026-12-07T10:00:00Z')?.toISOString()).toBe('2026-12-07T10:00:00.000Z');
    expect(parseRfc3339('2026-12-07T12:00:00+02:00')?.toISOString()).toBe('2026-12-07T10:00:00.000Z');
    expect(parseRfc3339('2026-12-07T10:00:00.5Z')?.toISOString()).toBe('2026-12-07T10:00:00.500Z');
  });

  it.each(['2026-12-07T10:00:00', '2026-12-07 10:00:00Z', '1765101600', 'yesterday', '2026-02-30T10:00:00Z'])('refuses %j', (text) => {
    expect(parseRfc3339(text)).toBeNull();
  });

  it('writes UTC to the second, as rollout-operator does', () => {
    expect(formatLastDownscale(new Date('2026-12-07T10:00:00.987Z'))).toBe('2026-12-07T10:00:00Z');
  });
});

describe('findRolloutGroups', () => {
  it('groups by namespace and label value, members in name order, ignoring unlabelled StatefulSets', () => {
    const unlabelled = sts('web');
    delete unlabelled.metadata.labels!['rollout-group'];
    const { groups, problems } = findRolloutGroups([
      sts('ingester-zone-b'),
      sts('store-gateway-zone-a', { group: 'store-gateway' }),
      sts('ingester-zone-a'),
      sts('ingester-zone-a', { namespace: 'other' }),
      unlabelled,
    ]);
    expect(groups.map((g) => [rolloutGroupKey(g), g.members.map((m) => m.metadata.name)])).toEqual([
      ['rollout-group/ns/ingester', ['ingester-zone-a', 'ingester-zone-b']],
      ['rollout-group/ns/store-gateway', ['store-gateway-zone-a']],
      ['rollout-group/other/ingester', ['ingester-zone-a']],
    ]);
    expect(problems).toEqual([]);
  });

  it('leaves out a StatefulSet whose label is empty, and reports it', () => {
    const { groups, problems } = findRolloutGroups([sts('a', { group: '' })]);
    expect(groups).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ object: 'StatefulSet ns/a', key: 'rollout-group' })]);
  });
});

describe('readMemberSettings', () => {
  it('reads every rollout-operator key', () => {
    const { settings, problems } = readMemberSettings(
      sts('ingester-zone-b', {
        replicas: 10,
        annotations: {
          'rollout-max-unavailable': '30%',
          'grafana.com/rollout-paused': 'true',
          'grafana.com/rollout-downscale-leader': 'ingester-zone-a',
          'grafana.com/rollout-upscale-only-when-leader-ready': 'true',
          'grafana.com/last-downscale': '2026-12-07T10:00:00Z',
          'grafana.com/prepare-downscale-http-path': 'ingester/prepare-shutdown',
          'grafana.com/prepare-downscale-http-port': '8080',
          'grafana.com/rollout-delayed-downscale': '4h',
          'grafana.com/rollout-prepare-delayed-downscale-url': 'http://pod/ingester/prepare-partition-downscale',
        },
        labels: {
          'grafana.com/min-time-between-zones-downscale': '12h',
          'grafana.com/no-downscale': 'true',
          'grafana.com/prepare-downscale': 'true',
        },
      }),
    );
    expect(problems).toEqual([]);
    expect(settings).toEqual({
      name: 'ingester-zone-b',
      namespace: 'ns',
      uid: 'uid-ingester-zone-b',
      group: 'ingester',
      replicas: 10,
      maxUnavailable: 3,
      paused: true,
      leader: 'ingester-zone-a',
      upscaleOnlyWhenLeaderReady: true,
      minTimeBetweenZonesDownscaleMs: 43_200_000,
      lastDownscale: new Date('2026-12-07T10:00:00Z'),
      noDownscale: true,
      prepareDownscale: { path: 'ingester/prepare-shutdown', port: '8080' },
      delayedDownscale: { delayMs: 14_400_000, url: 'http://pod/ingester/prepare-partition-downscale' },
      watchdogGate: false,
    });
  });

  it('prefers the min-time annotation to the label, and falls back to the label when the annotation is empty', () => {
    const both = sts('a', {
      annotations: { 'grafana.com/min-time-between-zones-downscale': '1h' },
      labels: { 'grafana.com/min-time-between-zones-downscale': '12h' },
    });
    expect(readMemberSettings(both).settings.minTimeBetweenZonesDownscaleMs).toBe(3_600_000);
    const emptyAnnotation = sts('a', {
      annotations: { 'grafana.com/min-time-between-zones-downscale': '' },
      labels: { 'grafana.com/min-time-between-zones-downscale': '12h' },
    });
    expect(readMemberSettings(emptyAnnotation).settings.minTimeBetweenZonesDownscaleMs).toBe(43_200_000);
  });

  it('turns bad values into InvalidValues and problems naming the object and key, without throwing', () => {
    const { settings, problems } = readMemberSettings(
      sts('a', {
        annotations: {
          'grafana.com/last-downscale': 'yesterday',
          'grafana.com/rollout-delayed-downscale': '4 hours',
          'grafana.com/rollout-prepare-delayed-downscale-url': 'http://x/p',
          'rollout.autocrane.io/group-watchdog-gate': 'yes',
        },
        labels: { 'grafana.com/min-time-between-zones-downscale': '12' },
      }),
    );
    expect(isInvalid(settings.minTimeBetweenZonesDownscaleMs)).toBe(true);
    expect(isInvalid(settings.lastDownscale)).toBe(true);
    expect(isInvalid(settings.delayedDownscale)).toBe(true);
    expect(settings.watchdogGate).toBe(true);
    expect(problems.map((p) => [p.object, p.key])).toEqual([
      ['StatefulSet ns/a', 'grafana.com/min-time-between-zones-downscale'],
      ['StatefulSet ns/a', 'grafana.com/last-downscale'],
      ['StatefulSet ns/a', 'grafana.com/rollout-delayed-downscale'],
      ['StatefulSet ns/a', 'rollout.autocrane.io/group-watchdog-gate'],
    ]);
  });

  it('does not configure a delayed downscale without both keys, or with a delay of 0', () => {
    expect(
      readMemberSettings(sts('a', { annotations: { 'grafana.com/rollout-delayed-downscale': '4h' } })).settings.delayedDownscale,
    ).toBeNull();
    const zero = sts('a', {
      annotations: { 'grafana.com/rollout-delayed-downscale': '0', 'grafana.com/rollout-prepare-delayed-downscale-url': 'http://x/p' },
    });
    expect(readMemberSettings(zero).settings.delayedDownscale).toBeNull();
  });

  it('reads prepare-downscale only when the label is exactly "true"', () => {
    expect(readMemberSettings(sts('a', { labels: { 'grafana.com/prepare-downscale': 'True' } })).settings.prepareDownscale).toBeNull();
    expect(readMemberSettings(sts('a', { labels: { 'grafana.com/prepare-downscale': 'true' } })).settings.prepareDownscale).toEqual({
      path: '',
      port: '',
    });
  });
});

describe('memberState', () => {
  it('reads ordinals only from names of the form <statefulset>-<n>', () => {
    expect(podOrdinal('ingester-zone-a', 'ingester-zone-a-12')).toBe(12);
    expect(podOrdinal('ingester-zone-a', 'ingester-zone-a-01')).toBeNull();
    expect(podOrdinal('ingester-zone-a', 'ingester-zone-ab-1')).toBeNull();
  });

  it('takes the larger of the pod view and the status view of unavailability', () => {
    const state = memberState(sts('a', { ready: 1 }), [pod('a', 0), pod('a', 1), pod('a', 2)]);
    expect(state.unavailable).toBe(2);
    expect(state.settled).toBe(false);
  });

  it('is not settled while a pod beyond spec.replicas is still terminating', () => {
    const state = memberState(sts('a', { replicas: 2 }), [pod('a', 0), pod('a', 1), pod('a', 2, { terminating: true })]);
    expect(state.unavailable).toBe(0);
    expect(state.settled).toBe(false);
  });

  it('does not count a Running pod whose container is not running as ready', () => {
    const p = pod('a', 0);
    p.status!.containerStatuses = [{ name: 'main', ready: true, state: { waiting: { reason: 'PodInitializing' } } }];
    expect(memberState(sts('a', { replicas: 1 }), [p]).readyCount).toBe(0);
  });
});

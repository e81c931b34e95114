import { HEALTH_LABEL } from '../../../domain/shared/keys';
import { buildStatusPatch, decideProbeWrite, formatStatus, parseStatus, readWatchdogs } from '../../../domain/watchdog/watchdog';

const TS = '2026-11-22T04:55:35Z';
const S = 'status.autocrane.io/';

/** Applies a JSON merge patch's annotations to a map, as the API server would. */
function applyAnnotations(current: Record<string, string>, patch: Record<string, string | null>): Record<string, string> {
  const next = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}

describe('readWatchdogs', () => {
  test('lists every status annotation, parsed and sorted by name, with the aggregate', () => {
    const report = readWatchdogs({
      [`${S}zeta`]: `info/${TS}/ok`,
      [`${S}alpha`]: `error/${TS}/GET /a/b: 500`,
      [`${S}mid`]: 'bogus/whenever/x',
      'probe.autocrane.io/alpha': 'POD_IP:8080/a/b',
      'status.data.autocrane.io/src': 'something',
      'app.kubernetes.io/name': 'web',
    });
    expect(report.aggregate).toBe('error');
    expect(report.watchdogs.map((w) => w.name)).toEqual(['alpha', 'mid', 'zeta']);
    expect(report.watchdogs[0]).toEqual({
      name: 'alpha',
      level: 'error',
      declaredLevel: 'error',
      time: new Date(TS),
      message: 'GET /a/b: 500',
      raw: `error/${TS}/GET /a/b: 500`,
    });
    expect(report.watchdogs[1]).toMatchObject({ name: 'mid', level: 'unknown', raw: 'bogus/whenever/x', message: 'whenever/x' });
    expect(report.watchdogs[1]?.problem).toMatch(/unknown level 'bogus'; unparsable time 'whenever'/);
  });

  test.each<[string, Record<string, string> | null | undefined, string, number]>([
    ['undefined', undefined, 'unknown', 0],
    ['null', null, 'unknown', 0],
    ['empty', {}, 'unknown', 0],
    ['no status annotations', { 'probe.autocrane.io/x': 'POD_IP:1/x' }, 'unknown', 0],
    ['only info', { [`${S}a`]: `info/${TS}/x` }, 'info', 1],
    ['warning and info', { [`${S}a`]: `info/${TS}/x`, [`${S}b`]: `warning/${TS}/x` }, 'warning', 2],
    ['AutoCrane values', { [`${S}a`]: 'error/2021-03-01T12:34:56/HTTP 500', [`${S}b`]: 'info/2021-03-01T12:34:56/ok' }, 'error', 2],
    [
      'AutoCrane aggregator test',
      { a: 'Error/...', [`${S}a`]: 'Info/...', [`${S}b`]: 'Warning/...', [`${S}c`]: 'Unknown/...' },
      'warning',
      3,
    ],
    ['only unknown levels', { [`${S}a`]: 'x/y/z', [`${S}b`]: 'garbage' }, 'unknown', 2],
    ['an annotation literally named status.autocrane.io/health counts like any other', { [HEALTH_LABEL]: `error/${TS}/x` }, 'error', 1],
  ])('%s', (_label, annotations, aggregate, count) => {
    const report = readWatchdogs(annotations);
    expect(report.aggregate).toBe(aggregate);
    expect(report.watchdogs).toHaveLength(count);
  });
});

describe('buildStatusPatch', () => {
  const base = {
    'app.kubernetes.io/name': 'web',
    'probe.autocrane.io/http': 'POD_IP:8080/healthz',
    [`${S}http`]: `info/${TS}/error cleared`,
    [`${S}cache`]: `warning/${TS}/stale`,
  };

  test('names only the changed status keys and the health label', () => {
    const value = `error/${TS}/HTTP 500`;
    expect(buildStatusPatch(base, { http: value })).toEqual({
      metadata: { annotations: { [`${S}http`]: value }, labels: { [HEALTH_LABEL]: 'error' } },
    });
  });

  test.each<[string, Record<string, string>, Record<string, string | null>, Record<string, string | null>, string | null]>([
    // label, current, updates, expected annotations, expected label
    ['new watchdog on a bare pod', {}, { a: `warning/${TS}/x` }, { [`${S}a`]: `warning/${TS}/x` }, 'warning'],
    ['error cleared, other watchdog keeps warning', base, { http: `info/${TS}/error cleared` }, {}, 'warning'],
    [
      'clearing the last error drops the label to info',
      { [`${S}a`]: `error/${TS}/x` },
      { a: `info/${TS}/error cleared` },
      { [`${S}a`]: `info/${TS}/error cleared` },
      'info',
    ],
    [
      'label from merged map: error elsewhere survives an info write',
      { [`${S}a`]: `error/${TS}/x`, [`${S}b`]: `error/${TS}/y` },
      { a: `info/${TS}/ok` },
      { [`${S}a`]: `info/${TS}/ok` },
      'error',
    ],
    [
      'label from merged map: an error written alongside infos',
      { [`${S}a`]: `info/${TS}/x` },
      { b: `error/${TS}/y` },
      { [`${S}b`]: `error/${TS}/y` },
      'error',
    ],
    [
      'several updates at once',
      base,
      { http: `error/${TS}/x`, cache: `info/${TS}/fresh` },
      { [`${S}http`]: `error/${TS}/x`, [`${S}cache`]: `info/${TS}/fresh` },
      'error',
    ],
    ['unchanged value: no annotation, label still written', base, { cache: `warning/${TS}/stale` }, {}, 'warning'],
    ['label repaired from current annotations', { [`${S}a`]: `Error/${TS}/x` }, {}, {}, 'error'],
    ['removing one watchdog', base, { cache: null }, { [`${S}cache`]: null }, 'info'],
    ['removing the last watchdog removes the label', { [`${S}a`]: `error/${TS}/x` }, { a: null }, { [`${S}a`]: null }, null],
    ['removing an absent watchdog names nothing', { [`${S}a`]: `info/${TS}/x` }, { b: null }, {}, 'info'],
    ['no statuses at all: label removed', {}, {}, {}, null],
    ['only unknown levels after the write', {}, { a: 'bogus/x/y' }, { [`${S}a`]: 'bogus/x/y' }, 'unknown'],
    [
      'a malformed existing value with an error level still counts',
      { [`${S}a`]: 'error/garbage/x' },
      { b: `info/${TS}/ok` },
      { [`${S}b`]: `info/${TS}/ok` },
      'error',
    ],
  ])('%s', (_label, current, updates, annotations, label) => {
    expect(buildStatusPatch(current, updates)).toEqual({ metadata: { annotations, labels: { [HEALTH_LABEL]: label } } });
  });

  test('never names an annotation or label we do not own', () => {
    const patch = buildStatusPatch(base, { http: `error/${TS}/x`, cache: null, fresh: `info/${TS}/y` });
    for (const key of Object.keys(patch.metadata.annotations)) expect(key.startsWith(S)).toBe(true);
    expect(Object.keys(patch.metadata.labels)).toEqual([HEALTH_LABEL]);
    expect(Object.keys(patch.metadata).sort()).toEqual(['annotations', 'labels']);
  });

  test('the label matches readWatchdogs of the patched map', () => {
    const updates = { http: `error/${TS}/x`, cache: null };
    const patch = buildStatusPatch(base, updates);
    const after = applyAnnotations(base, patch.metadata.annotations);
    expect(patch.metadata.labels[HEALTH_LABEL]).toBe(readWatchdogs(after).aggregate);
    expect(after['app.kubernetes.io/name']).toBe('web');
    expect(after['probe.autocrane.io/http']).toBe('POD_IP:8080/healthz');
  });

  test('adds resourceVersion when given', () => {
    expect(buildStatusPatch({}, { a: `info/${TS}/x` }, { resourceVersion: '12345' }).metadata.resourceVersion).toBe('12345');
    expect('resourceVersion' in buildStatusPatch({}, { a: `info/${TS}/x` }).metadata).toBe(false);
  });

  test.each([[undefined], [null]])('current annotations %j are treated as empty', (current) => {
    expect(buildStatusPatch(current, { a: `info/${TS}/x` })).toEqual({
      metadata: { annotations: { [`${S}a`]: `info/${TS}/x` }, labels: { [HEALTH_LABEL]: 'info' } },
    });
  });

  test.each([[''], ['-bad'], ['a/b'], ['x'.repeat(64)], ['__proto__']])('throws RangeError on watchdog name %j', (name) => {
    expect(() => buildStatusPatch({}, { [name]: `info/${TS}/x` })).toThrow(RangeError);
  });

  test('does not mutate its inputs', () => {
    const current = { ...base };
    const updates = { http: `error/${TS}/x` };
    buildStatusPatch(current, updates);
    expect(current).toEqual(base);
    expect(updates).toEqual({ http: `error/${TS}/x` });
  });

  test('a prober cycle: fail, stay failing, recover', () => {
    let annotations: Record<string, string> = { 'probe.autocrane.io/http': 'POD_IP:8080/healthz' };
    const step = (healthy: boolean, message: string, at: string) => {
      const current = annotations[`${S}http`];
      const value = decideProbeWrite(current === undefined ? undefined : parseStatus(current), { healthy, message }, new Date(at));
      if (value === null) return null;
      const patch = buildStatusPatch(annotations, { http: value });
      annotations = applyAnnotations(annotations, patch.metadata.annotations);
      return patch.metadata.labels[HEALTH_LABEL];
    };
    expect(step(true, '', '2026-11-22T05:00:00Z')).toBeNull();
    expect(step(false, 'HTTP 500', '2026-11-22T05:00:30Z')).toBe('error');
    expect(step(false, 'timeout', '2026-11-22T05:01:00Z')).toBeNull();
    expect(annotations[`${S}http`]).toBe('error/2026-11-22T05:00:30Z/HTTP 500');
    expect(step(true, '', '2026-11-22T05:01:30Z')).toBe('info');
    expect(annotations[`${S}http`]).toBe(formatStatus({ level: 'info', time: new Date('2026-11-22T05:01:30Z'), message: 'error cleared' }));
  });
});

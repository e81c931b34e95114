import {
  decideProbeWrite,
  ERROR_CLEARED_MESSAGE,
  isProbeEligible,
  listProbes,
  MAX_WATCHDOG_MESSAGE_LENGTH,
  parseProbeTarget,
  parseStatus,
  probeUrl,
  type ProbeEligibilityPod,
} from '../../../domain/watchdog/watchdog';

describe('parseProbeTarget', () => {
  test.each<[string, number, string]>([
    // AutoCrane's form: one segment
    ['POD_IP:8080/watchdog', 8080, '/watchdog'],
    ['POD_IP:1234/url', 1234, '/url'],
    // multi-segment and query strings
    ['POD_IP:8080/a/b/c', 8080, '/a/b/c'],
    ['POD_IP:8080/healthz?verbose=1', 8080, '/healthz?verbose=1'],
    ['POD_IP:8080/a/b?x=1&y=2', 8080, '/a/b?x=1&y=2'],
    ['POD_IP:8080/a?next=/b/c', 8080, '/a?next=/b/c'],
    ['POD_IP:8080/?x', 8080, '/?x'],
    ['POD_IP:8080/', 8080, '/'],
    ['POD_IP:8080/a/', 8080, '/a/'],
    ['POD_IP:8080/with%20space', 8080, '/with%20space'],
    ["POD_IP:8080/a-b_c.d~e!$&'()*+,;=:@", 8080, "/a-b_c.d~e!$&'()*+,;=:@"],
    // ports
    ['POD_IP:1/x', 1, '/x'],
    ['POD_IP:65535/x', 65535, '/x'],
    ['POD_IP:080/x', 80, '/x'],
    // tolerated decorations
    ['  POD_IP:8080/x\n', 8080, '/x'],
    ['http://POD_IP:8080/x', 8080, '/x'],
    ['HTTP://POD_IP:8080/x', 8080, '/x'],
  ])('accepts %j', (value, port, path) => {
    expect(parseProbeTarget(value)).toEqual({ ok: true, port, path });
  });

  test.each<[string, RegExp]>([
    // other hosts
    ['10.0.0.1:8080/x', /host must be the literal POD_IP.*'10\.0\.0\.1'/],
    ['localhost:8080/x', /host must be the literal POD_IP.*'localhost'/],
    ['POD_IPX:8080/x', /host must be the literal POD_IP.*'POD_IPX'/],
    ['pod_ip:8080/x', /host must be the literal POD_IP.*'pod_ip'/],
    ['XPOD_IP:8080/x', /host must be the literal POD_IP/],
    ['[::1]:8080/x', /host must be the literal POD_IP.*'\[::1\]'/],
    ['[POD_IP]:8080/x', /host must be the literal POD_IP/],
    ['user@POD_IP:8080/x', /host must be the literal POD_IP/],
    ['example.com/x', /host must be the literal POD_IP.*'example\.com'/],
    ['http://10.0.0.1:8080/x', /host must be the literal POD_IP/],
    [':8080/x', /missing host/],
    ['/x', /missing host/],
    // schemes
    ['https://POD_IP:8443/x', /scheme 'https' is not supported/],
    ['ftp://POD_IP:21/x', /scheme 'ftp'/],
    // ports
    ['POD_IP/x', /missing port/],
    ['POD_IP', /missing port/],
    ['POD_IP:/x', /port '' is not a number/],
    ['POD_IP:0/x', /outside 1\.\.65535/],
    ['POD_IP:65536/x', /outside 1\.\.65535/],
    ['POD_IP:99999999999999999999/x', /outside 1\.\.65535/],
    ['POD_IP:-1/x', /not a number/],
    ['POD_IP:+80/x', /not a number/],
    ['POD_IP:http/x', /not a number/],
    ['POD_IP:80a/x', /not a number/],
    ['POD_IP:8 0/x', /not a number/],
    // paths
    ['POD_IP:8080', /missing path/],
    ['POD_IP:8080?x=1', /missing path/],
    ['POD_IP:8080#frag', /missing path/],
    ['POD_IP:8080/x#frag', /fragment/],
    ['POD_IP:8080/a b', /URL characters/],
    ['POD_IP:8080/ünï', /URL characters/],
    ['POD_IP:8080/a\\b', /URL characters/],
    ['POD_IP:8080/a"b', /URL characters/],
    ['POD_IP:8080/a<b>', /URL characters/],
    ['POD_IP:8080/a%2', /%XX/],
    ['POD_IP:8080/a%zz', /%XX/],
    // empty
    ['', /empty/],
    ['   ', /empty/],
  ])('refuses %j with a reason', (value, why) => {
    const result = parseProbeTarget(value);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toMatch(why);
    expect(result.reason).toContain(`'${value}'`);
  });
});

describe('probeUrl', () => {
  test.each<[string, number, string, string]>([
    ['10.1.2.3', 8080, '/watchdog', 'http://10.1.2.3:8080/watchdog'],
    ['10.1.2.3', 80, '/a/b?x=1&y=/z', 'http://10.1.2.3:80/a/b?x=1&y=/z'],
    ['fd00::5', 8080, '/healthz', 'http://[fd00::5]:8080/healthz'],
    ['2001:db8::1', 443, '/', 'http://[2001:db8::1]:443/'],
    ['::1', 1, '/x', 'http://[::1]:1/x'],
    ['::ffff:10.0.0.1', 8080, '/x', 'http://[::ffff:10.0.0.1]:8080/x'],
    ['[fd00::5]', 8080, '/x', 'http://[fd00::5]:8080/x'],
    ['fe80::1%eth0', 8080, '/x', 'http://[fe80::1%25eth0]:8080/x'],
    ['1:2:3:4:5:6:7:8', 8080, '/x', 'http://[1:2:3:4:5:6:7:8]:8080/x'],
    ['1:2:3:4:5:6:10.0.0.1', 8080, '/x', 'http://[1:2:3:4:5:6:10.0.0.1]:8080/x'],
    ['::10.0.0.1', 8080, '/x', 'http://[::10.0.0.1]:8080/x'],
    ['::', 8080, '/x', 'http://[::]:8080/x'],
    ['255.255.255.255', 8080, '/x', 'http://255.255.255.255:8080/x'],
  ])('(%j, %d, %j) → %s', (ip, port, path, url) => {
    expect(probeUrl(ip, { port, path })).toBe(url);
  });

  test('takes a parsed target directly', () => {
    const target = parseProbeTarget('POD_IP:9090/metrics/health?full=1');
    if (!target.ok) throw new Error(target.reason);
    expect(probeUrl('10.0.0.7', target)).toBe('http://10.0.0.7:9090/metrics/health?full=1');
  });

  test('the URL parses back to the same host, port and path', () => {
    const url = new URL(probeUrl('fd00:1:2::5', { port: 8080, path: '/a/b?c=d' }));
    expect(url.hostname).toBe('[fd00:1:2::5]');
    expect(url.port).toBe('8080');
    expect(url.pathname + url.search).toBe('/a/b?c=d');
  });

  test.each([
    [''],
    ['POD_IP'],
    ['pod.example.com'],
    ['10.0.0.1/evil'],
    ['10.0.0.1:80'],
    ['10.0.0.1@evil'],
    ['256.0.0.1'],
    ['10.0.0'],
    ['1:2:3:4:5:6:7:8:9'],
    ['1:2:3:4:5:6:7'],
    ['1::2::3'],
    ['12345::1'],
    ['g::1'],
    ['::1%'],
    ['::1%a%b'],
    ['::1%a/b'],
    ['1:2:3:4:5:6:7:10.0.0.1'],
    ['::300.0.0.1'],
    ['[::1'],
  ])('refuses pod IP %j', (ip) => {
    expect(() => probeUrl(ip, { port: 80, path: '/' })).toThrow(RangeError);
  });
});

describe('listProbes', () => {
  test('extracts every probe annotation, sorted by name, with target or reason', () => {
    const probes = listProbes({
      'probe.autocrane.io/zeta': 'POD_IP:8080/z?x=1',
      'probe.autocrane.io/alpha': 'POD_IP:8080/watchdog',
      'probe.autocrane.io/bad-host': '10.0.0.1:8080/x',
      'probe.autocrane.io/-bad-name': 'POD_IP:8080/x',
      'status.autocrane.io/alpha': 'error/2026-11-22T04:55:35Z/x',
      'other.io/probe': 'POD_IP:1/x',
      'probe.autocrane.io.example/x': 'POD_IP:1/x',
    });
    expect(probes.map((p) => p.name)).toEqual(['-bad-name', 'alpha', 'bad-host', 'zeta']);
    expect(probes[1]).toEqual({ name: 'alpha', ok: true, target: { port: 8080, path: '/watchdog' } });
    expect(probes[3]).toEqual({ name: 'zeta', ok: true, target: { port: 8080, path: '/z?x=1' } });
    expect(probes[0]).toMatchObject({ name: '-bad-name', ok: false, reason: expect.stringMatching(/watchdog name/) });
    expect(probes[2]).toMatchObject({ name: 'bad-host', ok: false, reason: expect.stringMatching(/POD_IP/) });
  });

  test.each([[undefined], [null], [{}], [{ 'app.kubernetes.io/name': 'x' }]])('no probes in %j', (annotations) => {
    expect(listProbes(annotations)).toEqual([]);
  });

  test('an empty name is refused', () => {
    expect(listProbes({ 'probe.autocrane.io/': 'POD_IP:1/x' })).toEqual([{ name: '', ok: false, reason: expect.stringMatching(/empty/) }]);
  });

  test('the prefix is case-sensitive', () => {
    expect(listProbes({ 'Probe.autocrane.io/x': 'POD_IP:1/x' })).toEqual([]);
  });
});

describe('isProbeEligible', () => {
  const ready = { ready: true };
  const notReady = { ready: false };
  test.each<[string, ProbeEligibilityPod, boolean, boolean]>([
    // label, pod, default, with probeNotReadyPods
    ['running, all ready', { phase: 'Running', containerStatuses: [ready, ready] }, true, true],
    ['running, one not ready', { phase: 'Running', containerStatuses: [ready, notReady] }, false, true],
    ['running, none ready', { phase: 'Running', containerStatuses: [notReady] }, false, true],
    ['running, no statuses yet', { phase: 'Running', containerStatuses: [] }, false, true],
    ['running, statuses absent', { phase: 'Running' }, false, true],
    ['pending', { phase: 'Pending', containerStatuses: [notReady] }, false, true],
    ['pending, all ready (odd)', { phase: 'Pending', containerStatuses: [ready] }, false, true],
    ['unknown phase', { phase: 'Unknown', containerStatuses: [ready] }, false, true],
    ['no phase', { containerStatuses: [ready] }, false, true],
    ['succeeded', { phase: 'Succeeded', containerStatuses: [notReady] }, false, false],
    ['failed', { phase: 'Failed', containerStatuses: [notReady] }, false, false],
    ['lowercase running is not Running', { phase: 'running', containerStatuses: [ready] }, false, true],
  ])('%s', (_label, pod, byDefault, withOption) => {
    expect(isProbeEligible(pod, { probeNotReadyPods: false })).toBe(byDefault);
    expect(isProbeEligible(pod, { probeNotReadyPods: true })).toBe(withOption);
  });
});

describe('decideProbeWrite', () => {
  const now = new Date('2026-11-22T04:55:35.400Z');
  const TS = '2026-11-22T04:55:35Z';
  const at = (value: string) => parseStatus(value);

  test.each<[string, string | undefined, boolean, string, string | null]>([
    // label, current value (undefined = none), healthy, probe message, expected write
    ['fails, no status → error', undefined, false, 'HTTP 500', `error/${TS}/HTTP 500`],
    ['fails, info → error', 'info/2026-01-01T00:00:00Z/error cleared', false, 'HTTP 500', `error/${TS}/HTTP 500`],
    ['fails, warning → error', 'warning/2026-01-01T00:00:00Z/slow', false, 'timeout', `error/${TS}/timeout`],
    ['fails, already error → nothing', 'error/2026-01-01T00:00:00Z/HTTP 500', false, 'HTTP 500', null],
    [
      'fails with a new reason, already error → nothing (no churn)',
      'error/2026-01-01T00:00:00Z/HTTP 500',
      false,
      'connection refused',
      null,
    ],
    ['fails, Error (upper case) → nothing', 'Error/2026-01-01T00:00:00Z/x', false, 'HTTP 500', null],
    ['fails, AutoCrane error value → nothing', 'error/2021-03-01T12:34:56/x', false, 'HTTP 500', null],
    ['fails, error with garbled time → nothing', 'error/garbage/x', false, 'HTTP 500', null],
    ['fails, unknown level → error', 'bogus/2026-01-01T00:00:00Z/x', false, 'HTTP 500', `error/${TS}/HTTP 500`],
    ['fails, unparsable value → error', 'garbage', false, 'HTTP 500', `error/${TS}/HTTP 500`],
    ['fails, errorfoo is not error → error', 'errorfoo/2026-01-01T00:00:00Z/x', false, 'HTTP 500', `error/${TS}/HTTP 500`],
    ['passes, error → info error cleared', 'error/2026-01-01T00:00:00Z/HTTP 500', true, '', `info/${TS}/error cleared`],
    ['passes, Error → info error cleared', 'Error/2026-01-01T00:00:00Z/x', true, '', `info/${TS}/error cleared`],
    ['passes, error with garbled time → cleared', 'error/garbage/x', true, '', `info/${TS}/error cleared`],
    ['passes, AutoCrane error → cleared', 'error/2021-03-01T12:34:56/x', true, 'ignored', `info/${TS}/error cleared`],
    ['passes, no status → nothing', undefined, true, '', null],
    ['passes, info → nothing', 'info/2026-01-01T00:00:00Z/ok', true, '', null],
    ['passes, warning (posted by the app) → nothing', 'warning/2026-01-01T00:00:00Z/slow', true, '', null],
    ['passes, unknown level → nothing', 'bogus/2026-01-01T00:00:00Z/x', true, '', null],
    ['fails with a reason containing "/"', undefined, false, 'GET /a/b: 503', `error/${TS}/GET /a/b: 503`],
    [
      'fails with a multi-line reason',
      undefined,
      false,
      'connect ECONNREFUSED\n    at x (y.js:1)',
      `error/${TS}/connect ECONNREFUSED at x (y.js:1)`,
    ],
    ['fails with an empty reason', undefined, false, ' \n', `error/${TS}/probe failed`],
  ])('%s', (_label, current, healthy, message, expected) => {
    expect(decideProbeWrite(current === undefined ? undefined : at(current), { healthy, message }, now)).toBe(expected);
  });

  test('the written value parses back to what was decided', () => {
    const written = decideProbeWrite(undefined, { healthy: false, message: 'HTTP 500 at /a/b' }, now);
    expect(written).not.toBeNull();
    const parsed = parseStatus(written ?? '');
    expect(parsed).toMatchObject({ level: 'error', message: 'HTTP 500 at /a/b' });
    expect(parsed.time?.toISOString()).toBe('2026-11-22T04:55:35.000Z');

    const cleared = parseStatus(decideProbeWrite(parsed, { healthy: true, message: '' }, now) ?? '');
    expect(cleared).toMatchObject({ level: 'info', message: ERROR_CLEARED_MESSAGE });
    expect(decideProbeWrite(cleared, { healthy: true, message: '' }, now)).toBeNull();
  });

  test('a long reason is bounded', () => {
    const written = decideProbeWrite(undefined, { healthy: false, message: 'x'.repeat(10_000) }, now) ?? '';
    const parsed = parseStatus(written);
    expect(parsed.level).toBe('error');
    expect(Array.from(parsed.message)).toHaveLength(MAX_WATCHDOG_MESSAGE_LENGTH);
  });

  test('an invalid now throws only when something is written', () => {
    expect(() => decideProbeWrite(undefined, { healthy: false, message: 'x' }, new Date(NaN))).toThrow(RangeError);
    expect(decideProbeWrite(undefined, { healthy: true, message: '' }, new Date(NaN))).toBeNull();
  });
});

import { STATUS_ANNOTATION_PREFIX } from '../../../domain/shared/keys';
import {
  formatStatus,
  formatStatusTime,
  isWatchdogLevel,
  MAX_WATCHDOG_MESSAGE_LENGTH,
  parseStatus,
  parseStatusTime,
  parseWatchdogLevel,
  sanitizeWatchdogMessage,
  statusAnnotationKey,
  validateWatchdogMessage,
  validateWatchdogName,
  type WatchdogLevel,
} from '../../../domain/watchdog/watchdog';

const T = new Date('2026-11-22T04:55:35Z');

describe('validateWatchdogName', () => {
  test.each([
    ['a'],
    ['Z'],
    ['0'],
    ['watchdog1'],
    ['my-watchdog'],
    ['my_watchdog'],
    ['my.watchdog'],
    ['a.b-c_d'],
    ['MixedCase'],
    ['a'.repeat(63)],
    ['health'],
  ])('accepts %j', (name) => {
    expect(validateWatchdogName(name)).toBeNull();
  });

  test.each([
    ['', /empty/],
    ['a'.repeat(64), /at most 63/],
    ['-leading', /begin and end/],
    ['trailing-', /begin and end/],
    ['_leading', /begin and end/],
    ['trailing_', /begin and end/],
    ['.leading', /begin and end/],
    ['trailing.', /begin and end/],
    ['.', /begin and end/],
    ['has space', /letters, digits/],
    ['has/slash', /letters, digits/],
    ['has:colon', /letters, digits/],
    ['ünicode', /letters, digits/],
    ['__proto__', /begin and end/],
  ])('refuses %j', (name, why) => {
    const error = validateWatchdogName(name);
    expect(error).toMatch(why);
    expect(error).toContain('watchdog name');
  });

  test('the limit is on the name, and the full key of a 63-char name is still valid', () => {
    expect(validateWatchdogName('x'.repeat(63))).toBeNull();
    expect(statusAnnotationKey('x'.repeat(63))).toBe(`${STATUS_ANNOTATION_PREFIX}${'x'.repeat(63)}`);
  });
});

describe('statusAnnotationKey', () => {
  test('prefixes a valid name', () => {
    expect(statusAnnotationKey('wd1')).toBe('status.autocrane.io/wd1');
  });
  test.each([[''], ['-x'], ['a'.repeat(64)], ['a/b']])('throws RangeError for %j', (name) => {
    expect(() => statusAnnotationKey(name)).toThrow(RangeError);
  });
});

describe('levels', () => {
  test.each([
    ['info', 'info'],
    ['warning', 'warning'],
    ['error', 'error'],
    ['Info', 'info'],
    ['Warning', 'warning'],
    ['ERROR', 'error'],
    ['eRrOr', 'error'],
  ])('parseWatchdogLevel(%j) = %j', (text, level) => {
    expect(parseWatchdogLevel(text)).toBe(level);
  });

  test.each([[''], ['unknown'], ['Unknown'], ['warn'], ['fatal'], [' error'], ['error '], ['errors']])(
    'parseWatchdogLevel(%j) is undefined',
    (text) => {
      expect(parseWatchdogLevel(text)).toBeUndefined();
    },
  );

  test('isWatchdogLevel is exact (lowercase only)', () => {
    expect(isWatchdogLevel('error')).toBe(true);
    expect(isWatchdogLevel('Error')).toBe(false);
    expect(isWatchdogLevel('unknown')).toBe(false);
  });
});

describe('validateWatchdogMessage', () => {
  test('the limit is exported and is 1024', () => {
    expect(MAX_WATCHDOG_MESSAGE_LENGTH).toBe(1024);
  });

  test.each([
    ['empty', ''],
    ['plain', 'all good'],
    ['slashes', 'GET /a/b/c returned 500'],
    ['exactly the limit', 'x'.repeat(MAX_WATCHDOG_MESSAGE_LENGTH)],
    ['limit counted in code points', '😀'.repeat(MAX_WATCHDOG_MESSAGE_LENGTH)],
    ['unicode', 'échec — ошибка'],
  ])('accepts %s', (_label, message) => {
    expect(validateWatchdogMessage(message)).toBeNull();
  });

  test.each([
    ['one over the limit', 'x'.repeat(MAX_WATCHDOG_MESSAGE_LENGTH + 1), /at most 1024/],
    ['newline', 'a\nb', /control/],
    ['carriage return', 'a\rb', /control/],
    ['tab', 'a\tb', /control/],
    ['NUL', 'a\u0000b', /control/],
    ['DEL', 'a\u007fb', /control/],
    ['C1 control', 'a\u0085b', /control/],
    ['lone high surrogate', 'a\uD800b', /Unicode/],
    ['lone low surrogate', 'a\uDC00', /Unicode/],
  ])('refuses %s', (_label, message, why) => {
    expect(validateWatchdogMessage(message)).toMatch(why);
  });
});

describe('sanitizeWatchdogMessage', () => {
  test.each([
    ['plain', 'connection refused', 'connection refused'],
    ['control runs become one space', 'line1\r\nline2\tend', 'line1 line2 end'],
    ['trimmed', '  \n padded \n ', 'padded'],
    ['lone surrogate replaced', 'a\uD800b', 'a\uFFFDb'],
    ['pairs kept', 'ok 😀', 'ok 😀'],
    ['empty stays empty', '\n\t', ''],
  ])('%s', (_label, input, output) => {
    expect(sanitizeWatchdogMessage(input)).toBe(output);
  });

  test('long text is cut to the limit, ending with an ellipsis, without splitting a surrogate pair', () => {
    const out = sanitizeWatchdogMessage('😀'.repeat(MAX_WATCHDOG_MESSAGE_LENGTH + 10));
    expect(Array.from(out)).toHaveLength(MAX_WATCHDOG_MESSAGE_LENGTH);
    expect(out.endsWith('😀…')).toBe(true);
    expect(validateWatchdogMessage(out)).toBeNull();
  });

  test('text at the limit is not cut', () => {
    const text = 'y'.repeat(MAX_WATCHDOG_MESSAGE_LENGTH);
    expect(sanitizeWatchdogMessage(text)).toBe(text);
  });

  test.each([['\u0000\u0001 x \uDFFF'], ['z'.repeat(5000)], ['a\nb'.repeat(600)]])('always yields a valid message (%#)', (text) => {
    expect(validateWatchdogMessage(sanitizeWatchdogMessage(text))).toBeNull();
  });
});

describe('formatStatusTime / parseStatusTime', () => {
  test.each([
    [new Date('2026-11-22T04:55:35Z'), '2026-11-22T04:55:35Z'],
    [new Date('2026-11-22T04:55:35.999Z'), '2026-11-22T04:55:35Z'],
    [new Date('1970-01-01T00:00:00Z'), '1970-01-01T00:00:00Z'],
    [new Date('1969-12-31T23:59:59.500Z'), '1969-12-31T23:59:59Z'],
    [new Date('0001-01-01T00:00:00Z'), '0001-01-01T00:00:00Z'],
    [new Date('9999-12-31T23:59:59Z'), '9999-12-31T23:59:59Z'],
  ])('formats %o as %s (UTC, seconds, millis dropped)', (date, text) => {
    expect(formatStatusTime(date)).toBe(text);
  });

  test.each([[new Date(NaN)], [new Date('+010000-01-01T00:00:00Z')], [new Date('-000001-01-01T00:00:00Z')]])(
    'formatStatusTime refuses %o',
    (date) => {
      expect(() => formatStatusTime(date)).toThrow(RangeError);
    },
  );

  test.each([
    ['2026-11-22T04:55:35Z', '2026-11-22T04:55:35.000Z'],
    ['2026-11-22t04:55:35z', '2026-11-22T04:55:35.000Z'],
    ['2026-11-22T04:55:35.123Z', '2026-11-22T04:55:35.123Z'],
    ['2026-11-22T04:55:35.1Z', '2026-11-22T04:55:35.100Z'],
    ['2026-11-22T04:55:35.123456789Z', '2026-11-22T04:55:35.123Z'],
    ['2026-11-22T06:55:35+02:00', '2026-11-22T04:55:35.000Z'],
    ['2026-11-21T23:25:35-05:30', '2026-11-22T04:55:35.000Z'],
    ['2026-11-22T04:55:35+00:00', '2026-11-22T04:55:35.000Z'],
    // AutoCrane wrote .NET's "s" format: UTC without an offset.
    ['2021-03-01T12:34:56', '2021-03-01T12:34:56.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000Z'],
  ])('parses %s', (text, iso) => {
    expect(parseStatusTime(text)?.toISOString()).toBe(iso);
  });

  test.each([
    [''],
    ['...'],
    ['now'],
    ['1700000000'],
    ['2026-11-22'],
    ['2026-11-22 04:55:35Z'],
    ['2026-11-22T04:55Z'],
    ['2026-13-01T00:00:00Z'],
    ['2026-00-01T00:00:00Z'],
    ['2026-02-30T00:00:00Z'],
    ['2025-02-29T00:00:00Z'],
    ['2026-11-22T24:00:00Z'],
    ['2026-11-22T04:60:00Z'],
    ['2026-11-22T04:55:60Z'],
    ['2026-11-22T04:55:35+24:00'],
    ['2026-11-22T04:55:35+02:60'],
    ['2026-11-22T04:55:35+0200'],
    ['2026-11-22T04:55:35.Z'],
    [' 2026-11-22T04:55:35Z'],
    ['2026-11-22T04:55:35Z '],
  ])('refuses %j', (text) => {
    expect(parseStatusTime(text)).toBeUndefined();
  });

  test('round trip at second precision', () => {
    for (const ms of [0, 1, 999, 1_700_000_000_123, -86_400_001, 253_402_300_799_999]) {
      const date = new Date(ms);
      expect(parseStatusTime(formatStatusTime(date))?.getTime()).toBe(Math.floor(ms / 1000) * 1000);
    }
  });
});

describe('formatStatus', () => {
  test.each<[WatchdogLevel, string, string]>([
    ['info', 'error cleared', 'info/2026-11-22T04:55:35Z/error cleared'],
    ['warning', 'cache is stale', 'warning/2026-11-22T04:55:35Z/cache is stale'],
    ['error', 'HTTP 500 from /a/b?c=d', 'error/2026-11-22T04:55:35Z/HTTP 500 from /a/b?c=d'],
    ['error', '', 'error/2026-11-22T04:55:35Z/'],
  ])('%s / %j', (level, message, value) => {
    expect(formatStatus({ level, time: T, message })).toBe(value);
  });

  test('drops milliseconds', () => {
    expect(formatStatus({ level: 'info', time: new Date('2026-11-22T04:55:35.987Z'), message: 'm' })).toBe('info/2026-11-22T04:55:35Z/m');
  });

  test.each([
    ['uppercase level', { level: 'Error' as WatchdogLevel, time: T, message: 'm' }],
    ['unknown level', { level: 'unknown' as WatchdogLevel, time: T, message: 'm' }],
    ['invalid time', { level: 'info' as const, time: new Date(NaN), message: 'm' }],
    ['newline in message', { level: 'info' as const, time: T, message: 'a\nb' }],
    ['message too long', { level: 'info' as const, time: T, message: 'x'.repeat(MAX_WATCHDOG_MESSAGE_LENGTH + 1) }],
  ])('throws RangeError on %s', (_label, status) => {
    expect(() => formatStatus(status)).toThrow(RangeError);
  });
});

describe('parseStatus', () => {
  test.each<[string, { level: string; declaredLevel: string; time?: string; message: string }]>([
    ['error/2026-11-22T04:55:35Z/boom', { level: 'error', declaredLevel: 'error', time: '2026-11-22T04:55:35.000Z', message: 'boom' }],
    [
      'info/2026-11-22T04:55:35Z/error cleared',
      { level: 'info', declaredLevel: 'info', time: '2026-11-22T04:55:35.000Z', message: 'error cleared' },
    ],
    ['warning/2026-11-22T04:55:35Z/', { level: 'warning', declaredLevel: 'warning', time: '2026-11-22T04:55:35.000Z', message: '' }],
    ['warning/2026-11-22T04:55:35Z', { level: 'warning', declaredLevel: 'warning', time: '2026-11-22T04:55:35.000Z', message: '' }],
    // messages keep every further '/'
    [
      'error/2026-11-22T04:55:35Z/GET /a/b/c: 500',
      { level: 'error', declaredLevel: 'error', time: '2026-11-22T04:55:35.000Z', message: 'GET /a/b/c: 500' },
    ],
    ['error/2026-11-22T04:55:35Z//', { level: 'error', declaredLevel: 'error', time: '2026-11-22T04:55:35.000Z', message: '/' }],
    ['error/2026-11-22T04:55:35Z/a//b/', { level: 'error', declaredLevel: 'error', time: '2026-11-22T04:55:35.000Z', message: 'a//b/' }],
    // level case
    ['Error/2026-11-22T04:55:35Z/x', { level: 'error', declaredLevel: 'error', time: '2026-11-22T04:55:35.000Z', message: 'x' }],
    ['WARNING/2026-11-22T04:55:35Z/x', { level: 'warning', declaredLevel: 'warning', time: '2026-11-22T04:55:35.000Z', message: 'x' }],
    // AutoCrane's own values: lowercase level, .NET "s" time (no offset, UTC)
    [
      'error/2021-03-01T12:34:56/Response status code does not indicate success: 500 (Internal Server Error).',
      {
        level: 'error',
        declaredLevel: 'error',
        time: '2021-03-01T12:34:56.000Z',
        message: 'Response status code does not indicate success: 500 (Internal Server Error).',
      },
    ],
    [
      'info/2021-03-01T12:34:56/error cleared',
      { level: 'info', declaredLevel: 'info', time: '2021-03-01T12:34:56.000Z', message: 'error cleared' },
    ],
    [
      'warning/2021-03-01T12:34:56/see http://x/y',
      { level: 'warning', declaredLevel: 'warning', time: '2021-03-01T12:34:56.000Z', message: 'see http://x/y' },
    ],
    // other offsets
    ['error/2026-11-22T06:55:35+02:00/x', { level: 'error', declaredLevel: 'error', time: '2026-11-22T04:55:35.000Z', message: 'x' }],
  ])('%j', (raw, expected) => {
    const parsed = parseStatus(raw);
    expect({ level: parsed.level, declaredLevel: parsed.declaredLevel, time: parsed.time?.toISOString(), message: parsed.message }).toEqual(
      { time: undefined, ...expected },
    );
    expect(parsed.raw).toBe(raw);
    expect(parsed.problem).toBeUndefined();
  });

  test.each<[string, { declaredLevel: string; time?: string; message: string; problem: RegExp }]>([
    // AutoCrane's own tests used values like these; its post CLI did not validate the level.
    ['Error/...', { declaredLevel: 'error', message: '...', problem: /unparsable time '\.\.\.'/ }],
    [
      'bogus/2026-11-22T04:55:35Z/x',
      { declaredLevel: 'bogus', time: '2026-11-22T04:55:35.000Z', message: 'x', problem: /unknown level 'bogus'/ },
    ],
    [
      'Unknown/2026-11-22T04:55:35Z/x',
      { declaredLevel: 'unknown', time: '2026-11-22T04:55:35.000Z', message: 'x', problem: /unknown level 'Unknown'/ },
    ],
    [
      'bogus/nonsense/a/b',
      { declaredLevel: 'bogus', message: 'nonsense/a/b', problem: /unknown level 'bogus'; unparsable time 'nonsense'/ },
    ],
    ['error/yesterday/it broke', { declaredLevel: 'error', message: 'yesterday/it broke', problem: /unparsable time 'yesterday'/ }],
    ['error//msg', { declaredLevel: 'error', message: '/msg', problem: /unparsable time ''/ }],
    ['error/', { declaredLevel: 'error', message: '', problem: /unparsable time/ }],
    ['/2026-11-22T04:55:35Z/x', { declaredLevel: '', time: '2026-11-22T04:55:35.000Z', message: 'x', problem: /unknown level ''/ }],
    ['error', { declaredLevel: '', message: '', problem: /not of the form/ }],
    ['', { declaredLevel: '', message: '', problem: /not of the form/ }],
    [
      'errorfoo/2026-11-22T04:55:35Z/x',
      { declaredLevel: 'errorfoo', time: '2026-11-22T04:55:35.000Z', message: 'x', problem: /unknown level/ },
    ],
    ['error/2026-02-30T00:00:00Z/x', { declaredLevel: 'error', message: '2026-02-30T00:00:00Z/x', problem: /unparsable time/ }],
  ])('tolerates %j (level unknown, no throw)', (raw, expected) => {
    const parsed = parseStatus(raw);
    expect(parsed.level).toBe('unknown');
    expect(parsed.raw).toBe(raw);
    expect(parsed.declaredLevel).toBe(expected.declaredLevel);
    expect(parsed.time?.toISOString()).toBe(expected.time);
    expect(parsed.message).toBe(expected.message);
    expect(parsed.problem).toMatch(expected.problem);
  });

  test('a parsed record without a time has no time key at all', () => {
    expect('time' in parseStatus('error/x/y')).toBe(false);
    expect('problem' in parseStatus('error/2026-11-22T04:55:35Z/y')).toBe(false);
  });

  const levels: WatchdogLevel[] = ['info', 'warning', 'error'];
  const messages = [
    '',
    'ok',
    'a/b/c',
    '/leading',
    'trailing/',
    '//',
    'GET /x?y=1&z=/w',
    'ünïcødé 😀',
    'x'.repeat(MAX_WATCHDOG_MESSAGE_LENGTH),
  ];
  const times = [T, new Date('1999-12-31T23:59:59.999Z'), new Date(0)];
  const cases = levels.flatMap((level) => messages.flatMap((message) => times.map((time) => ({ level, message, time }))));

  test.each(cases)('round trip $level / $message', (status) => {
    const parsed = parseStatus(formatStatus(status));
    expect(parsed.level).toBe(status.level);
    expect(parsed.declaredLevel).toBe(status.level);
    expect(parsed.message).toBe(status.message);
    expect(parsed.time?.getTime()).toBe(Math.floor(status.time.getTime() / 1000) * 1000);
    expect(parsed.problem).toBeUndefined();
  });
});

import {
  ArchiveEntryRules,
  nextRefusal,
  refusalGate,
  refusalWaitMs,
  type EntryHeader,
  type Refusal,
} from '../../../domain/data/data-archive-rules';

const limits = { maxArchiveBytes: 1000, maxEntries: 4, maxExtractedBytes: 100 };

/** The first problem of a sequence of entries, as `reason: message`, or null. */
function firstProblem(entries: EntryHeader[]): string | null {
  const rules = new ArchiveEntryRules(limits);
  for (const entry of entries) {
    const problem = rules.check(entry);
    if (problem) return `${problem.reason}: ${problem.message}`;
  }
  return null;
}

const file = (name: string, size = 1): EntryHeader => ({ name, type: 'file', size });
const dir = (name: string): EntryHeader => ({ name, type: 'directory' });
const symlink = (name: string, linkname: string): EntryHeader => ({ name, type: 'symlink', linkname });
const hardlink = (name: string, linkname: string): EntryHeader => ({ name, type: 'link', linkname });

describe('ArchiveEntryRules', () => {
  test.each<[string, EntryHeader[], RegExp | null]>([
    ['files and folders', [dir('./'), dir('a/'), file('a/x'), file('./b')], null],
    ['a symlink inside the folder', [file('a/x'), symlink('a/l', 'x'), symlink('up', 'a/x')], null],
    ['a hard link to an earlier file', [file('x'), hardlink('y', 'x')], null],
    ['exactly the byte limit', [file('x', 60), file('y', 40)], null],
    ['an empty archive', [], null],
    ['an absolute name', [file('/etc/passwd')], /^unsafe-path: .*absolute path/],
    ['a .. segment', [file('a/../../x')], /^unsafe-path: .*'\.\.' segment/],
    ['a drive path', [file('C:\\x')], /^unsafe-path: .*drive/],
    ['a NUL byte', [file('a\0b')], /^unsafe-path: .*NUL/],
    ['a file naming the root', [{ name: './', type: 'file', size: 0 }], /^unsafe-path: .*root/],
    ['a symlink out of the folder', [symlink('l', '../../etc')], /^unsafe-path: .*escapes/],
    ['an absolute symlink', [symlink('l', '/etc/passwd')], /^unsafe-path: .*absolute symlink/],
    ['a write through an earlier symlink', [symlink('l', 'a'), file('l/x')], /^unsafe-path: .*goes through the symlink 'l'/],
    ['a symlink replaced', [symlink('l', 'a'), file('l')], /^unsafe-path: .*replaces the symlink/],
    ['a hard link to nothing earlier', [hardlink('y', 'x')], /^unsafe-path: .*not a file of an earlier entry/],
    ['a hard link out of the folder', [hardlink('y', '../x')], /^unsafe-path: hard link 'y'/],
    ['a device', [{ name: 'dev', type: 'character-device' }], /^unsupported-entry: .*device/],
    ['a FIFO', [{ name: 'p', type: 'fifo' }], /^unsupported-entry: .*FIFO/],
    ['an unknown type', [{ name: 'u', type: null }], /^unsupported-entry: .*type unknown/],
    ['one entry too many', [file('a'), file('b'), file('c'), file('d'), file('e')], /^too-many-entries: more than 4 entries/],
    ['one byte too many', [file('x', 60), file('y', 41)], /^too-many-bytes: 'y' \(41 bytes\) takes the extracted size over 100 bytes/],
  ])('%s', (_case, entries, expected) => {
    const problem = firstProblem(entries);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(expected);
  });
});

describe('refusal back-off', () => {
  const backoff = { initialMs: 60_000, maxMs: 3_600_000 };

  test.each([
    [1, 60_000],
    [2, 120_000],
    [3, 240_000],
    [6, 1_920_000],
    [7, 3_600_000],
    [1000, 3_600_000],
  ])('after refusal %i the wait is %i ms', (count, wait) => {
    expect(refusalWaitMs(count, backoff)).toBe(wait);
  });

  test('consecutive refusals count up and push retryAt out', () => {
    const now = new Date('2025-06-01T12:00:00Z');
    const first = nextRefusal(undefined, { reason: 'truncated', message: 'ends early', ref: '"v1"' }, now, backoff);
    expect(first).toEqual({
      ref: '"v1"',
      reason: 'truncated',
      message: 'ends early',
      at: '2025-06-01T12:00:00.000Z',
      count: 1,
      retryAt: '2025-06-01T12:01:00.000Z',
    });
    const second = nextRefusal(first, { reason: 'corrupt-tar', message: 'bad', ref: '"v2"' }, new Date('2025-06-01T12:01:00Z'), backoff);
    expect(second).toMatchObject({ ref: '"v2"', reason: 'corrupt-tar', count: 2, retryAt: '2025-06-01T12:03:00.000Z' });
  });

  const refusal = (ref: string | null): Refusal => ({
    ref,
    reason: 'truncated',
    message: 'm',
    at: '2025-06-01T12:00:00.000Z',
    count: 1,
    retryAt: '2025-06-01T12:01:00.000Z',
  });
  const during = new Date('2025-06-01T12:00:30Z');
  const after = new Date('2025-06-01T12:01:00Z');

  test.each<[string, Refusal | undefined, 'git' | 'http' | 'local', Date, ReturnType<typeof refusalGate>]>([
    ['no refusal', undefined, 'http', during, { action: 'fetch' }],
    ['wait over', refusal('"v1"'), 'http', after, { action: 'fetch' }],
    ['http with an ETag', refusal('"v1"'), 'http', during, { action: 'compare-refused', ref: '"v1"' }],
    [
      'http with Last-Modified',
      refusal('Sun, 01 Jun 2025 11:00:00 GMT'),
      'http',
      during,
      { action: 'compare-refused', ref: 'Sun, 01 Jun 2025 11:00:00 GMT' },
    ],
    ['http without a validator', refusal('sha256:abc'), 'http', during, { action: 'skip', until: '2025-06-01T12:01:00.000Z' }],
    ['refused before a ref was known', refusal(null), 'git', during, { action: 'skip', until: '2025-06-01T12:01:00.000Z' }],
    ['git commit', refusal('0123abc'), 'git', during, { action: 'compare-refused', ref: '0123abc' }],
    ['local digest', refusal('sha256:abc'), 'local', during, { action: 'compare-refused', ref: 'sha256:abc' }],
  ])('%s', (_case, last, kind, now, gate) => {
    expect(refusalGate(last, kind, now)).toEqual(gate);
  });
});

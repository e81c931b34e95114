import { join } from 'node:path';
import type { DataVersion } from '../../../domain/data/data-contract';
import { answerRange, archiveEtag, ifRangeAllows, noneMatchHits, planPrune, unreferencedBlobs } from '../../../domain/data/data-repository';
import { DataSourcesError, parseDataSources } from '../../../datarepository/sources';

const sha = (c: string) => c.repeat(64);
const version = (n: number, sha256 = sha(String(n % 10))): DataVersion => ({
  id: `20250101T00000${n}Z-${sha256.slice(0, 12)}`,
  sha256,
  size: 10,
  createdAt: '2025-01-01T00:00:00Z',
  origin: { kind: 'local', ref: `r${n}` },
});

describe('answerRange', () => {
  test.each([
    [undefined, 100, { kind: 'full' }],
    ['bytes=0-9', 100, { kind: 'partial', range: { start: 0, end: 9 } }],
    ['bytes=90-', 100, { kind: 'partial', range: { start: 90, end: 99 } }],
    ['bytes=90-500', 100, { kind: 'partial', range: { start: 90, end: 99 } }],
    ['bytes=-10', 100, { kind: 'partial', range: { start: 90, end: 99 } }],
    ['bytes=-500', 100, { kind: 'partial', range: { start: 0, end: 99 } }],
    ['bytes=99-99', 100, { kind: 'partial', range: { start: 99, end: 99 } }],
    [' Bytes = 5 - 6 ', 100, { kind: 'partial', range: { start: 5, end: 6 } }],
    ['bytes=100-', 100, { kind: 'unsatisfiable' }],
    ['bytes=100-200', 100, { kind: 'unsatisfiable' }],
    ['bytes=-0', 100, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=-5', 0, { kind: 'unsatisfiable' }],
    // Ignored (the whole body): several ranges, another unit, nonsense, an inverted range.
    ['bytes=0-1,5-6', 100, { kind: 'full' }],
    ['items=0-1', 100, { kind: 'full' }],
    ['bytes=a-b', 100, { kind: 'full' }],
    ['bytes=-', 100, { kind: 'full' }],
    ['bytes=9-1', 100, { kind: 'full' }],
  ])('%j of %d bytes', (header, size, expected) => {
    expect(answerRange(header, size)).toEqual(expected);
  });
});

describe('conditional headers', () => {
  const etag = archiveEtag(sha('a'));
  test('the ETag is the quoted SHA-256', () => expect(etag).toBe(`"${sha('a')}"`));
  test.each([
    [undefined, false],
    ['*', true],
    [etag, true],
    [`W/${etag}`, true],
    [`"other", ${etag}`, true],
    ['"other"', false],
    [sha('a'), false],
  ])('If-None-Match %j hits: %s', (header, hits) => expect(noneMatchHits(header, etag)).toBe(hits));
  test.each([
    [undefined, true],
    [etag, true],
    ['"other"', false],
    [`W/${etag}`, false],
    ['Wed, 21 Oct 2015 07:28:00 GMT', false],
  ])('If-Range %j lets the range apply: %s', (header, allows) => expect(ifRangeAllows(header, etag)).toBe(allows));
});

describe('pruning', () => {
  const versions = [1, 2, 3, 4].map((n) => version(n));
  test('keeps the newest N, drops the oldest', () => {
    expect(planPrune(versions, 2)).toEqual({ kept: versions.slice(2), dropped: versions.slice(0, 2) });
    expect(planPrune(versions, 4)).toEqual({ kept: versions, dropped: [] });
    expect(planPrune(versions, 10)).toEqual({ kept: versions, dropped: [] });
    expect(planPrune(versions, 0).kept).toEqual(versions.slice(3));
  });
  test("a pinned version (a namespace's LKG or rollout target) stays however old", () => {
    const [v1, v2, v3, v4] = versions as [DataVersion, DataVersion, DataVersion, DataVersion];
    expect(planPrune(versions, 2, new Set([v1.id]))).toEqual({ kept: [v1, v3, v4], dropped: [v2] });
    expect(planPrune(versions, 1, new Set([v2.id, v4.id, 'gone']))).toEqual({ kept: [v2, v4], dropped: [v1, v3] });
    expect(planPrune(versions, 4, new Set([v1.id]))).toEqual({ kept: versions, dropped: [] });
  });
  test('pins that could not be read prune nothing', () => {
    expect(planPrune(versions, 1, 'unknown')).toEqual({ kept: versions, dropped: [] });
  });
  test('an archive still named by a kept version or another source is not deleted', () => {
    const shared = sha('s');
    const dropped = [version(1), version(2, shared), version(3)];
    const kept = { versions: [version(4), version(5, sha('3'))] };
    const other = { versions: [version(6, shared)] };
    expect(unreferencedBlobs(dropped, [kept, other])).toEqual([sha('1')]);
  });
});

describe('the sources file', () => {
  const parse = (value: unknown) => parseDataSources(JSON.stringify(value), 'sources.json', '/etc/autocrane');
  const problems = (value: unknown): string[] => {
    try {
      parse(value);
    } catch (err) {
      expect(err).toBeInstanceOf(DataSourcesError);
      return [...(err as DataSourcesError).problems];
    }
    throw new Error('accepted');
  };

  test('accepts the three kinds; a local path is relative to the file', () => {
    expect(
      parse([
        { name: 'prices', kind: 'git', url: 'https://example.com/p.git', ref: 'main', keep: 3 },
        { name: 'geo', kind: 'http', url: 'https://example.com/geo.tar.gz' },
        { name: 'demo', kind: 'local', path: 'demo-data' },
      ]),
    ).toEqual([
      { name: 'prices', kind: 'git', url: 'https://example.com/p.git', ref: 'main', keep: 3 },
      { name: 'geo', kind: 'http', url: 'https://example.com/geo.tar.gz' },
      { name: 'demo', kind: 'local', path: join('/etc/autocrane', 'demo-data') },
    ]);
  });

  test('each mistake names the entry and the field', () => {
    expect(problems({})).toEqual([expect.stringMatching(/^expected a JSON array of sources/)]);
    expect(problems([{ name: 'Bad_Name', kind: 'local', path: 'x' }])).toEqual([
      expect.stringMatching(/^sources\[0\] \('Bad_Name'\): name: 'Bad_Name' is not a source name/),
    ]);
    expect(problems([{ name: 'a', kind: 'ftp', url: 'x' }])).toEqual([
      expect.stringMatching(/^sources\[0\] \('a'\): kind: .*'git', 'http' or 'local'/),
    ]);
    expect(
      problems([
        { name: 'a', kind: 'local', path: 'x' },
        { name: 'b', kind: 'http', url: 'ftp://x' },
      ]),
    ).toEqual([expect.stringMatching(/^sources\[1\] \('b'\): url: expected an http\(s\) URL/)]);
    expect(problems([{ name: 'a', kind: 'git', url: 'u', ref: '--upload-pack=evil' }])).toEqual([
      expect.stringMatching(/^sources\[0\] \('a'\): ref: /),
    ]);
    expect(problems([{ name: 'a', kind: 'git', url: 'u', refs: 'main' }])).toEqual([
      expect.stringMatching(/^sources\[0\] \('a'\): .*refs/),
    ]);
    expect(problems([{ name: 'a', kind: 'local', path: 'x', keep: 0 }])).toEqual([expect.stringMatching(/^sources\[0\] \('a'\): keep: /)]);
    expect(problems([{ name: 'a', kind: 'local' }])).toEqual(["sources[0] ('a'): path: expected a folder path"]);
    expect(problems([{ name: 'a', kind: 'git' }])).toEqual(["sources[0] ('a'): url: expected a git repository URL or path"]);
    expect(
      problems([
        { name: 'a', kind: 'local', path: 'x' },
        { name: 'a', kind: 'local', path: 'y' },
      ]),
    ).toEqual(["sources[1] ('a'): name: already used by sources[0]"]);
  });

  test('text that is not JSON', () => {
    expect(() => parseDataSources('[{', 'sources.json', '/')).toThrow(/Invalid data sources in sources.json:\n {2}not JSON/);
  });
});

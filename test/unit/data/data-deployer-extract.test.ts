import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveEntryPath, symlinkTargetProblem, throughSymlinkProblem } from '../../../domain/data/data-deployer';
import { ActivationError } from '../../../datadeployer/errors';
import { extractArchive } from '../../../datadeployer/extract';
import { writeArchive, type ArchiveEntry } from '../../support/archives';

describe('archive entry paths (pure)', () => {
  it.each([
    ['a/b.txt', ['a', 'b.txt']],
    ['./a//b/', ['a', 'b']],
    ['./', []],
    ['a..b/..c', ['a..b', '..c']],
  ])('%j is extracted at %j', (name, segments) => {
    expect(archiveEntryPath(name)).toEqual({ ok: true, segments });
  });

  it.each([
    ['/etc/passwd', /an absolute path/],
    ['C:\\x', /drive/],
    ['../x', /'\.\.' segment/],
    ['a/../../x', /'\.\.' segment/],
    ['a/..', /'\.\.' segment/],
    ['a\0b', /NUL/],
  ])('%j is refused', (name, problem) => {
    const check = archiveEntryPath(name);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.problem).toMatch(problem);
  });

  it('refuses writes through the archive’s own symlinks', () => {
    const links = new Set(['a/link']);
    expect(throughSymlinkProblem(['a', 'link', 'f'], links)).toMatch(/goes through the symlink 'a\/link'/);
    expect(throughSymlinkProblem(['a', 'link'], links)).toBeNull(); // the link itself (replacement is checked apart)
    expect(throughSymlinkProblem(['a', 'other', 'f'], links)).toBeNull();
  });

  it.each([
    [['a', 'l'], 'b', null],
    [['a', 'l'], '../b', null],
    [['a', 'b', 'l'], '../../c/./d', null],
    [['l'], '..', /escapes/],
    [['a', 'l'], '../../x', /escapes/],
    [['a', 'l'], '/etc', /absolute/],
    [['a', 'l'], '', /empty/],
    [['a', 'l2'], 'l/..', /goes through the symlink 'a\/l'/],
  ])('symlink %j -> %j', (segments, target, problem) => {
    const result = symlinkTargetProblem(segments, target, new Set(['a/l']));
    if (problem === null) expect(result).toBeNull();
    else expect(result).toMatch(problem);
  });
});

describe('extractArchive', () => {
  let dir: string;
  let root: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'extract-'));
    root = join(dir, 'root');
    await mkdir(root);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const limits = { maxEntries: 100, maxBytes: 1_000_000 };
  const extract = async (entries: ArchiveEntry[], l = limits) =>
    extractArchive(await writeArchive(join(dir, 'a.tar.gz'), entries), root, l);
  /** Everything in the test folder besides the archive and root: an escape would land there. */
  const outside = async () => (await readdir(dir)).filter((n) => n !== 'a.tar.gz' && n !== 'root');

  it('extracts files, folders, inner symlinks and hard links, dropping set-id and group/other write bits', async () => {
    const result = await extract([
      { header: { name: 'data/', type: 'directory' } },
      { header: { name: 'data/a.txt', mode: 0o4777 }, content: 'A' },
      { header: { name: 'data/sub/b.txt' }, content: 'BB' },
      { header: { name: 'data/latest', type: 'symlink', linkname: 'sub/b.txt' } },
      { header: { name: 'data/hard', type: 'link', linkname: 'data/a.txt' } },
      { header: { name: 'data/a.txt' }, content: 'A2' }, // a later entry of the same name wins, as with tar
    ]);
    expect(result).toEqual({ entries: 6, bytes: 5 });
    expect(await readFile(join(root, 'data/a.txt'), 'utf8')).toBe('A2');
    expect(await readFile(join(root, 'data/latest'), 'utf8')).toBe('BB');
    expect(await readlink(join(root, 'data/latest'))).toBe('sub/b.txt');
    expect(await readFile(join(root, 'data/hard'), 'utf8')).toBe('A');
    expect((await lstat(join(root, 'data/hard'))).mode & 0o7777).toBe(0o755);
  });

  it.each<[string, ArchiveEntry[], RegExp]>([
    ['an absolute path', [{ header: { name: '/tmp/evil' }, content: 'x' }], /'\/tmp\/evil': an absolute path/],
    ['a .. path', [{ header: { name: 'ok/../../evil' }, content: 'x' }], /'\.\.' segment/],
    ['a symlink to an absolute path', [{ header: { name: 'l', type: 'symlink', linkname: '/etc' } }], /absolute symlink target/],
    ['a symlink climbing out', [{ header: { name: 'a/l', type: 'symlink', linkname: '../../x' } }], /escapes/],
    [
      'a file written through a symlink',
      [{ header: { name: 'l', type: 'symlink', linkname: 'd' } }, { header: { name: 'l/f' }, content: 'x' }],
      /goes through the symlink 'l'/,
    ],
    [
      'a symlink replaced by a file (which would write through it)',
      [{ header: { name: 'l', type: 'symlink', linkname: 'x' } }, { header: { name: 'l' }, content: 'x' }],
      /replaces the symlink/,
    ],
    [
      'a hard link out of the folder',
      [{ header: { name: 'h', type: 'link', linkname: '../outside' } }],
      /hard link 'h' -> .*'\.\.' segment/,
    ],
    ['a hard link to an absolute path', [{ header: { name: 'h', type: 'link', linkname: '/etc/passwd' } }], /absolute path/],
    ['a hard link to nothing extracted', [{ header: { name: 'h', type: 'link', linkname: 'nope' } }], /not a file extracted before it/],
    ['a character device', [{ header: { name: 'tty', type: 'character-device', devmajor: 5, devminor: 0 } }], /'tty': a device file/],
    ['a block device', [{ header: { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 } }], /a device file/],
    ['a FIFO', [{ header: { name: 'pipe', type: 'fifo' } }], /'pipe': a FIFO/],
  ])('refuses %s, writing nothing outside', async (_what, entries, problem) => {
    const error = await extract(entries).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActivationError);
    expect((error as ActivationError).kind).toBe('archive');
    expect((error as Error).message).toMatch(problem);
    expect(await outside()).toEqual([]);
  });

  it('refuses more entries than the limit', async () => {
    const entries = Array.from({ length: 4 }, (_, i) => ({ header: { name: `f${i}` }, content: '' }));
    await expect(extract(entries, { maxEntries: 3, maxBytes: 100 })).rejects.toThrow(/more than 3 entries/);
    await rm(root, { recursive: true });
    await mkdir(root);
    await expect(extract(entries, { maxEntries: 4, maxBytes: 100 })).resolves.toEqual({ entries: 4, bytes: 0 });
  });

  it('refuses an entry that takes the extracted size over the limit before writing it', async () => {
    const entries = [
      { header: { name: 'a' }, content: 'x'.repeat(60) },
      { header: { name: 'b' }, content: 'x'.repeat(50) },
    ];
    await expect(extract(entries, { maxEntries: 10, maxBytes: 100 })).rejects.toThrow(
      /'b' \(50 bytes\) takes the extracted size over 100 bytes/,
    );
    await expect(lstat(join(root, 'b'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stops when aborted between or inside entries, rejecting with the reason and emitting no stray error', async () => {
    const { randomBytes } = await import('node:crypto');
    const archive = await writeArchive(
      join(dir, 'a.tar.gz'),
      Array.from({ length: 200 }, (_, i) => ({ header: { name: `d${i % 7}/f${i}.bin` }, content: randomBytes(20_000) })),
    );
    const strays: unknown[] = [];
    const onStray = (err: unknown) => strays.push(err);
    process.on('uncaughtException', onStray);
    try {
      // Aborted once n entries are on disk: the abort lands at various points of an entry's writing.
      for (const n of [1, 3, 5, 10, 20, 40]) {
        await rm(root, { recursive: true, force: true });
        await mkdir(root);
        const controller = new AbortController();
        const watcher = setInterval(() => {
          void readdir(root, { recursive: true }).then(
            (names) => names.length >= n && controller.abort(new Error('superseded')),
            () => undefined,
          );
        }, 1);
        const error = await extractArchive(archive, root, { maxEntries: 1000, maxBytes: 2 ** 30 }, controller.signal).catch(
          (e: unknown) => e,
        );
        clearInterval(watcher);
        expect((error as Error).message).toBe('superseded');
        // An entry's stream that errors after the pipelines have settled, unheard, would end the process.
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(strays).toEqual([]);
    } finally {
      process.off('uncaughtException', onStray);
    }
  });

  it('refuses bytes that are not a gzip-compressed tar', async () => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'junk'), 'not gzip at all');
    await expect(extractArchive(join(dir, 'junk'), root, limits)).rejects.toMatchObject({
      kind: 'archive',
      message: expect.stringMatching(/not a gzip stream/),
    });
  });
});

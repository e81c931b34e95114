import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import { extract } from 'tar-stream';
import { VERSION_ID } from '../../../domain/data/data-contract';
import type { SourceManifest } from '../../../domain/data/data-repository';
import { FileBlobStore, InvalidBlobAddressError } from '../../../datarepository/blob-store';
import { ManifestStore } from '../../../datarepository/manifests';
import { DataRepository } from '../../../datarepository/repository';
import type { DataSource } from '../../../datarepository/sources';
import { filesArchive, sha256Hex, bodyServerForTests } from '../../support/archives';

const logger = pino({ level: 'silent' });
const hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** name → content of a gzip-compressed tar's files. */
async function archiveFiles(archive: Buffer): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const parser = extract();
  parser.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => void chunks.push(c as Buffer));
    body.on('end', () => {
      if (header.type === 'file') files[header.name] = Buffer.concat(chunks).toString();
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => parser.on('finish', () => resolve()).on('error', reject));
  parser.end(gunzipSync(archive));
  await done;
  return files;
}

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'data-repository-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('FileBlobStore', () => {
  test('a blob is stored under its SHA-256 and read back whole or by range', async () => {
    const store = new FileBlobStore(root);
    await store.prepare();
    const content = Buffer.from('0123456789');
    expect(await store.put(Readable.from([content]))).toEqual({ sha256: hex(content), size: 10 });
    expect(await readFile(join(root, 'blobs', 'sha256', hex(content)))).toEqual(content);
    expect(await store.list()).toEqual([hex(content)]);
    expect(await store.stat(hex(content))).toEqual({ size: 10, identity: expect.any(String) });
    expect((await readAll(await store.open(hex(content), { start: 2, end: 4 }))).toString()).toBe('234');
    await store.delete(hex(content));
    expect(await store.stat(hex(content))).toBeNull();
    await expect(store.open(hex(content))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('a stream that fails midway leaves no blob and no temporary file', async () => {
    const store = new FileBlobStore(root);
    await store.prepare();
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000, 1));
        this.destroy(new Error('source broke'));
      },
    });
    await expect(store.put(failing)).rejects.toThrow('source broke');
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(root, 'blobs', 'tmp'))).toEqual([]);
  });

  test('prepare removes what a crashed put left, which was never visible', async () => {
    await mkdir(join(root, 'blobs', 'tmp'), { recursive: true });
    await writeFile(join(root, 'blobs', 'tmp', 'partial'), 'half an archive');
    const store = new FileBlobStore(root);
    await store.prepare();
    expect(await readdir(join(root, 'blobs', 'tmp'))).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  test.each(['../../etc/passwd', '..', 'a'.repeat(63), 'A'.repeat(64), `${'a'.repeat(64)}/x`, ''])(
    'the address %j is refused before any path is built',
    async (address) => {
      const store = new FileBlobStore(root);
      await store.prepare();
      await expect(store.stat(address)).rejects.toBeInstanceOf(InvalidBlobAddressError);
      await expect(store.open(address)).rejects.toBeInstanceOf(InvalidBlobAddressError);
      await expect(store.delete(address)).rejects.toBeInstanceOf(InvalidBlobAddressError);
    },
  );
});

describe('ManifestStore', () => {
  const manifest = (ids: string[]): SourceManifest => ({
    source: 'demo',
    versions: ids.map((id) => ({
      id,
      sha256: 'a'.repeat(64),
      size: 1,
      createdAt: '2025-01-01T00:00:00.000Z',
      origin: { kind: 'local', ref: 'r' },
      announced: false,
    })),
  });

  test('a missing manifest reads as empty; a written one reads back; no temporary file stays', async () => {
    const store = new ManifestStore(root);
    await store.prepare();
    expect(await store.read('demo')).toEqual({ source: 'demo', versions: [] });
    await store.write(manifest(['20250101T000000Z-aaaaaaaaaaaa']));
    await store.write(manifest(['20250101T000000Z-aaaaaaaaaaaa', '20250101T000001Z-aaaaaaaaaaaa']));
    expect((await store.read('demo')).versions.map((v) => v.id)).toEqual([
      '20250101T000000Z-aaaaaaaaaaaa',
      '20250101T000001Z-aaaaaaaaaaaa',
    ]);
    expect(await readdir(store.folder)).toEqual(['demo.json']);
  });

  test('a write that fails leaves the previous manifest whole', async () => {
    const store = new ManifestStore(root);
    await store.prepare();
    await store.write(manifest(['20250101T000000Z-aaaaaaaaaaaa']));
    const broken = manifest(['20250101T000001Z-aaaaaaaaaaaa']);
    (broken.versions[0] as unknown as { size: bigint }).size = 1n; // JSON.stringify throws on a BigInt
    await expect(store.write(broken)).rejects.toThrow(/BigInt/);
    expect((await store.read('demo')).versions.map((v) => v.id)).toEqual(['20250101T000000Z-aaaaaaaaaaaa']);
    expect(await readdir(store.folder)).toEqual(['demo.json']);
  });

  test('a source name that is not a DNS label never becomes a path', async () => {
    const store = new ManifestStore(root);
    await expect(store.read('../x')).rejects.toThrow(/is not a source name/);
  });
});

function repositoryOf(sources: DataSource[], keepVersions = 3, now = () => new Date('2025-06-01T12:00:00Z')) {
  const blobs = new FileBlobStore(root);
  const manifests = new ManifestStore(root);
  const repository = new DataRepository({ root, sources, blobs, manifests, keepVersions, logger, now });
  return { repository, blobs, manifests, ready: Promise.all([blobs.prepare(), manifests.prepare()]) };
}

describe('DataRepository with a local folder', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'data-source-'));
    await mkdir(join(folder, 'sub'));
    await writeFile(join(folder, 'a.txt'), 'alpha');
    await writeFile(join(folder, 'sub', 'b.txt'), 'beta');
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  test('a poll stores a version; unchanged content stores nothing; a change is a second version', async () => {
    let clock = Date.parse('2025-06-01T12:00:00Z');
    const { repository, blobs, ready } = repositoryOf([{ name: 'demo', kind: 'local', path: folder }], 3, () => new Date((clock += 1000)));
    await ready;
    const first = await repository.poll('demo');
    expect(first.created).toMatchObject({
      id: expect.stringMatching(VERSION_ID),
      origin: { kind: 'local', ref: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
      announced: false,
    });
    const archive = await readAll(await blobs.open(first.created!.sha256));
    expect(hex(archive)).toBe(first.created!.sha256);
    expect(archive.length).toBe(first.created!.size);
    expect(await archiveFiles(archive)).toEqual({ 'a.txt': 'alpha', 'sub/b.txt': 'beta' });
    expect(first.unannounced.map((v) => v.id)).toEqual([first.created!.id]);

    const again = await repository.poll('demo');
    expect(again.created).toBeNull();
    expect(again.unannounced.map((v) => v.id)).toEqual([first.created!.id]);
    await repository.markAnnounced('demo', [first.created!.id]);
    expect((await repository.poll('demo')).unannounced).toEqual([]);

    await writeFile(join(folder, 'a.txt'), 'alpha 2');
    const second = await repository.poll('demo');
    expect(second.created?.sha256).not.toBe(first.created!.sha256);
    expect((await repository.manifest('demo')).versions.map((v) => [v.id, v.announced])).toEqual([
      [first.created!.id, true],
      [second.created!.id, false],
    ]);
  });

  test('packing is a function of the content: the same folder elsewhere gives the same archive', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'data-source-'));
    try {
      await mkdir(join(copy, 'sub'));
      await writeFile(join(copy, 'sub', 'b.txt'), 'beta');
      await writeFile(join(copy, 'a.txt'), 'alpha');
      const a = repositoryOf([
        { name: 'a', kind: 'local', path: folder },
        { name: 'b', kind: 'local', path: copy },
      ]);
      await a.ready;
      const [va, vb] = [await a.repository.poll('a'), await a.repository.poll('b')];
      expect(va.created!.sha256).toBe(vb.created!.sha256);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  test('only the last N versions are kept and the older archives deleted', async () => {
    let clock = Date.parse('2025-06-01T12:00:00Z');
    const { repository, blobs, ready } = repositoryOf(
      [{ name: 'demo', kind: 'local', path: folder, keep: 2 }],
      10,
      () => new Date((clock += 1000)),
    );
    await ready;
    const shas: string[] = [];
    for (const content of ['one', 'two', 'three']) {
      await writeFile(join(folder, 'a.txt'), content);
      shas.push((await repository.poll('demo')).created!.sha256);
    }
    const manifest = await repository.manifest('demo');
    expect(manifest.versions.map((v) => v.sha256)).toEqual(shas.slice(1));
    expect(await blobs.list()).toEqual([...shas.slice(1)].sort());
  });

  test('an archive no manifest names (a poll crashed before its manifest write) is removed at start', async () => {
    const { repository, blobs, ready } = repositoryOf([{ name: 'demo', kind: 'local', path: folder }]);
    await ready;
    const kept = (await repository.poll('demo')).created!.sha256;
    const orphan = (await blobs.put(Readable.from([Buffer.from('orphan')]))).sha256;
    expect(await repository.removeOrphans()).toEqual([orphan]);
    expect(await blobs.list()).toEqual([kept]);
  });

  test('a missing folder fails the poll and stores nothing', async () => {
    const { repository, blobs, ready } = repositoryOf([{ name: 'demo', kind: 'local', path: join(folder, 'nope') }]);
    await ready;
    await expect(repository.poll('demo')).rejects.toThrow(/is not a folder/);
    expect(await blobs.list()).toEqual([]);
    await expect(repository.poll('other')).rejects.toThrow(/no data source named 'other'/);
  });
});

describe('DataRepository with an HTTP source', () => {
  const origin = bodyServerForTests();
  const { bodies, requests } = origin;

  test('a file is packed alone under its name; a matching ETag answers 304 and stores nothing', async () => {
    bodies.set('/files/prices.csv', { body: Buffer.from('a,b\n1,2\n'), etag: '"v1"' });
    const { repository, blobs, ready } = repositoryOf([{ name: 'prices', kind: 'http', url: `${origin.url()}/files/prices.csv` }]);
    await ready;
    const first = await repository.poll('prices');
    expect(first.created?.origin).toEqual({ kind: 'http', ref: '"v1"' });
    expect(await archiveFiles(await readAll(await blobs.open(first.created!.sha256)))).toEqual({ 'prices.csv': 'a,b\n1,2\n' });

    expect((await repository.poll('prices')).created).toBeNull();
    expect(requests.at(-1)).toEqual({ path: '/files/prices.csv', ifNoneMatch: '"v1"' });

    bodies.set('/files/prices.csv', { body: Buffer.from('a,b\n3,4\n'), etag: '"v2"' });
    const second = await repository.poll('prices');
    expect(second.created?.origin.ref).toBe('"v2"');
  });

  test('a .tar.gz is stored byte for byte; one that is not an archive is refused and not stored', async () => {
    const archive = await filesArchive({ 'x.txt': 'x' });
    bodies.set('/geo.tar.gz', { body: archive });
    bodies.set('/bad.tgz', { body: Buffer.from('not gzip') });
    const { repository, blobs, ready } = repositoryOf([
      { name: 'geo', kind: 'http', url: `${origin.url()}/geo.tar.gz` },
      { name: 'bad', kind: 'http', url: `${origin.url()}/bad.tgz` },
      { name: 'gone', kind: 'http', url: `${origin.url()}/gone.tgz` },
    ]);
    await ready;
    const geo = await repository.poll('geo');
    expect(geo.created).toMatchObject({
      sha256: sha256Hex(archive),
      size: archive.length,
      origin: { ref: `sha256:${sha256Hex(archive)}` },
    });
    // No validator: the body's hash is the ref, so the same body again is no new version.
    expect((await repository.poll('geo')).created).toBeNull();
    expect((await repository.poll('bad')).refused).toMatchObject({
      reason: 'corrupt-gzip',
      message: expect.stringMatching(/not a gzip stream/),
      count: 1,
    });
    expect(repository.refusal('bad')).toMatchObject({ reason: 'corrupt-gzip' });
    await expect(repository.poll('gone')).rejects.toMatchObject({ message: expect.stringMatching(/answered HTTP 404/), retryable: false });
    expect(await blobs.list()).toEqual([geo.created!.sha256]);
  });
});

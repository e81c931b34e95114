import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { createDataRepositoryApp } from '../../../api/data/data-repository';
import type { ArchiveLimits } from '../../../domain/data/data-archive-rules';
import { ArchiveRefusedError, inspected } from '../../../datarepository/archive-check';
import { FileBlobStore } from '../../../datarepository/blob-store';
import { BlobIntegrityError, VerifiedBlobReader } from '../../../datarepository/blob-verify';
import { ManifestStore } from '../../../datarepository/manifests';
import { createRepositoryMetrics } from '../../../datarepository/metrics';
import { DataRepository } from '../../../datarepository/repository';
import type { DataSource } from '../../../datarepository/sources';
import { filesArchive, makeArchive, sha256Hex, bodyServerForTests } from '../../support/archives';

const logger = pino({ level: 'silent' });
const limits: ArchiveLimits = { maxArchiveBytes: 64 * 1024, maxEntries: 4, maxExtractedBytes: 1000 };

let root: string;
let blobs: FileBlobStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'data-refusals-'));
  blobs = new FileBlobStore(root);
  await blobs.prepare();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A tar's raw bytes (the gzip of makeArchive, undone). */
const rawTar = async (files: Record<string, string>) => (await import('node:zlib')).gunzipSync(await filesArchive(files));

describe('archives checked as they are stored', () => {
  const store = (archive: Buffer, chunk = 100) => {
    const pieces = [];
    for (let i = 0; i < archive.length; i += chunk) pieces.push(archive.subarray(i, i + chunk));
    return blobs.put(inspected(Readable.from(pieces), limits));
  };

  test('a good archive is stored byte for byte', async () => {
    const archive = await filesArchive({ 'a.txt': 'alpha', 'b/c.txt': 'gamma' });
    expect(await store(archive)).toEqual({ sha256: sha256Hex(archive), size: archive.length });
  });

  test.each<[string, () => Promise<Buffer>, string]>([
    ['truncated gzip', async () => (await filesArchive({ 'a.txt': randomBytes(400).toString('hex') })).subarray(0, 300), 'truncated'],
    ['a gzip of a cut tar', async () => gzipSync((await rawTar({ 'a.txt': 'x'.repeat(900) })).subarray(0, 700)), 'truncated'],
    ['not gzip', async () => Buffer.from('this is not a gzip stream at all'), 'corrupt-gzip'],
    ['a gzip of something else', async () => gzipSync(Buffer.from('x'.repeat(2048))), 'corrupt-tar'],
    ['path traversal', () => makeArchive([{ header: { name: '../../etc/cron.d/evil' }, content: 'x' }]), 'unsafe-path'],
    ['an absolute name', () => makeArchive([{ header: { name: '/etc/passwd' }, content: 'x' }]), 'unsafe-path'],
    ['a symlink out', () => makeArchive([{ header: { name: 'l', type: 'symlink', linkname: '../..' } }]), 'unsafe-path'],
    ['a device', () => makeArchive([{ header: { name: 'd', type: 'block-device' } }]), 'unsupported-entry'],
    ['too many entries', () => filesArchive({ a: '', b: '', c: '', d: '', e: '' }), 'too-many-entries'],
    ['too many bytes', () => filesArchive({ a: 'x'.repeat(600), b: 'y'.repeat(600) }), 'too-many-bytes'],
    ['a gzip bomb of zero blocks', async () => gzipSync(Buffer.alloc(8 * 2 ** 20)), 'too-many-bytes'],
  ])('%s is refused and nothing is stored', async (_case, make, reason) => {
    const archive = await make();
    await expect(store(archive)).rejects.toMatchObject({ name: 'ArchiveRefusedError', reason });
    expect(await blobs.list()).toEqual([]);
    expect(await readdir(join(root, 'blobs', 'tmp'))).toEqual([]);
  });

  test('an archive over the size limit is refused as it streams, before its end', async () => {
    // Incompressible: the archive is about as large as its one file, which the extracted limit allows.
    const noise = randomBytes(5000);
    const archive = await makeArchive([{ header: { name: 'noise.bin' }, content: noise }]);
    const put = blobs.put(
      inspected(Readable.from([archive.subarray(0, 2000), archive.subarray(2000)]), {
        ...limits,
        maxArchiveBytes: 2000,
        maxExtractedBytes: 10_000,
      }),
    );
    await expect(put).rejects.toMatchObject({ reason: 'archive-too-large', message: 'the archive exceeds 2000 bytes' });
    expect(await blobs.list()).toEqual([]);
  });

  test('a source that fails is its own error, not a refusal', async () => {
    const broken = new Readable({ read() {} });
    const put = blobs.put(inspected(broken, limits));
    broken.destroy(new Error('disk on fire'));
    await expect(put).rejects.toThrow('disk on fire');
    await expect(put).rejects.not.toBeInstanceOf(ArchiveRefusedError);
  });
});

describe('a refused version', () => {
  const origin = bodyServerForTests();
  const { bodies, requests } = origin;
  const hits = (path: string) => requests.filter((r) => r.path === path).length;

  function repositoryOf(sources: DataSource[], clock: { now: number }) {
    const registry = new Registry();
    const manifests = new ManifestStore(root);
    const repository = new DataRepository({
      root,
      sources,
      blobs,
      manifests,
      keepVersions: 3,
      logger,
      limits,
      refusalBackoff: { initialMs: 60_000, maxMs: 600_000 },
      metrics: createRepositoryMetrics(registry),
      now: () => new Date(clock.now),
    });
    return { repository, registry, ready: manifests.prepare() };
  }

  test('without a validator: not fetched again until the back-off is over; the other sources go on; a good body is stored', async () => {
    const good = await filesArchive({ 'a.txt': 'good' });
    bodies.set('/trunc.tar.gz', { body: good });
    bodies.set('/other.tar.gz', { body: await filesArchive({ 'o.txt': 'other' }) });
    const clock = { now: Date.parse('2025-06-01T12:00:00Z') };
    const { repository, registry, ready } = repositoryOf(
      [
        { name: 'trunc', kind: 'http', url: `${origin.url()}/trunc.tar.gz` },
        { name: 'other', kind: 'http', url: `${origin.url()}/other.tar.gz` },
      ],
      clock,
    );
    await ready;
    const stored = (await repository.poll('trunc')).created!;
    // Incompressible, so half of the archive is half of its file (what crashed the process before).
    const whole = await filesArchive({ 'a.txt': randomBytes(400).toString('hex') });
    bodies.set('/trunc.tar.gz', { body: whole.subarray(0, whole.length / 2) });

    const refused = await repository.poll('trunc');
    expect(refused).toMatchObject({ created: null, refused: { reason: 'truncated', count: 1, retryAt: '2025-06-01T12:01:00.000Z' } });
    expect((await repository.manifest('trunc')).versions).toEqual([stored]);
    expect(await blobs.list()).toEqual([stored.sha256]);
    expect(await registry.getSingleMetricAsString('autocrane_data_repository_archives_refused_total')).toContain(
      '{source="trunc",reason="truncated"} 1',
    );

    // Within the back-off the refused body is not downloaded again; other sources are polled as ever.
    const before = hits('/trunc.tar.gz');
    clock.now += 30_000;
    expect((await repository.poll('trunc')).refused).toMatchObject({ reason: 'truncated', count: 1 });
    expect(hits('/trunc.tar.gz')).toBe(before);
    expect((await repository.poll('other')).created).not.toBeNull();

    // Once it is over, fetched once more; refused again, the wait doubles.
    clock.now += 30_000;
    expect((await repository.poll('trunc')).refused).toMatchObject({ count: 2, retryAt: '2025-06-01T12:03:00.000Z' });
    expect(hits('/trunc.tar.gz')).toBe(before + 1);

    bodies.set('/trunc.tar.gz', { body: await filesArchive({ 'a.txt': 'fixed' }) });
    clock.now += 120_000;
    const fixed = await repository.poll('trunc');
    expect(fixed).toMatchObject({ created: { origin: { kind: 'http' } }, refused: null });
    expect(repository.refusal('trunc')).toBeUndefined();
  });

  test('with an ETag: the origin is asked whether it still has the refused content, and new content is taken at once', async () => {
    bodies.set('/tagged.tgz', { body: await makeArchive([{ header: { name: '../evil' }, content: 'x' }]), etag: '"bad"' });
    const clock = { now: Date.parse('2025-06-01T12:00:00Z') };
    const { repository, ready } = repositoryOf([{ name: 'tagged', kind: 'http', url: `${origin.url()}/tagged.tgz` }], clock);
    await ready;
    expect((await repository.poll('tagged')).refused).toMatchObject({
      reason: 'unsafe-path',
      ref: '"bad"',
      message: expect.stringMatching(/path traversal/),
    });
    clock.now += 1000;
    expect((await repository.poll('tagged')).refused).toMatchObject({ reason: 'unsafe-path', count: 1 });
    expect(requests.at(-1)).toEqual({ path: '/tagged.tgz', ifNoneMatch: '"bad"' });

    bodies.set('/tagged.tgz', { body: await filesArchive({ 'ok.txt': 'ok' }), etag: '"good"' });
    clock.now += 1000;
    expect(await repository.poll('tagged')).toMatchObject({ created: { origin: { ref: '"good"' } }, refused: null });
  });

  test('a body over the archive limit is refused as it downloads', async () => {
    bodies.set('/big.bin', { body: Buffer.alloc(limits.maxArchiveBytes + 1), etag: '"big"' });
    const { repository, ready } = repositoryOf([{ name: 'big', kind: 'http', url: `${origin.url()}/big.bin` }], { now: Date.now() });
    await ready;
    expect((await repository.poll('big')).refused).toMatchObject({ reason: 'archive-too-large', ref: '"big"' });
    expect(await blobs.list()).toEqual([]);
  });

  test('a local folder with too many files is refused, and nothing is left behind', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'data-refusals-src-'));
    try {
      for (const name of ['a', 'b', 'c', 'd', 'e']) await writeFile(join(folder, name), name);
      const { repository, ready } = repositoryOf([{ name: 'crowd', kind: 'local', path: folder }], { now: Date.now() });
      await ready;
      expect((await repository.poll('crowd')).refused).toMatchObject({
        reason: 'too-many-entries',
        ref: expect.stringMatching(/^sha256:/),
      });
      expect(await blobs.list()).toEqual([]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('blobs verified when served', () => {
  async function servedRepository() {
    const folder = await mkdtemp(join(tmpdir(), 'data-verify-src-'));
    await writeFile(join(folder, 'data.txt'), 'y'.repeat(200_000));
    const registry = new Registry();
    const manifests = new ManifestStore(root);
    await manifests.prepare();
    const repository = new DataRepository({
      root,
      sources: [{ name: 'demo', kind: 'local', path: folder }],
      blobs,
      manifests,
      keepVersions: 3,
      logger,
      metrics: createRepositoryMetrics(registry),
    });
    const version = (await repository.poll('demo')).created!;
    const app = createDataRepositoryApp({ repository, registry, logger });
    return {
      folder,
      repository,
      version,
      registry,
      app,
      path: `/v1/sources/demo/versions/${version.id}/archive`,
      file: join(root, 'blobs', 'sha256', version.sha256),
    };
  }

  /** Flips one byte of the stored file in place. */
  async function tamper(file: string): Promise<void> {
    const { open } = await import('node:fs/promises');
    const handle = await open(file, 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 100);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, 100);
    } finally {
      await handle.close();
    }
  }

  test('an altered blob answers 503 (whole or a range), is quarantined and counted; the next poll stores it again', async () => {
    const { folder, repository, version, registry, app, path, file } = await servedRepository();
    try {
      await request(app).get(path).expect(200);
      await tamper(file);
      const res = await request(app).get(path).expect(503);
      expect(res.body.error).toMatch(/failed its SHA-256 check and was quarantined/);
      expect(res.headers['etag']).toBeUndefined();
      expect(await blobs.list()).toEqual([]);
      expect(await blobs.quarantined(version.sha256)).toBe(true);
      await request(app).get(path).set('Range', 'bytes=0-9').expect(503);
      expect(await registry.getSingleMetricAsString('autocrane_data_repository_blob_integrity_failures_total')).toContain(
        '{source="demo"} 1',
      );

      // The source still has that content: the poll fetches it again although its ref did not change.
      expect((await repository.poll('demo')).created).toBeNull();
      expect(await blobs.quarantined(version.sha256)).toBe(false);
      const again = await request(app)
        .get(path)
        .buffer(true)
        .parse((r, cb) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => cb(null, Buffer.concat(chunks)));
        });
      expect(again.status).toBe(200);
      expect(sha256Hex(again.body as Buffer)).toBe(version.sha256);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('a range is served only from a blob verified whole', async () => {
    const { folder, app, path, file } = await servedRepository();
    try {
      await tamper(file);
      await request(app).get(path).set('Range', 'bytes=0-9').expect(503);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('damage the file identity does not show is caught while streaming: the last chunk is held back and the body cut short', async () => {
    const { folder, version, file } = await servedRepository();
    try {
      await tamper(file);
      const mismatches: string[] = [];
      const reader = new VerifiedBlobReader(blobs, (sha256) => mismatches.push(sha256));
      const { identity, size } = (await blobs.stat(version.sha256))!;
      reader.trust(version.sha256, identity); // as if verified before the damage, with the same identity
      const body = await reader.open(version.sha256, identity);
      const received: Buffer[] = [];
      body.on('data', (c: Buffer) => received.push(c));
      await expect(new Promise((resolve, reject) => body.on('end', resolve).on('error', reject))).rejects.toBeInstanceOf(
        BlobIntegrityError,
      );
      expect(Buffer.concat(received).length).toBeLessThan(size);
      expect(mismatches).toEqual([version.sha256]);
      expect(await blobs.quarantined(version.sha256)).toBe(true);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

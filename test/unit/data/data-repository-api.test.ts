import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { createDataRepositoryApp } from '../../../api/data/data-repository';
import type { StoredVersion } from '../../../domain/data/data-repository';
import { FileBlobStore } from '../../../datarepository/blob-store';
import { ManifestStore } from '../../../datarepository/manifests';
import { DataRepository } from '../../../datarepository/repository';
import { createMetricsRegistry } from '../../../platform/metrics';

const binary = (res: request.Response, callback: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
};

let root: string;
let folder: string;
let app: Express;
let version: StoredVersion;
let archive: Buffer;
const registry = () => app.get('registry') as ReturnType<typeof createMetricsRegistry>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'data-repository-api-'));
  folder = await mkdtemp(join(tmpdir(), 'data-source-'));
  await writeFile(join(folder, 'data.txt'), 'x'.repeat(5000));
  const blobs = new FileBlobStore(root);
  const manifests = new ManifestStore(root);
  await blobs.prepare();
  await manifests.prepare();
  const logger = pino({ level: 'silent' });
  const repository = new DataRepository({
    root,
    sources: [
      { name: 'demo', kind: 'local', path: folder },
      { name: 'empty', kind: 'local', path: folder },
    ],
    blobs,
    manifests,
    keepVersions: 3,
    logger,
  });
  version = (await repository.poll('demo')).created!;
  const metrics = createMetricsRegistry();
  app = createDataRepositoryApp({ repository, registry: metrics, logger });
  app.set('registry', metrics);
  archive = (await request(app).get(`/v1/sources/demo/versions/${version.id}/archive`).buffer(true).parse(binary)).body as Buffer;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(folder, { recursive: true, force: true });
});

const archivePath = () => `/v1/sources/demo/versions/${version.id}/archive`;

test('GET /v1/sources lists each source with its newest version', async () => {
  const res = await request(app).get('/v1/sources').expect(200);
  expect(res.body).toEqual({
    sources: [
      {
        name: 'demo',
        kind: 'local',
        versions: 1,
        latest: { id: version.id, sha256: version.sha256, size: version.size, createdAt: version.createdAt, origin: version.origin },
        refused: null,
      },
      { name: 'empty', kind: 'local', versions: 0, latest: null, refused: null },
    ],
  });
});

test('GET /v1/sources/{name}/versions is the manifest, without internal fields', async () => {
  const res = await request(app).get('/v1/sources/demo/versions').expect(200);
  expect(res.body).toEqual({
    source: 'demo',
    versions: [{ id: version.id, sha256: version.sha256, size: version.size, createdAt: version.createdAt, origin: version.origin }],
  });
});

test('the archive: whole, with a strong ETag, its length and its SHA-256', async () => {
  const res = await request(app).get(archivePath()).buffer(true).parse(binary).expect(200);
  expect(res.headers.etag).toBe(`"${version.sha256}"`);
  expect(res.headers['content-type']).toBe('application/gzip');
  expect(res.headers['accept-ranges']).toBe('bytes');
  expect(Number(res.headers['content-length'])).toBe(version.size);
  expect(
    createHash('sha256')
      .update(res.body as Buffer)
      .digest('hex'),
  ).toBe(version.sha256);
});

test('If-None-Match with the ETag answers 304 with no body', async () => {
  const res = await request(app).get(archivePath()).set('If-None-Match', `"${version.sha256}"`).expect(304);
  expect(res.text ?? '').toBe('');
  await request(app).get(archivePath()).set('If-None-Match', '"something-else"').expect(200);
});

test('one range answers 206 with exactly those bytes; a suffix range too', async () => {
  const res = await request(app).get(archivePath()).set('Range', 'bytes=10-19').buffer(true).parse(binary).expect(206);
  expect(res.headers['content-range']).toBe(`bytes 10-19/${version.size}`);
  expect(res.headers['content-length']).toBe('10');
  expect(res.body).toEqual(archive.subarray(10, 20));
  const tail = await request(app).get(archivePath()).set('Range', 'bytes=-5').buffer(true).parse(binary).expect(206);
  expect(tail.body).toEqual(archive.subarray(archive.length - 5));
});

test('a range past the end answers 416 with the size; several ranges or a stale If-Range get the whole archive', async () => {
  const res = await request(app).get(archivePath()).set('Range', `bytes=${version.size}-`).expect(416);
  expect(res.headers['content-range']).toBe(`bytes */${version.size}`);
  expect(res.body.error).toMatch(/outside the archive/);
  await request(app).get(archivePath()).set('Range', 'bytes=0-1,4-5').expect(200);
  await request(app).get(archivePath()).set('Range', 'bytes=0-1').set('If-Range', '"old"').expect(200);
});

test('HEAD answers the headers only', async () => {
  const res = await request(app).head(archivePath()).expect(200);
  expect(Number(res.headers['content-length'])).toBe(version.size);
});

test.each([
  ['/v1/sources/..%2F..%2Fetc/versions', 400, /invalid name/],
  ['/v1/sources/Demo/versions', 400, /invalid name/],
  ['/v1/sources/nope/versions', 404, /no data source named 'nope'/],
  ['/v1/sources/demo/versions/..%2F..%2Fblobs/archive', 400, /invalid id/],
  ['/v1/sources/demo/versions/..%2Fmanifests%2Fdemo.json/archive', 400, /invalid id/],
  ['/v1/sources/demo/versions/20250101T000000Z-aaaaaaaaaaaa/archive', 404, /has no version/],
  ['/v1/sources/demo/versions/../../../etc/passwd', 404, /no route/],
  ['/v1/sources/%2e%2e/versions', 400, /invalid name/],
])('%s answers %d', async (path, status, message) => {
  const res = await request(app).get(path).expect(status);
  expect(res.body.error).toMatch(message);
});

test('/healthz, and /metrics counts the archive bytes served per source', async () => {
  await request(app).get('/healthz').expect(200, { status: 'ok' });
  const before = await registry().getSingleMetric('autocrane_data_repository_bytes_served_total')!.get();
  const served = before.values.find((v) => v.labels.source === 'demo')?.value ?? 0;
  await request(app).get(archivePath()).set('Range', 'bytes=0-99').expect(206);
  const res = await request(app).get('/metrics').expect(200);
  expect(res.text).toContain(`autocrane_data_repository_bytes_served_total{source="demo"} ${served + 100}`);
});

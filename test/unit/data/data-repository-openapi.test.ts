import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { listRoutes } from '../../../api/allowed-methods';
import { createDataRepositoryApp } from '../../../api/data/data-repository';
import type { StoredVersion } from '../../../domain/data/data-repository';
import { FileBlobStore } from '../../../datarepository/blob-store';
import { ManifestStore } from '../../../datarepository/manifests';
import { DataRepository } from '../../../datarepository/repository';
import { createMetricsRegistry } from '../../../platform/metrics';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
  parameters?: { name: string; in: string; schema: Record<string, unknown> }[];
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: object;
}

let root: string;
let app: Express;
let doc: Document;
let demo: StoredVersion;
let altered: StoredVersion;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'data-repository-openapi-'));
  const folder = async (name: string, files: Record<string, string>) => {
    const path = join(root, 'sources', name);
    await mkdir(path, { recursive: true });
    for (const [file, content] of Object.entries(files)) await writeFile(join(path, file), content);
    return path;
  };
  const blobs = new FileBlobStore(root);
  const manifests = new ManifestStore(root);
  await blobs.prepare();
  await manifests.prepare();
  const logger = pino({ level: 'silent' });
  const sources = [
    { name: 'demo', kind: 'local' as const, path: await folder('demo', { 'data.txt': 'x'.repeat(5000) }) },
    { name: 'altered', kind: 'local' as const, path: await folder('altered', { 'noise.bin': randomBytes(2000).toString('hex') }) },
    // More entries than the limit: refused, and the refusal shows in GET /v1/sources.
    { name: 'crowded', kind: 'local' as const, path: await folder('crowded', { a: '1', b: '2', c: '3', d: '4', e: '5', f: '6' }) },
    { name: 'empty', kind: 'local' as const, path: await folder('empty', { 'x.txt': 'x' }) },
  ];
  const limits = { maxArchiveBytes: 2 ** 20, maxEntries: 4, maxExtractedBytes: 2 ** 20 };
  const repository = new DataRepository({ root, sources, blobs, manifests, keepVersions: 3, limits, logger });
  demo = (await repository.poll('demo')).created!;
  altered = (await repository.poll('altered')).created!;
  expect((await repository.poll('crowded')).refused?.reason).toBe('too-many-entries');
  // One byte of the stored archive flipped: served as 503.
  const handle = await open(join(root, 'blobs', 'sha256', altered.sha256), 'r+');
  await handle.write(Buffer.from([0]), 0, 1, 100);
  await handle.close();
  app = createDataRepositoryApp({ repository, registry: createMetricsRegistry(), logger });
  doc = (await request(app).get('/openapi.json').expect(200)).body as Document;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const asExpress = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

test('the document names exactly the routes the data repository serves', () => {
  const documented = Object.entries(doc.paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${asExpress(path)}`))
    .sort();
  expect(documented).toEqual(listRoutes(app));
  expect(documented).toEqual(
    expect.arrayContaining(['GET /v1/sources', 'GET /v1/sources/:name/versions/:id/archive', 'GET /openapi.json']),
  );
});

test('the path parameters carry the rules the server enforces', () => {
  const parameters = doc.paths['/v1/sources/{name}/versions/{id}/archive']?.get?.parameters ?? [];
  const schemaOf = (name: string) => parameters.find((p) => p.name === name && p.in === 'path')?.schema;
  expect(schemaOf('name')).toMatchObject({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', minLength: 1, maxLength: 63 });
  expect(schemaOf('id')).toMatchObject({ pattern: '^\\d{8}T\\d{6}Z-[0-9a-f]{12}$', minLength: 29, maxLength: 29 });
});

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

/** Checks one answer against the document: its status is documented for the route, and so are its Content-Type and body. */
function expectConforms(res: request.Response, route: string): void {
  const operation = doc.paths[route]?.get;
  if (!operation) throw new Error(`GET ${route} is not documented`);
  const documented = operation.responses[String(res.status)];
  if (!documented)
    throw new Error(
      `GET ${route} answered ${res.status}, which is not documented (${Object.keys(operation.responses).join(', ')}): ${res.text}`,
    );
  if (!documented.content) {
    expect(res.text ?? '').toBe('');
    return;
  }
  const type = String(res.headers['content-type']).split(';')[0] ?? '';
  const media = documented.content[type];
  if (!media) throw new Error(`GET ${route} ${res.status} answered ${type}; documented: ${Object.keys(documented.content).join(', ')}`);
  if (type !== 'application/json') return;
  // The document's component references resolve against the root compiled here.
  const validate = ajv.compile({ ...media.schema, components: doc.components });
  if (!validate(res.body)) throw new Error(`GET ${route} ${res.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body)}`);
}

const archiveRoute = '/v1/sources/{name}/versions/{id}/archive';
const archiveOf = (v: StoredVersion, source = 'demo') => `/v1/sources/${source}/versions/${v.id}/archive`;

test.each<[string, string, () => string, Record<string, string>, number]>([
  ['the sources, one refused', '/v1/sources', () => '/v1/sources', {}, 200],
  ['a manifest', '/v1/sources/{name}/versions', () => '/v1/sources/demo/versions', {}, 200],
  ['an empty manifest', '/v1/sources/{name}/versions', () => '/v1/sources/empty/versions', {}, 200],
  ['an unknown source', '/v1/sources/{name}/versions', () => '/v1/sources/nothing/versions', {}, 404],
  ['a malformed source name', '/v1/sources/{name}/versions', () => '/v1/sources/Not_A_Name/versions', {}, 400],
  ['the archive', archiveRoute, () => archiveOf(demo), {}, 200],
  ['a range', archiveRoute, () => archiveOf(demo), { Range: 'bytes=0-99' }, 206],
  ['If-None-Match', archiveRoute, () => archiveOf(demo), { 'If-None-Match': 'DEMO_ETAG' }, 304],
  ['a range past the end', archiveRoute, () => archiveOf(demo), { Range: 'bytes=DEMO_SIZE-' }, 416],
  ['an unknown version', archiveRoute, () => `/v1/sources/demo/versions/20000101T000000Z-000000000000/archive`, {}, 404],
  ['a malformed version ID', archiveRoute, () => '/v1/sources/demo/versions/..%2Fmanifests/archive', {}, 400],
  ['an altered archive', archiveRoute, () => archiveOf(altered, 'altered'), {}, 503],
  ['liveness', '/healthz', () => '/healthz', {}, 200],
  ['metrics', '/metrics', () => '/metrics', {}, 200],
  ['the document', '/openapi.json', () => '/openapi.json', {}, 200],
])('%s: answers %s as documented', async (_case, route, path, headers, status) => {
  // The version is known only once beforeAll ran.
  const filled = Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, v.replace('DEMO_ETAG', `"${demo.sha256}"`).replace('DEMO_SIZE', String(demo.size))]),
  );
  const res = await request(app).get(path()).set(filled);
  expect(res.status).toBe(status);
  expectConforms(res, route);
});

test('the refusal in GET /v1/sources is described field by field', async () => {
  const { sources } = (await request(app).get('/v1/sources').expect(200)).body as { sources: { name: string; refused: unknown }[] };
  expect(sources.find((s) => s.name === 'crowded')?.refused).toMatchObject({
    reason: 'too-many-entries',
    count: 1,
    ref: expect.any(String),
  });
  const schemas = (doc.components as { schemas: Record<string, { required?: string[] }> }).schemas;
  expect(schemas.Refusal?.required?.sort()).toEqual(['at', 'count', 'message', 'reason', 'ref', 'retryAt']);
});

test('an answer that breaks the document is caught', () => {
  // The check itself can fail: a source listed without its refusal field does not conform.
  const res = {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: { sources: [{ name: 'demo', kind: 'local', versions: 0, latest: null }] },
    text: '',
  } as unknown as request.Response;
  expect(() => expectConforms(res, '/v1/sources')).toThrow(/refused/);
});

import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { CommanderError } from 'commander';
import {
  dataRequestKey,
  dataStatusKey,
  formatDataRequest,
  parseDataStatus,
  versionId,
  type DataStatus,
} from '../../../domain/data/data-contract';
import { dataStatusOf, formatMissing, initReadiness, retryDelayMs } from '../../../domain/data/data-deployer';
import { DATA_SOURCES_ANNOTATION } from '../../../domain/shared/keys';
import { parseByteCount } from '../../../cli/data-deployer';
import { createProgram } from '../../../cli/main';
import { DataDeployer } from '../../../datadeployer/deployer';
import { downloadVerified } from '../../../datadeployer/download';
import { DropFolder } from '../../../datadeployer/drop-folder';
import { filesArchive, serveArchives, sha256Hex, type ArchiveServer } from '../../support/archives';

const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));
const SHA_A = 'a'.repeat(64);

/** An archive served at /<name>, and the request naming it. */
async function version(
  server: ArchiveServer,
  name: string,
  files: Record<string, string>,
  at = new Date('2025-01-01T00:00:00Z'),
  options?: { bytesPerSecond?: number },
) {
  const body = await filesArchive(files);
  const sha256 = sha256Hex(body);
  const url = server.put(`/${name}`, body, options);
  return { version: versionId(at, sha256), sha256, url, body };
}

describe('data deployer: pure decisions', () => {
  it('status: what is active, plus the failure of the last request with its kind', () => {
    const active = { version: '20250101T000000Z-aaaaaaaaaaaa', sha256: SHA_A, activatedAt: '2025-01-01T00:00:00.000Z' };
    expect(dataStatusOf({ active })).toEqual(active);
    expect(dataStatusOf({ active, failure: { version: 'v2', kind: 'hash-mismatch', message: 'x', at: 't' } })).toEqual({
      ...active,
      error: { version: 'v2', message: 'hash mismatch: x', at: 't' },
    });
    expect(dataStatusOf({ failure: { version: 'v2', kind: 'download', message: 'HTTP 404', at: 't' } })).toEqual({
      error: { version: 'v2', message: 'download failed: HTTP 404', at: 't' },
    });
  });

  it('init readiness names each missing source and why', () => {
    const request = { ok: true as const, value: { version: '20250101T000000Z-aaaaaaaaaaaa', sha256: SHA_A, url: 'http://x/a' } };
    const active = { version: request.value.version, sha256: SHA_A, activatedAt: 't' };
    const states = new Map([
      ['ready', { request, active }],
      ['bad-hash', { request, failure: { version: request.value.version, kind: 'hash-mismatch' as const, message: 'got b…', at: 't' } }],
      [
        'down',
        {
          request,
          failure: { version: request.value.version, kind: 'download' as const, message: 'GET http://x/a answered HTTP 503', at: 't' },
        },
      ],
      ['garbled', { request: { ok: false as const, problem: 'sha256: expected 64 lower-case hex digits' } }],
      ['busy', { request }],
    ]);
    const verdict = initReadiness(['ready', 'nothing', 'bad-hash', 'down', 'garbled', 'busy'], states);
    expect(verdict.done).toBe(false);
    expect(!verdict.done && formatMissing(verdict.missing)).toBe(
      'nothing: no request yet; bad-hash: hash mismatch: got b…; down: download failed: GET http://x/a answered HTTP 503; ' +
        'garbled: invalid request: sha256: expected 64 lower-case hex digits; busy: version 20250101T000000Z-aaaaaaaaaaaa not active yet (activating)',
    );
    expect(initReadiness(['ready'], states)).toEqual({ done: true });
    expect(initReadiness([], states)).toEqual({ done: true });
  });

  it('retries transient failures with a capped backoff, never a refused archive', () => {
    expect([1, 2, 3, 10, 20].map((a) => retryDelayMs('download', a))).toEqual([2000, 4000, 8000, 300_000, 300_000]);
    expect(retryDelayMs('hash-mismatch', 1)).toBe(2000);
    expect(retryDelayMs('archive', 1)).toBeNull();
    expect(retryDelayMs('request', 1)).toBeNull();
  });
});

describe('data deployer: download, drop folder, engine', () => {
  let server: ArchiveServer;
  let dir: string;
  beforeAll(async () => (server = await serveArchives()));
  afterAll(() => server.close());
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'data-deployer-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const downloadOptions = { idleTimeoutMs: 5000, maxBytes: 1_000_000 };

  describe('downloadVerified', () => {
    it('keeps a file whose SHA-256 matches', async () => {
      const v = await version(server, 'ok', { 'a.txt': 'A' });
      await expect(downloadVerified(v.url, join(dir, 'f'), v.sha256, downloadOptions)).resolves.toEqual({ bytes: v.body.length });
      expect(await readFile(join(dir, 'f'))).toEqual(v.body);
    });

    it('refuses a hash mismatch, naming both hashes, and removes the file', async () => {
      const v = await version(server, 'mismatch', { 'a.txt': 'A' });
      const error = await downloadVerified(v.url, join(dir, 'f'), SHA_A, downloadOptions).catch((e: unknown) => e);
      expect(error).toMatchObject({
        kind: 'hash-mismatch',
        message: expect.stringContaining(`has SHA-256 ${v.sha256}, the request names ${SHA_A}`),
      });
      expect(await readdir(dir)).toEqual([]);
    });

    it('refuses a truncated body, an HTTP error and a body over the size limit', async () => {
      const v = await version(server, 'whole', { 'a.txt': 'x'.repeat(10_000) });
      const truncated = server.put('/truncated', v.body, { truncateAt: 100 });
      await expect(downloadVerified(truncated, join(dir, 'f'), v.sha256, downloadOptions)).rejects.toMatchObject({ kind: 'download' });
      await expect(downloadVerified(`${server.url}/missing`, join(dir, 'f'), v.sha256, downloadOptions)).rejects.toMatchObject({
        kind: 'download',
        message: expect.stringMatching(/answered HTTP 404/),
      });
      await expect(downloadVerified(v.url, join(dir, 'f'), v.sha256, { ...downloadOptions, maxBytes: 10 })).rejects.toMatchObject({
        message: expect.stringMatching(/exceed the limit of 10/),
      });
      expect(await readdir(dir)).toEqual([]);
    });

    it('follows redirects (relative or not, up to 5), refuses a loop and URLs other than http(s)', async () => {
      const v = await version(server, 'target', { 'a.txt': 'A' });
      const redirector = createServer((req, res) => {
        const hop = Number(/^\/hop\/(\d+)$/.exec(req.url ?? '')?.[1]);
        res.statusCode = hop % 2 === 0 ? 302 : 307;
        res.setHeader('location', req.url === '/loop' ? '/loop' : hop > 1 ? `/hop/${hop - 1}` : v.url);
        res.end();
      });
      await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
      try {
        await expect(downloadVerified(`${base}/hop/5`, join(dir, 'f'), v.sha256, downloadOptions)).resolves.toEqual({
          bytes: v.body.length,
        });
        await expect(downloadVerified(`${base}/loop`, join(dir, 'g'), v.sha256, downloadOptions)).rejects.toMatchObject({
          kind: 'download',
          message: `GET ${base}/loop: more than 5 redirects`,
        });
      } finally {
        redirector.closeAllConnections();
        await new Promise((r) => redirector.close(r));
      }
      await expect(downloadVerified('ftp://example.invalid/a', join(dir, 'h'), v.sha256, downloadOptions)).rejects.toMatchObject({
        kind: 'download',
        message: expect.stringMatching(/ftp: URLs are not supported/),
      });
      expect(await readdir(dir)).toEqual(['f']);
    });

    it('gives up on a server that stops sending, saying after how many bytes', async () => {
      const v = await version(server, 'stall', { 'a.txt': randomBytes(50_000).toString('hex') }); // incompressible: over 1000 bytes
      const staller = createServer((_req, res) => {
        res.setHeader('content-length', v.body.length);
        res.write(v.body.subarray(0, 1000)); // then nothing
      });
      await new Promise<void>((r) => staller.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(staller.address() as AddressInfo).port}/a`;
      try {
        await expect(downloadVerified(url, join(dir, 'f'), v.sha256, { ...downloadOptions, idleTimeoutMs: 300 })).rejects.toMatchObject({
          kind: 'download',
          message: `GET ${url} after 1000 bytes: no data for 300 ms`,
        });
      } finally {
        staller.closeAllConnections();
        await new Promise((r) => staller.close(r));
      }
      expect(await readdir(dir)).toEqual([]);
    });
  });

  describe('DropFolder', () => {
    const V1 = '20250101T000000Z-111111111111';
    const V2 = '20250102T000000Z-222222222222';
    const V3 = '20250103T000000Z-333333333333';
    const install = (drop: DropFolder, v: string) => drop.install('cfg', v, SHA_A, (d) => writeFile(join(d, 'version'), v));

    it('switches the link by rename to a relative target, keeps what it is told, and reads the truth back after a restart', async () => {
      const drop = new DropFolder(dir);
      await drop.prepare();
      for (const v of [V1, V2, V3]) await install(drop, v);
      expect(await drop.switchTo('cfg', V1)).toBeUndefined();
      expect(await drop.switchTo('cfg', V2)).toBe(V1);
      expect(await readlink(join(dir, 'cfg'))).toBe(`.autocrane/versions/cfg/${V2}`);
      expect(await readFile(join(dir, 'cfg', 'version'), 'utf8')).toBe(V2);
      expect(await drop.prune('cfg', [V2, V1])).toEqual([V3]);
      expect((await readdir(drop.versionsDir('cfg'))).sort()).toEqual([V1, `${V1}.json`, V2, `${V2}.json`]);

      // A new process (after a crash): the link is the truth, tmp/ leftovers are cleared.
      await writeFile(join(drop.tmp, 'download-cfg-partial'), 'half an archive');
      const again = new DropFolder(dir);
      await again.prepare();
      expect(await readdir(again.tmp)).toEqual([]);
      const active = await again.readActive('cfg');
      expect(active).toMatchObject({ version: V2, sha256: SHA_A });
      expect(active!.activatedAt).toBe((await lstat(join(dir, 'cfg'))).mtime.toISOString());
      expect(await again.hasVersion('cfg', V1, SHA_A)).toBe(true);
      expect(await again.hasVersion('cfg', V1, 'b'.repeat(64))).toBe(false);
    });

    it('a failed extraction leaves no version folder and the active link as it was', async () => {
      const drop = new DropFolder(dir);
      await drop.prepare();
      await install(drop, V1);
      await drop.switchTo('cfg', V1);
      await expect(drop.install('cfg', V2, SHA_A, () => Promise.reject(new Error('disk full')))).rejects.toMatchObject({
        kind: 'filesystem',
        message: expect.stringMatching(/disk full/),
      });
      expect(await drop.hasVersion('cfg', V2, SHA_A)).toBe(false);
      expect(await readdir(drop.tmp)).toEqual([]);
      expect((await drop.readActive('cfg'))?.version).toBe(V1);
    });

    it('refuses to replace a folder that is not its link, saying so', async () => {
      const drop = new DropFolder(dir);
      await drop.prepare();
      await mkdir(join(dir, 'cfg'));
      await writeFile(join(dir, 'cfg', 'x'), 'someone else’s');
      await expect(drop.readActive('cfg')).rejects.toThrow(/is not a symlink; the data deployer manages that name/);
      await install(drop, V1);
      await expect(drop.switchTo('cfg', V1)).rejects.toThrow(/it is a folder, not a link the data deployer made/);
    });
  });

  describe('DataDeployer', () => {
    /** A deployer whose status writes are recorded (and fed back, as the pod watch would). */
    function start(consumes = 'cfg') {
      const published: Record<string, DataStatus>[] = [];
      const annotations: Record<string, string> = { [DATA_SOURCES_ANNOTATION]: consumes };
      const drop = new DropFolder(dir);
      const deployer = new DataDeployer({
        drop,
        limits: { maxEntries: 100, maxBytes: 1_000_000 },
        download: downloadOptions,
        publishStatus: async (source, value) => {
          const parsed = parseDataStatus(value);
          if (!parsed.ok) throw new Error(parsed.problem);
          published.push({ [source]: parsed.value });
          annotations[dataStatusKey(source)] = value;
          queueMicrotask(() => deployer.observe({ ...annotations }));
        },
        logger: silent,
        retryDelayMs: () => null,
      });
      const request = (source: string, r: { version: string; sha256: string; url: string }) => {
        annotations[dataRequestKey(source)] = formatDataRequest(r);
        deployer.observe({ ...annotations });
      };
      /** Resolves once every consumed source is settled (active at its request, or failed for it). */
      const settled = () =>
        new Promise<void>((resolve) => {
          const check = () => {
            const progress = deployer.progress();
            const failedOrDone = progress.every((p) => p.reason === null || !/activating|writing/.test(p.reason));
            if (failedOrDone && progress.every((p) => p.reason === null || deployer.state(p.source)?.failure)) {
              off();
              resolve();
            }
          };
          const off = deployer.onChange(check);
          check();
        });
      return { deployer, drop, published, request, settled, observe: () => deployer.observe({ ...annotations }), annotations };
    }

    it('activates a request, reports it, swaps to a second version keeping the first, and reverts without a download', async () => {
      await mkdir(dir, { recursive: true });
      const { deployer, drop, published, request, settled, observe } = start();
      observe();
      const v1 = await version(server, 'e1', { 'a.txt': 'one' }, new Date('2025-01-01T00:00:00Z'));
      const v2 = await version(server, 'e2', { 'a.txt': 'two' }, new Date('2025-01-02T00:00:00Z'));
      await drop.prepare();

      request('cfg', v1);
      await settled();
      expect(await readFile(join(dir, 'cfg', 'a.txt'), 'utf8')).toBe('one');
      expect(published.at(-1)).toEqual({ cfg: { version: v1.version, sha256: v1.sha256, activatedAt: expect.any(String) } });

      request('cfg', v2);
      await settled();
      expect(await readFile(join(dir, 'cfg', 'a.txt'), 'utf8')).toBe('two');
      expect(published.at(-1)?.cfg).toMatchObject({ version: v2.version });
      expect((await readdir(drop.versionsDir('cfg'))).filter((n) => !n.endsWith('.json')).sort()).toEqual([v1.version, v2.version]);

      const hits = server.hits.get('/e1');
      request('cfg', v1);
      await settled();
      expect(await readFile(join(dir, 'cfg', 'a.txt'), 'utf8')).toBe('one');
      expect(server.hits.get('/e1')).toBe(hits); // the revert did not download
      await deployer.stop();
    });

    it('a hash mismatch is never activated: the previous version stays active and the status says why', async () => {
      const { deployer, drop, published, request, settled, observe } = start();
      await drop.prepare();
      observe();
      const v1 = await version(server, 'm1', { 'a.txt': 'good' });
      const bad = await version(server, 'm2', { 'a.txt': 'evil' }, new Date('2025-01-02T00:00:00Z'));
      request('cfg', v1);
      await settled();
      request('cfg', { ...bad, sha256: SHA_A, version: versionId(new Date('2025-01-02T00:00:00Z'), SHA_A) });
      await settled();
      expect(await readFile(join(dir, 'cfg', 'a.txt'), 'utf8')).toBe('good');
      expect(published.at(-1)?.cfg).toEqual({
        version: v1.version,
        sha256: v1.sha256,
        activatedAt: expect.any(String),
        error: {
          version: versionId(new Date('2025-01-02T00:00:00Z'), SHA_A),
          message: expect.stringMatching(/^hash mismatch: .*the request names a{64}/),
          at: expect.any(String),
        },
      });
      expect(deployer.progress()).toEqual([{ source: 'cfg', reason: expect.stringMatching(/^hash mismatch: /) }]);
      await deployer.stop();
    });

    it('a newer request supersedes a slow download; nothing of the superseded one remains', async () => {
      const { deployer, drop, request, settled, observe } = start();
      await drop.prepare();
      observe();
      const slow = await version(server, 's1', { 'big.bin': randomBytes(150_000).toString('base64') }, new Date('2025-01-01T00:00:00Z'), {
        bytesPerSecond: 64 * 1024,
      });
      const fast = await version(server, 's2', { 'a.txt': 'fast' }, new Date('2025-01-02T00:00:00Z'));
      request('cfg', slow);
      await new Promise((r) => setTimeout(r, 300));
      request('cfg', fast);
      await settled();
      expect(await readFile(join(dir, 'cfg', 'a.txt'), 'utf8')).toBe('fast');
      expect(await readdir(drop.tmp)).toEqual([]);
      expect(await drop.hasVersion('cfg', slow.version, slow.sha256)).toBe(false);
      await deployer.stop();
    });

    it('reports what is on disk at start, and init progress names sources without a request', async () => {
      const first = start('cfg');
      await first.drop.prepare();
      first.observe();
      const v1 = await version(server, 'r1', { 'a.txt': 'one' });
      first.request('cfg', v1);
      await first.settled();
      await first.deployer.stop();

      const second = start('cfg,other');
      await second.drop.prepare();
      second.observe();
      await new Promise((r) => setTimeout(r, 100));
      expect(second.published[0]).toEqual({
        cfg: { version: v1.version, sha256: v1.sha256, activatedAt: (await lstat(join(dir, 'cfg'))).mtime.toISOString() },
      });
      expect(second.deployer.progress()).toEqual([
        { source: 'cfg', reason: 'no request yet' },
        { source: 'other', reason: 'no request yet' },
      ]);
      second.request('cfg', v1);
      expect(second.deployer.progress()[0]).toEqual({ source: 'cfg', reason: null });
      await second.deployer.stop();
    });
  });
});

describe('autocrane data-deployer: arguments', () => {
  const errors: string[] = [];
  const run = (...args: string[]) =>
    createProgram({ writeErr: (s) => errors.push(s), writeOut: () => undefined }).parseAsync([
      'node',
      'autocrane',
      'data-deployer',
      ...args,
    ]);
  beforeEach(() => (errors.length = 0));

  it.each([
    [['--mode', 'daemon'], /Expected one of sidecar, init/],
    [['--timeout', '0'], /whole number from 1/],
    [['--max-extracted-bytes', '10 parsecs'], /byte count/],
  ])('%j is a usage error', async (args, message) => {
    await expect(run(...args)).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join('')).toMatch(message);
  });

  it('reads byte counts with units', () => {
    expect(parseByteCount('10Gi')).toBe(10 * 2 ** 30);
    expect(parseByteCount('500M')).toBe(500e6);
    expect(parseByteCount('1024')).toBe(1024);
  });
});

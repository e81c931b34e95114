import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DataPollSummary } from '../../activities/data/data-repository';
import type { Refusal } from '../../domain/data/data-archive-rules';
import type { DataVersion } from '../../domain/data/data-contract';
import { dataPollScheduleId, dataRepositoryTaskQueue } from '../../contracts/schedule-ids';
import { filesArchive, makeArchive, serveBodies, sha256Hex, type BodyServer } from '../support/archives';
import { exited, startDataRepository, tail, tierRepositoryEnv, type DataRepositoryProcess } from '../support/data-repository-process';
import { killAndWait } from '../support/processes';
import { tierStack } from '../support/stacks';
import { temporalClients, uniqueTaskQueue, type TemporalClients } from '../support/temporal';
import { DATA_POLL_WORKFLOW_TYPE } from '../../contracts/workflow-types';

/**
 * The real data repository process against hostile sources of every kind: each refused
 * archive is refused for its source alone (status, metric by reason, the poll's result), never
 * stored, not fetched again within its back-off, and the process and its other sources go on,
 * also after a restart. A stored archive altered on disk is never served.
 */
describe('the data repository process against truncated, corrupt and hostile archives', () => {
  const suffix = Date.now().toString(36).slice(-6);
  const name = (base: string) => `${base}-${suffix}`;
  const taskQueue = uniqueTaskQueue('data-hostile');
  let temporal: TemporalClients;
  let origin: BodyServer;
  let work: string;
  let log: string;
  let env: Record<string, string>;
  let repository: DataRepositoryProcess | undefined;
  let polls = 0;

  /** Source → [kind of source, expected refusal reason]. */
  const hostile: Record<string, [string, Refusal['reason']]> = {
    [name('badgz')]: ['http', 'corrupt-gzip'],
    [name('badtar')]: ['http', 'corrupt-tar'],
    [name('escape')]: ['http', 'unsafe-path'],
    [name('entries')]: ['http', 'too-many-entries'],
    [name('bytes')]: ['http', 'too-many-bytes'],
    [name('zeros')]: ['http', 'too-many-bytes'],
    [name('gitlink')]: ['git', 'unsafe-path'],
    [name('crowd')]: ['local', 'too-many-entries'],
  };
  const good = name('good');
  const trunc = name('trunc');

  beforeAll(async () => {
    temporal = await temporalClients(tierStack('integration'));
    origin = await serveBodies();
    work = await mkdtemp(join(tmpdir(), 'data-hostile-'));
    log = join(work, 'repository.log');

    const local = join(work, 'good');
    await mkdir(local);
    await writeFile(join(local, 'data.txt'), 'z'.repeat(20_000));
    const crowd = join(work, 'crowd');
    await mkdir(crowd);
    for (let i = 0; i < 30; i++) await writeFile(join(crowd, `f${i}`), String(i));
    const repo = join(work, 'gitlink');
    execFileSync('git', ['init', '--quiet', repo]);
    await writeFile(join(repo, 'data.txt'), 'ok');
    await symlink('/etc/passwd', join(repo, 'passwd'));
    execFileSync('git', ['add', '-A'], { cwd: repo });
    execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'commit', '--quiet', '-m', 'link out'], { cwd: repo });

    const put = (path: string, body: Buffer, etag?: string) => origin.bodies.set(path, { body, etag });
    put('/trunc.tar.gz', await filesArchive({ 'a.txt': 'first, whole' }));
    put('/badgz.tar.gz', Buffer.from('<html>503 Service Unavailable</html>'));
    put('/badtar.tgz', gzipSync(Buffer.from('not a tar '.repeat(300))));
    put(
      '/escape.tar.gz',
      await makeArchive([
        { header: { name: 'ok.txt' }, content: 'ok' },
        { header: { name: '../../../home/evil' }, content: 'x' },
      ]),
      '"escape-1"',
    );
    put('/entries.tar.gz', await filesArchive(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, String(i)]))));
    put('/bytes.tar.gz', await filesArchive({ 'big.bin': 'b'.repeat(200_000) }));
    put('/zeros.tar.gz', gzipSync(Buffer.alloc(16 * 2 ** 20)));

    const sources = [
      { name: good, kind: 'local', path: './good' },
      { name: trunc, kind: 'http', url: `${origin.url}/trunc.tar.gz` },
      { name: name('badgz'), kind: 'http', url: `${origin.url}/badgz.tar.gz` },
      { name: name('badtar'), kind: 'http', url: `${origin.url}/badtar.tgz` },
      { name: name('escape'), kind: 'http', url: `${origin.url}/escape.tar.gz` },
      { name: name('entries'), kind: 'http', url: `${origin.url}/entries.tar.gz` },
      { name: name('bytes'), kind: 'http', url: `${origin.url}/bytes.tar.gz` },
      { name: name('zeros'), kind: 'http', url: `${origin.url}/zeros.tar.gz` },
      { name: name('gitlink'), kind: 'git', url: repo },
      { name: name('crowd'), kind: 'local', path: './crowd' },
    ];
    await writeFile(join(work, 'sources.json'), JSON.stringify(sources));
    env = {
      ...tierRepositoryEnv(work, taskQueue),
      AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES: '20',
      AUTOCRANE_DATA_MAX_EXTRACTED_BYTES: '64Ki',
      // Long enough that no poll of this test reaches its end.
      AUTOCRANE_DATA_REFUSAL_BACKOFF_SECONDS: '600',
    };
    repository = await startDataRepository(env, log);
  });

  afterAll(async () => {
    if (repository) await killAndWait(repository.child, 'SIGKILL');
    for (const source of [good, trunc, ...Object.keys(hostile)])
      await temporal.client.schedule
        .getHandle(dataPollScheduleId(source))
        .delete()
        .catch(() => undefined);
    await temporal.close();
    await origin.close();
    await rm(work, { recursive: true, force: true });
  });

  const alive = (child: ChildProcess) => {
    if (exited(child)) throw new Error(`the data repository exited (${child.exitCode ?? child.signalCode}):\n${tail(log)}`);
  };

  /** One poll of `source` by the repository's own worker, as its schedule would start it. */
  const poll = (source: string): Promise<DataPollSummary> =>
    temporal.client.workflow.execute(DATA_POLL_WORKFLOW_TYPE, {
      taskQueue: dataRepositoryTaskQueue(taskQueue),
      workflowId: `test-poll-${source}-${++polls}`,
      args: [{ source }],
    });

  const get = (path: string) => fetch(`${repository!.url}${path}`);

  async function listed(): Promise<Map<string, { latest: DataVersion | null; versions: number; refused: Refusal | null }>> {
    const body = (await (await get('/v1/sources')).json()) as {
      sources: { name: string; latest: DataVersion | null; versions: number; refused: Refusal | null }[];
    };
    return new Map(body.sources.map((s) => [s.name, s]));
  }

  async function servedSha(source: string, version: DataVersion): Promise<string> {
    const res = await get(`/v1/sources/${source}/versions/${version.id}/archive`);
    expect(res.status).toBe(200);
    return sha256Hex(Buffer.from(await res.arrayBuffer()));
  }

  test('every hostile archive is refused for its own source, recorded and never stored; the good sources are served', async () => {
    const stored = await poll(trunc);
    expect(stored).toMatchObject({ created: expect.any(String), refused: null });
    expect(await poll(good)).toMatchObject({ created: expect.any(String), refused: null });
    // Truncated after a good version was stored.
    // Incompressible (within the extracted limit), so half of the archive is half of its file.
    const whole = await filesArchive({ 'a.txt': randomBytes(30_000).toString('hex') });
    origin.bodies.set('/trunc.tar.gz', { body: whole.subarray(0, whole.length / 2) });

    const results = await Promise.all([trunc, ...Object.keys(hostile)].map(async (source) => [source, await poll(source)] as const));
    alive(repository!.child);
    const expected = {
      [trunc]: 'truncated',
      ...Object.fromEntries(Object.entries(hostile).map(([source, [, reason]]) => [source, reason])),
    };
    for (const [source, result] of results)
      expect({ source, created: result.created, reason: result.refused?.reason }).toEqual({
        source,
        created: null,
        reason: expected[source],
      });

    const status = await listed();
    for (const [source, reason] of Object.entries(expected)) {
      expect({ source, reason: status.get(source)?.refused?.reason, count: status.get(source)?.refused?.count }).toEqual({
        source,
        reason,
        count: 1,
      });
    }
    expect(status.get(name('escape'))!.refused).toMatchObject({ ref: '"escape-1"', message: expect.stringMatching(/'\.\.' segment/) });
    expect(status.get(name('gitlink'))!.refused!.message).toMatch(/absolute symlink target/);
    for (const source of Object.keys(hostile)) expect(status.get(source)).toMatchObject({ versions: 0, latest: null });

    // The good sources, the truncated one's earlier version included, are served whole.
    const trunkLatest = status.get(trunc)!.latest!;
    expect(trunkLatest.id).toBe(stored.created);
    expect(await servedSha(trunc, trunkLatest)).toBe(trunkLatest.sha256);
    const goodLatest = status.get(good)!.latest!;
    expect(await servedSha(good, goodLatest)).toBe(goodLatest.sha256);

    // Only those two archives are in the store, and nothing half-written.
    expect((await readdir(join(work, 'store', 'blobs', 'sha256'))).sort()).toEqual([trunkLatest.sha256, goodLatest.sha256].sort());
    expect(await readdir(join(work, 'store', 'blobs', 'tmp'))).toEqual([]);

    const metrics = await (await get('/metrics')).text();
    for (const [source, reason] of Object.entries(expected))
      expect(metrics).toContain(`autocrane_data_repository_archives_refused_total{source="${source}",reason="${reason}"} 1`);
  });

  test('a refused version is not fetched again within its back-off, and a restarted repository refuses it again instead of crashing', async () => {
    const hits = () => origin.requests.filter((r) => r.path === '/trunc.tar.gz').length;
    const before = hits();
    expect((await poll(trunc)).refused).toMatchObject({ reason: 'truncated', count: 1 });
    expect(hits()).toBe(before);
    // With an ETag the origin is only asked whether it still has the refused content.
    expect((await poll(name('escape'))).refused).toMatchObject({ count: 1 });
    expect(origin.requests.filter((r) => r.path === '/escape.tar.gz').at(-1)).toEqual({
      path: '/escape.tar.gz',
      ifNoneMatch: '"escape-1"',
    });
    alive(repository!.child);

    // Refusals are kept in memory: after a restart the next poll fetches once more, and refuses.
    await killAndWait(repository!.child, 'SIGTERM');
    repository = await startDataRepository(env, log);
    expect((await poll(trunc)).refused).toMatchObject({ reason: 'truncated', count: 1 });
    expect(hits()).toBe(before + 1);
    alive(repository.child);
    expect((await listed()).get(trunc)!.latest).not.toBeNull();
  });

  test('an archive altered on disk answers 503 and is quarantined; the next poll stores it again', async () => {
    const version = (await listed()).get(good)!.latest!;
    const path = `/v1/sources/${good}/versions/${version.id}/archive`;
    const file = join(work, 'store', 'blobs', 'sha256', version.sha256);
    const handle = await open(file, 'r+');
    try {
      await handle.write(Buffer.from('tampered'), 0, 8, 64);
    } finally {
      await handle.close();
    }
    const res = await get(path);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/failed its SHA-256 check and was quarantined/);
    expect((await get(path)).status).toBe(503);
    expect(await readdir(join(work, 'store', 'blobs', 'quarantine'))).toEqual([version.sha256]);
    expect(await (await get('/metrics')).text()).toContain(`autocrane_data_repository_blob_integrity_failures_total{source="${good}"} 1`);

    expect(await poll(good)).toMatchObject({ created: null, refused: null });
    expect(await servedSha(good, version)).toBe(version.sha256);
    alive(repository!.child);
  });
});

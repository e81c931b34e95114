import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { archiveUrl, createDataRepositoryActivities } from '../../activities/data/data-repository';
import { createDataRepositoryApp } from '../../api/data/data-repository';
import type { DataVersion } from '../../domain/data/data-contract';
import { FileBlobStore } from '../../datarepository/blob-store';
import { ManifestStore } from '../../datarepository/manifests';
import { DataRepository } from '../../datarepository/repository';
import { createMetricsRegistry } from '../../platform/metrics';
import { ensureDataPollSchedules } from '../../workers/data-poll-schedules';
import { dataPollScheduleId, dataRepositoryTaskQueue } from '../../contracts/schedule-ids';
import { createWorker } from '../../workers/worker-factory';
import { dataRolloutWorkflowId, type VersionAnnouncement } from '../../contracts/data-rollout-messages';
import { eventually } from '../support/kube';
import { tierStack } from '../support/stacks';
import { temporalClients, TemporalClients, uniqueTaskQueue } from '../support/temporal';
import { DATA_POLL_WORKFLOW_TYPE } from '../../contracts/workflow-types';

const logger = pino({ level: 'silent' });

function commit(repo: string, message: string): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
  git('add', '-A');
  git('-c', 'user.email=test@example.invalid', '-c', 'user.name=test', 'commit', '--quiet', '-m', message);
  return git('rev-parse', 'HEAD');
}

/**
 * The data repository's poll runs as a Temporal Schedule on its own task queue: a new git
 * commit becomes a version in the manifest, its archive is served with the right hash, and
 * each watched namespace's data-rollout workflow is told by signal-with-start.
 */
describe('data repository polling a git source through its schedule', () => {
  let temporal: TemporalClients;
  let repo: string;
  let root: string;
  let server: Server;
  let base: string;
  const source = 'catalog';
  const namespaces = [`ns-${Date.now().toString(36)}`];
  const mainTaskQueue = uniqueTaskQueue('data-main');
  const taskQueue = dataRepositoryTaskQueue(uniqueTaskQueue('data'));
  let repository: DataRepository;

  beforeAll(async () => {
    temporal = await temporalClients(tierStack('integration'));
    repo = await mkdtemp(join(tmpdir(), 'data-git-'));
    root = await mkdtemp(join(tmpdir(), 'data-store-'));
    execFileSync('git', ['init', '--quiet', repo]);
    const blobs = new FileBlobStore(root);
    const manifests = new ManifestStore(root);
    await blobs.prepare();
    await manifests.prepare();
    repository = new DataRepository({
      root,
      sources: [{ name: source, kind: 'git', url: repo }],
      blobs,
      manifests,
      keepVersions: 5,
      logger,
    });
    server = createDataRepositoryApp({ repository, registry: createMetricsRegistry(), logger }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await temporal.client.schedule
      .getHandle(dataPollScheduleId(source))
      .delete()
      .catch(() => undefined);
    for (const ns of namespaces)
      await temporal.client.workflow
        .getHandle(dataRolloutWorkflowId(ns, source))
        .terminate('test over')
        .catch(() => undefined);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await temporal.close();
    await rm(repo, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });

  async function versions(): Promise<DataVersion[]> {
    const res = await fetch(`${base}/v1/sources/${source}/versions`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { versions: DataVersion[] }).versions;
  }

  /** The versionAvailable signals the namespace's data-rollout workflow received, in order. */
  async function announcements(namespace: string): Promise<VersionAnnouncement[]> {
    const history = await temporal.client.workflow.getHandle(dataRolloutWorkflowId(namespace, source)).fetchHistory();
    return (history.events ?? [])
      .map((e) => e.workflowExecutionSignaledEventAttributes)
      .filter((a) => a?.signalName === 'versionAvailable')
      .map((a) => JSON.parse(Buffer.from(a!.input!.payloads![0]!.data!).toString()) as VersionAnnouncement);
  }

  async function archiveSha(version: DataVersion): Promise<string> {
    const res = await fetch(`${base}/v1/sources/${source}/versions/${version.id}/archive`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${version.sha256}"`);
    return createHash('sha256')
      .update(Buffer.from(await res.arrayBuffer()))
      .digest('hex');
  }

  test('a commit becomes a version, served with its hash and announced; a second commit a second version', async () => {
    await writeFile(join(repo, 'items.json'), '{"items": 1}\n');
    const first = commit(repo, 'first');
    const stack = tierStack('integration');
    const worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue,
      activities: createDataRepositoryActivities({
        repository,
        client: temporal.client,
        namespaces,
        taskQueue: mainTaskQueue,
        publicUrl: base,
        logger,
      }),
    });

    await worker.runUntil(async () => {
      // A long interval: the test triggers each poll itself.
      expect(
        (await ensureDataPollSchedules(temporal.client, { sources: [source], intervalSeconds: 3600, taskQueue, removeStale: true }))
          .ensured,
      ).toEqual([dataPollScheduleId(source)]);
      const schedule = temporal.client.schedule.getHandle(dataPollScheduleId(source));
      await schedule.trigger();

      const [v1] = await eventually(async () => {
        const listed = await versions();
        if (listed.length === 0) throw new Error('no version yet');
        return listed;
      }, 60_000);
      expect(v1!.origin).toEqual({ kind: 'git', ref: first });
      expect(await archiveSha(v1!)).toBe(v1!.sha256);
      await eventually(async () => {
        expect(await announcements(namespaces[0]!)).toEqual([{ version: v1, archiveUrl: archiveUrl(base, source, v1!.id) }]);
      }, 30_000);

      await writeFile(join(repo, 'items.json'), '{"items": 2}\n');
      const second = commit(repo, 'second');
      await schedule.trigger();
      const listed = await eventually(async () => {
        const now = await versions();
        if (now.length < 2) throw new Error('no second version yet');
        return now;
      }, 60_000);
      expect(listed.map((v) => v.origin.ref)).toEqual([first, second]);
      expect(listed[1]!.sha256).not.toBe(v1!.sha256);
      expect(await archiveSha(listed[1]!)).toBe(listed[1]!.sha256);
      await eventually(async () => {
        expect((await announcements(namespaces[0]!)).map((a) => a.version.id)).toEqual([v1!.id, listed[1]!.id]);
      }, 30_000);

      // A poll with nothing new stores and announces nothing.
      const polls = (await schedule.describe()).info.recentActions.length;
      await schedule.trigger();
      await eventually(async () => {
        const recent = (await schedule.describe()).info.recentActions;
        expect(recent.length).toBeGreaterThan(polls);
        const poll = temporal.client.workflow.getHandle(
          recent.at(-1)!.action.workflow.workflowId,
          recent.at(-1)!.action.workflow.firstExecutionRunId,
        );
        expect(await poll.result()).toMatchObject({ source, created: null, announced: [] });
      }, 30_000);
      expect(await versions()).toHaveLength(2);
      expect(await announcements(namespaces[0]!)).toHaveLength(2);
    });
  });

  test("pruning keeps a namespace's LKG however many versions came after it, and drops the others beyond keep", async () => {
    const pinRoot = await mkdtemp(join(tmpdir(), 'data-store-pin-'));
    const pinSource = 'pinned';
    const pinNamespaces = [`ns-pin-${Date.now().toString(36)}`];
    const standInQueue = uniqueTaskQueue('data-main-pin');
    const pinQueue = dataRepositoryTaskQueue(uniqueTaskQueue('data-pin'));
    const blobs = new FileBlobStore(pinRoot);
    const manifests = new ManifestStore(pinRoot);
    await blobs.prepare();
    await manifests.prepare();
    const pinRepository = new DataRepository({
      root: pinRoot,
      sources: [{ name: pinSource, kind: 'git', url: repo }],
      blobs,
      manifests,
      keepVersions: 1,
      logger,
    });
    const stack = tierStack('integration');
    const repositoryWorker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue: pinQueue,
      activities: createDataRepositoryActivities({
        repository: pinRepository,
        client: temporal.client,
        namespaces: pinNamespaces,
        taskQueue: standInQueue,
        publicUrl: base,
        logger,
      }),
    });
    const standInWorker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue: standInQueue,
      workflowsPath: require.resolve('../fixtures/data-rollout-stand-in'),
      activities: {},
    });
    const poll = async (message: string) => {
      await writeFile(join(repo, 'items.json'), `{"poll": ${JSON.stringify(message)}}\n`);
      commit(repo, message);
      return temporal.client.workflow.execute(DATA_POLL_WORKFLOW_TYPE, {
        taskQueue: pinQueue,
        workflowId: `data-poll-pin-${message}-${Date.now()}`,
        args: [{ source: pinSource }],
      });
    };
    try {
      await repositoryWorker.runUntil(
        standInWorker.runUntil(async () => {
          const first = await poll('pin-1');
          expect(first).toMatchObject({ announced: [first.created], pruned: [] });
          const second = await poll('pin-2');
          // keep 1 would drop the first version, but the namespace's workflow holds it as LKG.
          expect(second).toMatchObject({ pruned: [] });
          const third = await poll('pin-3');
          expect(third).toMatchObject({ pruned: [second.created] });
          expect((await pinRepository.manifest(pinSource)).versions.map((v) => v.id)).toEqual([first.created, third.created]);
        }),
      );
    } finally {
      for (const ns of pinNamespaces)
        await temporal.client.workflow
          .getHandle(dataRolloutWorkflowId(ns, pinSource))
          .terminate('test over')
          .catch(() => undefined);
      await rm(pinRoot, { recursive: true, force: true });
    }
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataPollSummary } from '../../activities/data/data-repository';
import { createDataRefusalEventActivities } from '../../activities/data/data-refusal-event';
import { dataArchiveRefusedEventName } from '../../domain/data/data-refusal-event';
import { dataMirrorName } from '../../domain/data/data-rollout';
import { DATA_ARCHIVE_REFUSED_EVENT_REASON } from '../../domain/shared/keys';
import { DATA_POLL_WORKFLOW_TYPE } from '../../contracts/workflow-types';
import { dataPollScheduleId, dataRepositoryTaskQueue } from '../../contracts/schedule-ids';
import { createWorker } from '../../workers/worker-factory';
import { filesArchive, serveBodies, type BodyServer } from '../support/archives';
import { exited, startDataRepository, tail, tierRepositoryEnv, type DataRepositoryProcess } from '../support/data-repository-process';
import { freshNamespace, sandboxClients, type KubeClients } from '../support/kube';
import { killAndWait } from '../support/processes';
import { recordHistory } from '../support/rollouts';
import { tierStack } from '../support/stacks';
import { temporalClients, uniqueTaskQueue, type TemporalClients } from '../support/temporal';

/**
 * A refused archive is told to the namespaces its source is declared to: the real repository
 * process refuses a truncated archive, its poll workflow hands the refusal to the real worker
 * activity on the main task queue, and the real apiserver holds one DataArchiveRefused Event per
 * namespace, whose count grows with each new refusal instead of a second Event appearing.
 */
describe('the DataArchiveRefused Event of a refused archive', () => {
  const source = `trunc-${Date.now().toString(36).slice(-6)}`;
  const taskQueue = uniqueTaskQueue('data-refusal-event');
  let k: KubeClients;
  let temporal: TemporalClients;
  let origin: BodyServer;
  let work: string;
  let log: string;
  let repository: DataRepositoryProcess | undefined;
  let withMirror: string;
  let withoutMirror: string;
  let polls = 0;

  beforeAll(async () => {
    k = sandboxClients();
    temporal = await temporalClients(tierStack('integration'));
    origin = await serveBodies();
    work = await mkdtemp(join(tmpdir(), 'data-refusal-event-'));
    log = join(work, 'repository.log');
    withMirror = await freshNamespace(k.core, 'refusal-cm');
    withoutMirror = await freshNamespace(k.core, 'refusal-ns');
    // Where the source already reached the namespace, its ConfigMap mirror is the Event's object.
    await k.core.createNamespacedConfigMap({ namespace: withMirror, body: { metadata: { name: dataMirrorName(source) }, data: {} } });
    const whole = await filesArchive({ 'a.txt': 'x'.repeat(50_000) });
    // No ETag: within the back-off the repository cannot compare and does not fetch at all.
    origin.bodies.set('/trunc.tar.gz', { body: whole.subarray(0, whole.length / 2) });
    await writeFile(join(work, 'sources.json'), JSON.stringify([{ name: source, kind: 'http', url: `${origin.url}/trunc.tar.gz` }]));
    repository = await startDataRepository(
      {
        ...tierRepositoryEnv(work, taskQueue),
        AUTOCRANE_WATCH_NAMESPACES: `${withMirror},${withoutMirror}`,
        AUTOCRANE_DATA_REFUSAL_BACKOFF_SECONDS: '3',
      },
      log,
    );
  });

  afterAll(async () => {
    if (repository) await killAndWait(repository.child, 'SIGKILL');
    await temporal.client.schedule
      .getHandle(dataPollScheduleId(source))
      .delete()
      .catch(() => undefined);
    for (const namespace of [withMirror, withoutMirror])
      if (namespace) await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await temporal.close();
    await origin.close();
    await rm(work, { recursive: true, force: true });
  });

  const poll = (): Promise<DataPollSummary> =>
    temporal.client.workflow.execute(DATA_POLL_WORKFLOW_TYPE, {
      taskQueue: dataRepositoryTaskQueue(taskQueue),
      workflowId: `test-refusal-poll-${source}-${++polls}`,
      args: [{ source }],
    });

  const refusedEvents = async (namespace: string) =>
    (await k.core.listNamespacedEvent({ namespace, fieldSelector: `reason=${DATA_ARCHIVE_REFUSED_EVENT_REASON}` })).items;

  test('one Event per namespace, on the mirror or the namespace; a repeated refusal counts, a back-off repeat does not', async () => {
    const stack = tierStack('integration');
    // The main worker's side: the real activity with the sandbox's credentials.
    const worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue,
      activities: createDataRefusalEventActivities(k.kc),
    });
    await worker.runUntil(async () => {
      const first = await poll();
      expect(first).toMatchObject({ created: null, newRefusal: true, refused: { reason: 'truncated', count: 1 } });
      // A poll that hands its refusal to the worker: replayed by test/workflow/rollout-replay.test.ts.
      await recordHistory(temporal.client.workflow.getHandle(`test-refusal-poll-${source}-1`), 'data-poll-refusal-event');
      const name = dataArchiveRefusedEventName(source, first.refused!.ref, 'truncated');
      for (const namespace of [withMirror, withoutMirror]) {
        const events = await refusedEvents(namespace);
        expect(events.map((e) => [e.metadata.name, e.type, e.count])).toEqual([[name, 'Warning', 1]]);
        expect(events[0]!.message).toContain(`data source '${source}' (truncated)`);
      }
      expect((await refusedEvents(withMirror))[0]!.involvedObject).toMatchObject({
        kind: 'ConfigMap',
        name: dataMirrorName(source),
        uid: expect.any(String),
      });
      expect((await refusedEvents(withoutMirror))[0]!.involvedObject).toMatchObject({ kind: 'Namespace', name: withoutMirror });

      // Within the back-off the poll repeats the standing refusal: no new Event, no new count.
      const repeated = await poll();
      if (repeated.refused?.count === 1) {
        expect(repeated.newRefusal).toBe(false);
        for (const namespace of [withMirror, withoutMirror]) expect((await refusedEvents(namespace)).map((e) => e.count)).toEqual([1]);
      }

      // After the back-off the archive is fetched and refused again: the same Event counts it.
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(first.refused!.retryAt) - Date.now()) + 200));
      const again = await poll();
      expect(again).toMatchObject({ newRefusal: true, refused: { reason: 'truncated', count: 2 } });
      for (const namespace of [withMirror, withoutMirror]) {
        expect((await refusedEvents(namespace)).map((e) => [e.metadata.name, e.count, e.lastTimestamp?.toISOString()])).toEqual([
          [name, 2, again.refused!.at.replace(/\.\d+Z$/, '.000Z')],
        ]);
      }
    });
    if (exited(repository!.child)) throw new Error(`the data repository exited:\n${tail(log)}`);
  });
});

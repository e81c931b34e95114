import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataPollScheduleId, dataRepositoryTaskQueue } from '../../contracts/schedule-ids';
import { startDataRepository, tierRepositoryEnv, type DataRepositoryProcess } from '../support/data-repository-process';
import { killAndWait } from '../support/processes';
import { fuzzApi, schemathesisCommand } from '../support/schemathesis';
import { tierStack } from '../support/stacks';
import { temporalClients, uniqueTaskQueue, type TemporalClients } from '../support/temporal';
import { DATA_POLL_WORKFLOW_TYPE } from '../../contracts/workflow-types';

/** The fuzzer's own time budget. */
const FUZZ_SECONDS = 60;

/**
 * Schemathesis over the data repository's own /openapi.json against the real repository
 * process, with a source that has a stored version and one whose content was refused: no
 * answer is a 5xx, every status, Content-Type, header and body is one the document
 * describes, and a method a path does not serve answers 405 with Allow.
 */
describe('the data repository against its OpenAPI document, fuzzed', () => {
  const suffix = Date.now().toString(36).slice(-6);
  const taskQueue = uniqueTaskQueue('data-fuzz');
  const good = `good-${suffix}`;
  const crowd = `crowd-${suffix}`;
  let temporal: TemporalClients;
  let work: string;
  let repository: DataRepositoryProcess | undefined;
  let st: string;

  beforeAll(async () => {
    [temporal, st] = await Promise.all([temporalClients(tierStack('integration')), schemathesisCommand()]);
    work = await mkdtemp(join(tmpdir(), 'data-fuzz-'));
    await mkdir(join(work, 'good'));
    await writeFile(join(work, 'good', 'data.txt'), 'd'.repeat(4000));
    await mkdir(join(work, 'crowd'));
    for (let i = 0; i < 30; i++) await writeFile(join(work, 'crowd', `f${i}`), String(i));
    const sources = [
      { name: good, kind: 'local', path: './good' },
      { name: crowd, kind: 'local', path: './crowd' },
    ];
    await writeFile(join(work, 'sources.json'), JSON.stringify(sources));
    repository = await startDataRepository(
      { ...tierRepositoryEnv(work, taskQueue), AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES: '20' },
      join(work, 'repository.log'),
    );
    for (const source of [good, crowd]) {
      await temporal.client.workflow.execute(DATA_POLL_WORKFLOW_TYPE, {
        taskQueue: dataRepositoryTaskQueue(taskQueue),
        workflowId: `test-fuzz-poll-${source}`,
        args: [{ source }],
      });
    }
  }, 6 * 60_000);

  afterAll(async () => {
    if (repository) await killAndWait(repository.child, 'SIGKILL');
    for (const source of [good, crowd])
      await temporal?.client.schedule
        .getHandle(dataPollScheduleId(source))
        .delete()
        .catch(() => undefined);
    await temporal?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test(
    'no 5xx, and every answer conforms to the document',
    async () => {
      const listed = (await (await fetch(`${repository!.url}/v1/sources`)).json()) as {
        sources: { name: string; versions: number; refused: unknown }[];
      };
      expect(listed.sources.find((s) => s.name === good)?.versions).toBe(1);
      expect(listed.sources.find((s) => s.name === crowd)?.refused).toMatchObject({ reason: 'too-many-entries' });

      const { exitCode, output } = await fuzzApi(st, repository!.url, undefined, { maxExamples: 20, maxSeconds: FUZZ_SECONDS, seed: 1 });
      // The report names each failing operation, its check and a curl line that reproduces it.
      if (exitCode !== 0) throw new Error(`schemathesis exited ${exitCode}:\n${output.slice(-20_000)}`);
      expect(output).toMatch(/Test cases:\s+\d+ generated, \d+ passed/);
      expect(output).toMatch(/Selected: (\d+)\/\1\b/);
    },
    (FUZZ_SECONDS + 180) * 1000,
  );
});

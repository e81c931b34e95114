import { readFile } from 'node:fs/promises';
import type { DataVersion } from '../../domain/data/data-contract';
import type { DataRolloutRun } from '../../domain/data/data-rollout';
import type { DataRolloutStatus } from '../../contracts/data-rollout-messages';
import { DataFleet } from '../support/data-fleet';
import { recordHistory } from '../support/rollouts';

const SOURCE = 'prices';
const PROBATION_SECONDS = 4;
const CONSUMERS = 8;
const VOUCHER = 'checker';

/** A version of the source: release.json names it, and a nested file makes it a tree. */
const release = (label: string) => ({
  'release.json': JSON.stringify({ release: label }),
  'tables/prices.csv': `sku,price\nA,${label.length}\nB,${label}\n`,
});
const releaseFile = (label: string) => release(label)['release.json'];

const finished = (version: DataVersion) => (s: DataRolloutStatus) => s.rollout === null && s.recent[0]?.version === version.id;
const runOf = (s: DataRolloutStatus, version: DataVersion): DataRolloutRun => {
  const run = s.recent.find((r) => r.version === version.id);
  if (!run) throw new Error(`no finished rollout of ${version.id} among ${s.recent.map((r) => r.version).join(', ')}`);
  return run;
};

/**
 * Data rollouts end to end, every part a real process: the data repository serving a local
 * folder, AutoCrane's worker process running the data-rollout workflow (auto-start on, stages
 * 1, 25%, 100% with a short probation), 8 kwok consumer pods each with its own data deployer
 * and drop folder, and a pod that vouches for the source without consuming it. The tests share
 * this fleet and run in order: each starts from every consumer on the LKG.
 */
describe('data deployments end to end', () => {
  let fleet: DataFleet;
  let v1: DataVersion;

  beforeAll(async () => {
    fleet = await DataFleet.start({
      prefix: 'data-e2e',
      source: SOURCE,
      consumers: CONSUMERS,
      vouchers: [VOUCHER],
      workerEnv: {
        AUTOCRANE_DATA_AUTO_START: 'true',
        AUTOCRANE_DATA_STAGES: '1,25%,100%',
        AUTOCRANE_DATA_PROBATION_SECONDS: String(PROBATION_SECONDS),
      },
    });
  }, 240_000);
  afterAll(async () => fleet?.close());

  /** Every consumer asks for, reports and runs `version` (the link resolves to it and its file reads through it). */
  async function expectEveryPodOn(version: DataVersion, label: string): Promise<void> {
    expect(new Set(Object.values(await fleet.requests()))).toEqual(new Set([version.id]));
    for (const pod of fleet.consumers) {
      expect({ pod, status: await fleet.podStatus(pod) }).toEqual({
        pod,
        status: { version: version.id, sha256: version.sha256, activatedAt: expect.any(String) },
      });
      expect({ pod, disk: await fleet.activeOnDisk(pod) }).toEqual({
        pod,
        disk: { version: version.id, link: `.autocrane/versions/${SOURCE}/${version.id}`, release: releaseFile(label) },
      });
    }
  }

  /** The workflow's state and its ConfigMap mirror name `lkg` as the known-good version. */
  async function expectLkg(lkg: DataVersion, latest: DataVersion): Promise<void> {
    const status = await fleet.status();
    expect(status.lkg?.version).toEqual(lkg);
    expect(status.latest?.version.id).toBe(latest.id);
    const mirror = await fleet.mirror();
    expect(mirror).toMatchObject({ source: SOURCE, lkg: lkg.id, latest: latest.id, rollout: 'none' });
    expect((JSON.parse(mirror['lkg.json']!) as { version: DataVersion }).version).toEqual(lkg);
  }

  test('bootstrap: the first version the repository finds becomes the LKG and every consumer runs it', async () => {
    v1 = await fleet.publish(release('v1'));
    const status = await fleet.waitForStatus((s) => s.lkg?.version.id === v1.id, `${v1.id} to become the LKG`);
    expect(status.decisions.map((d) => d.kind)).toEqual(['versionAvailable', 'bootstrap']);
    expect(status.lkg?.archiveUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/v1/sources/${SOURCE}/versions/${v1.id}/archive$`));
    await fleet.waitUntilAllActive(v1);
    await expectEveryPodOn(v1, 'v1');
    // The voucher is not a consumer: nothing asks it for data.
    expect(Object.keys(await fleet.requests()).sort()).toEqual([...fleet.consumers].sort());
    await fleet.until(
      'the ConfigMap mirror',
      async () => ((await fleet.mirror().catch(() => ({}) as Record<string, string>)).lkg === v1.id ? true : { waiting: 'not mirrored' }),
      30_000,
    );
    await expectLkg(v1, v1);
  });

  test("stage 2: the voucher's watchdog turns to error; every upgraded pod is reverted and every pod runs the LKG", async () => {
    const runId = await fleet.idleRunId();
    // The dependent app turns its watchdog to error once a second consumer is asked for the new
    // version: stage 2 of 1, 25% (2 of 8), 100%.
    let errorPosted = false;
    const watcher = fleet.observe(async (seen) => {
      if (errorPosted || Object.values(seen.requests).filter((versions) => versions.some((v) => v !== v1.id)).length < 2) return;
      await fleet.postWatchdog(VOUCHER, 'catalog-lookups', { level: 'error', message: 'lookups fail against the new prices' });
      errorPosted = true;
    });
    try {
      const v2 = await fleet.publish(release('v2-bad'));
      const status = await fleet.waitForStatus(finished(v2), `the rollout of ${v2.id} to end`);
      const seen = await watcher.stop();
      const run = runOf(status, v2);
      expect(errorPosted).toBe(true);
      expect(run).toMatchObject({ state: 'RolledBack', startedBy: 'auto', stage: 1 });
      expect(run.stages.map((s) => s.result)).toEqual(['passed', 'failed', 'pending']);
      expect(run.reason).toMatch(/^stage 2: .*checker \(catalog-lookups\)/);
      expect(status.decisions.filter((d) => d.version === v2.id).map((d) => d.kind)).toEqual([
        'versionAvailable',
        'started',
        'stageStarted',
        'acknowledged',
        'gatePassed',
        'stageStarted',
        ...(run.stages[1]!.probationStartedAt ? ['acknowledged'] : []),
        'gateFailed',
        'rollbackStarted',
        'rolledBack',
      ]);
      expect(status.decisions.at(-1)!.reason).toBe(`${CONSUMERS} of ${CONSUMERS} consumers run the LKG ${v1.id}`);

      // Stage 1 moved web-0 and stage 2 web-1, and the revert brought both back; stage 3 never came.
      const back = [v1.id, v2.id, v1.id];
      expect(seen.requests).toEqual(
        Object.fromEntries(fleet.consumers.map((pod) => [pod, pod === 'web-0' || pod === 'web-1' ? back : [v1.id]])),
      );
      expect(seen.active['web-0']).toEqual(back);
      // web-1 may have been sent back before its deployer had switched.
      expect([back, [v1.id]]).toContainEqual(seen.active['web-1']);
      for (const pod of fleet.consumers.slice(2)) expect({ pod, active: seen.active[pod] }).toEqual({ pod, active: [v1.id] });
      // The revert has waited for every acknowledgement: no more waiting needed here.
      await expectEveryPodOn(v1, 'v1');
      // web-0 kept v2 as its previous version and v1 came back without a download.
      expect(await fleet.versionsOnDisk('web-0')).toEqual([v1.id, v2.id].sort());
      const log = await readFile(fleet.deployerLog('web-0'), 'utf8');
      expect(log.split('\n').some((line) => line.includes(v1.id) && line.includes('switching without a download'))).toBe(true);
      await expectLkg(v1, v2);

      const history = await fleet.closedRun(runId);
      expect((await fleet.runActivities(runId)).filter((a) => a === 'advanceDataStage')).toHaveLength(2);
      await recordHistory(history, 'data-stage2-revert');
    } finally {
      await watcher.stop();
      await fleet.postWatchdog(VOUCHER, 'catalog-lookups', null);
    }
  });

  test('the happy path: a new version rolls through every stage, probation counted from activation, and becomes the LKG', async () => {
    const runId = await fleet.idleRunId();
    const watcher = fleet.observe();
    const v3 = await fleet.publish(release('v3'));
    const status = await fleet.waitForStatus(finished(v3), `the rollout of ${v3.id} to end`);
    const seen = await watcher.stop();
    // No pod ever went back: a stage keeps the pods of the earlier ones.
    for (const pod of fleet.consumers)
      expect({ pod, asked: seen.requests[pod], active: seen.active[pod] }).toEqual({ pod, asked: [v1.id, v3.id], active: [v1.id, v3.id] });
    const run = runOf(status, v3);
    expect(run).toMatchObject({ state: 'Succeeded', startedBy: 'auto', reason: null, upgradedCount: CONSUMERS });
    expect(run.stages.map((s) => [s.pods, s.count, s.result])).toEqual([
      ['1 pod', 1, 'passed'],
      ['25%', 2, 'passed'],
      ['100%', CONSUMERS, 'passed'],
    ]);
    for (const stage of run.stages) {
      // The probation starts at the last activation the stage caused, never before the stage, and lasts its time.
      expect(Date.parse(stage.probationStartedAt!)).toBeGreaterThanOrEqual(Date.parse(stage.startedAt!) - 1000);
      expect(Date.parse(stage.endedAt!) - Date.parse(stage.probationStartedAt!)).toBeGreaterThanOrEqual(PROBATION_SECONDS * 1000);
    }
    await expectEveryPodOn(v3, 'v3');
    // The previous version stays for an instant revert; older ones are gone.
    for (const pod of fleet.consumers) expect({ pod, kept: await fleet.versionsOnDisk(pod) }).toEqual({ pod, kept: [v1.id, v3.id].sort() });
    await expectLkg(v3, v3);

    const history = await fleet.closedRun(runId);
    expect((await fleet.runActivities(runId)).filter((a) => a === 'advanceDataStage')).toHaveLength(3);
    await recordHistory(history, 'data-happy-path');
  });

  test('the worker killed with SIGKILL in stage 2: a restarted worker completes the rollout and every pod runs the new version', async () => {
    const runId = await fleet.idleRunId();
    const before = (await fleet.status()).lkg!.version;
    const watcher = fleet.observe();
    const v4 = await fleet.publish(release('v4'));
    await fleet.waitForStatus((s) => s.rollout?.version === v4.id && s.rollout.stage === 1, `the rollout of ${v4.id} to reach stage 2`);
    const killedAt = Date.now();
    await fleet.killWorker('SIGKILL');
    fleet.spawnWorker();
    // Heartbeats stop with the worker: its activity times out (3 s) and is retried by the new one.
    const status = await fleet.waitForStatus(finished(v4), `the rollout of ${v4.id} to end after the restart`, 150_000);
    const seen = await watcher.stop();
    for (const pod of fleet.consumers)
      expect({ pod, asked: seen.requests[pod], active: seen.active[pod] }).toEqual({
        pod,
        asked: [before.id, v4.id],
        active: [before.id, v4.id],
      });
    const run = runOf(status, v4);
    expect(run.state).toBe('Succeeded');
    expect(run.stages.map((s) => s.result)).toEqual(['passed', 'passed', 'passed']);
    // Stage 2 was still under way when the worker died.
    expect(Date.parse(run.stages[1]!.endedAt!)).toBeGreaterThan(killedAt);
    await expectEveryPodOn(v4, 'v4');
    await expectLkg(v4, v4);

    const history = await fleet.closedRun(runId);
    await recordHistory(history, 'data-worker-killed');
  });
});

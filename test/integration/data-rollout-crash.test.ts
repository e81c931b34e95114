import type { DataVersion } from '../../domain/data/data-contract';
import type { DataRolloutStatus } from '../../contracts/data-rollout-messages';
import { DataFleet } from '../support/data-fleet';

const SOURCE = 'rates';
const PROBATION_SECONDS = 6;
/** How long the test keeps the worker dead during the probation. */
const DEAD_MS = 5000;

const release = (label: string) => ({ 'release.json': JSON.stringify({ release: label }) });
const finished = (version: DataVersion) => (s: DataRolloutStatus) => s.rollout === null && s.recent[0]?.version === version.id;

/**
 * A data rollout's probation counts only the time its gate watched: the worker (a real
 * process) is SIGKILLed while the only stage is on probation and restarted DEAD_MS later. The
 * probation's watch resumes on the new worker (3 s heartbeat timeout), the time nobody
 * watched does not count, the probation is extended by it, and the decision log says by how
 * much. Before, the probation was wall time: it passed at the first look after the restart.
 */
describe('data rollout: a dead worker does not count as probation', () => {
  let fleet: DataFleet;

  beforeAll(async () => {
    fleet = await DataFleet.start({
      prefix: 'data-crash',
      source: SOURCE,
      consumers: 2,
      vouchers: [],
      workerEnv: {
        AUTOCRANE_DATA_AUTO_START: 'true',
        AUTOCRANE_DATA_STAGES: '100%',
        AUTOCRANE_DATA_PROBATION_SECONDS: String(PROBATION_SECONDS),
      },
    });
  }, 240_000);
  afterAll(async () => fleet?.close());

  test('the worker killed during the probation: the probation is extended by the unwatched time and the decision says so', async () => {
    const v1 = await fleet.publish(release('v1'));
    await fleet.waitForStatus((s) => s.lkg?.version.id === v1.id, `${v1.id} to become the LKG`);
    await fleet.waitUntilAllActive(v1);

    const v2 = await fleet.publish(release('v2'));
    await fleet.waitForStatus(
      (s) => s.rollout?.version === v2.id && s.rollout.state === 'Baking',
      `the rollout of ${v2.id} to be on probation`,
    );
    const killedAt = Date.now();
    await fleet.killWorker('SIGKILL');
    await new Promise((r) => setTimeout(r, DEAD_MS));
    fleet.spawnWorker();
    const restartedAt = Date.now();
    const status = await fleet.waitForStatus(finished(v2), `the rollout of ${v2.id} to end after the restart`, 120_000);

    const run = status.recent[0]!;
    expect(run.state).toBe('Succeeded');
    const stage = run.stages[0]!;
    const passed = status.decisions.find((d) => d.kind === 'gatePassed' && d.version === v2.id);
    expect(passed?.reason).toMatch(/baked \d+s watched \([\d.]+s\); bake extended by [\d.]+s the gate could not watch/);
    const extended = Number(/bake extended by ([\d.]+)s/.exec(passed!.reason)![1]);
    // The worker was dead for DEAD_MS at least: none of that counted.
    expect(extended * 1000).toBeGreaterThanOrEqual(DEAD_MS - 500);
    // The probation ran its whole watched length after the gap: it ended no sooner than the
    // unwatched time plus the probation after its start, and after the restart.
    const probationMs = Date.parse(stage.endedAt!) - Date.parse(stage.probationStartedAt!);
    expect(probationMs).toBeGreaterThanOrEqual(PROBATION_SECONDS * 1000 + DEAD_MS - 500);
    expect(Date.parse(stage.endedAt!)).toBeGreaterThan(restartedAt);
    expect(Date.parse(stage.probationStartedAt!)).toBeLessThan(killedAt);
  });
});

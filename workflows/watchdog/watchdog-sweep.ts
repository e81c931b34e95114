import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { SweepInput, SweepSummary } from '../../activities/watchdog/watchdog-sweep';
import type { createWatchdogActivities } from '../../activities/watchdog/watchdogs';
import { AUTOCRANE_NAMESPACE } from '../../contracts/search-attributes';

const { sweepWatchdogs } = proxyActivities<ReturnType<typeof createWatchdogActivities>>({
  // A sweep of 10k pods at 64 probes in flight and 5 s per probe is under 15 min worst case.
  startToCloseTimeout: '15 minutes',
  // The sweep heartbeats every second whatever its probes do (activities/watchdog/watchdogs.ts), so a
  // silence of 5 s means its worker died: the sweep is retried elsewhere within seconds instead
  // of leaving the namespace unprobed while the Schedule (overlap SKIP) starts no other sweep.
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 3 },
});

/**
 * One probing sweep of a namespace, started by that namespace's Temporal Schedule. One
 * activity, so its history is the same size for ten pods or ten thousand.
 */
export async function watchdogSweepWorkflow(input: SweepInput): Promise<SweepSummary> {
  upsertSearchAttributes([{ key: AUTOCRANE_NAMESPACE, value: input.namespace }]);
  return sweepWatchdogs(input);
}

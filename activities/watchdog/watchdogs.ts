/**
 * The watchdog activities: a sweep, heartbeating its progress so a dead worker is noticed
 * fast, and resuming on retry from the page the last heartbeat was at.
 */
import { hostname } from 'node:os';
import { CoreV1Api, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { createHttpProber, type HttpProber } from './http-prober';
import { toActivityFailure } from '../shared/kubernetes-errors';
import { podWriteRefusals, type PodWriteRefusalMetrics } from '../shared/pod-write-refusals';
import type { WatchdogMetrics } from './watchdog-metrics';
import { sweepWatchdogs, type SweepInput, type SweepProgress, type SweepSummary } from './watchdog-sweep';
import { sweepPodLister } from './watchdog-sweep-pods';

export interface WatchdogActivityOptions {
  probeTimeoutSeconds: number;
  probeConcurrency: number;
  metrics?: WatchdogMetrics;
  refusalMetrics?: PodWriteRefusalMetrics;
}

/** Heartbeats of a sweep at least this often: well within the workflow's 5 s heartbeat timeout. */
const SWEEP_HEARTBEAT_MS = 1000;

const count = z.number().int().nonnegative();
const counters = z.object({
  pods: count,
  probedPods: count,
  probes: count,
  failedProbes: count,
  podsWritten: count,
  podsGone: count,
  // Absent from the heartbeats of a worker that predates them.
  podsRefused: count.default(0),
  podsRefusedSystemic: count.default(0),
  podsBackingOff: count.default(0),
  outcomes: z.partialRecord(z.enum(['ok', 'http-status', 'timeout', 'refused', 'error', 'refused-target']), count),
  health: z.record(z.string(), count),
});
/** What an earlier attempt heartbeated; anything else is ignored and the sweep starts over. */
const resumePoint = z.object({ pageToken: z.string().min(1).optional(), pagesDone: count, done: counters });

/** The progress an earlier attempt of this sweep reported, if it is one (undefined otherwise). */
export function parseSweepResumePoint(details: unknown): SweepProgress | undefined {
  const parsed = resumePoint.safeParse(details);
  if (!parsed.success || parsed.data.pageToken === undefined) return undefined;
  const { pageToken, pagesDone, done } = parsed.data;
  return { pageToken, pagesDone, done, page: { pods: 0, probes: 0, probesDone: 0, writes: 0 } };
}

export function createWatchdogActivities(kc: KubeConfig, options: WatchdogActivityOptions) {
  const core = kc.makeApiClient(CoreV1Api);
  const listPods = sweepPodLister(kc);
  // One per worker: the pods' backoff after refused writes lives as long as the worker.
  const refusals = podWriteRefusals('watchdog-sweep', {
    events: kc.makeApiClient(EventsV1Api),
    ...(options.refusalMetrics && { metrics: options.refusalMetrics }),
    reportingInstance: hostname(),
  });
  // One prober per worker process: its keep-alive sockets serve every sweep.
  let prober: HttpProber | undefined;
  const sharedProber = () =>
    (prober ??= createHttpProber({ timeoutMs: options.probeTimeoutSeconds * 1000, concurrency: options.probeConcurrency }));

  return {
    async sweepWatchdogs(input: SweepInput): Promise<SweepSummary> {
      const context = Context.current();
      const resumeFrom = parseSweepResumePoint(context.info.heartbeatDetails);
      // Heartbeats on a timer too (with the latest progress, the resume point), so a slow probe
      // is never taken for a dead worker under the workflow's short heartbeat timeout.
      let progress: SweepProgress | undefined = resumeFrom;
      const ticker = setInterval(() => context.heartbeat(progress), SWEEP_HEARTBEAT_MS);
      try {
        const summary = await sweepWatchdogs(input, {
          listPods,
          core,
          prober: sharedProber(),
          onProgress: (next) => {
            progress = next;
            context.heartbeat(next);
          },
          refusals,
          log: (fields, message) => context.log.warn(message, fields),
          ...(resumeFrom && { resumeFrom }),
        });
        options.metrics?.record(summary);
        context.log.info('watchdog sweep done', { ...summary, ...(resumeFrom && { resumedAtPage: resumeFrom.pagesDone + 1 }) });
        return summary;
      } catch (err) {
        throw toActivityFailure(err, `sweep watchdogs in namespace ${input.namespace}`);
      } finally {
        clearInterval(ticker);
      }
    },
  };
}

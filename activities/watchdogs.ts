/** The watchdog activities: a sweep, heartbeating its progress so a dead worker is noticed fast. */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { createHttpProber, type HttpProber } from './http-prober';
import { toActivityFailure } from './kubernetes-errors';
import type { WatchdogMetrics } from './watchdog-metrics';
import { sweepWatchdogs, type SweepInput, type SweepSummary } from './watchdog-sweep';

export interface WatchdogActivityOptions {
  probeTimeoutSeconds: number;
  probeConcurrency: number;
  metrics?: WatchdogMetrics;
}

export function createWatchdogActivities(kc: KubeConfig, options: WatchdogActivityOptions) {
  const core = kc.makeApiClient(CoreV1Api);
  // One prober per worker process: its keep-alive sockets serve every sweep.
  let prober: HttpProber | undefined;
  const sharedProber = () =>
    (prober ??= createHttpProber({ timeoutMs: options.probeTimeoutSeconds * 1000, concurrency: options.probeConcurrency }));

  return {
    async sweepWatchdogs(input: SweepInput): Promise<SweepSummary> {
      const context = Context.current();
      try {
        const summary = await sweepWatchdogs(input, {
          core,
          prober: sharedProber(),
          onProgress: (progress) => context.heartbeat(progress),
        });
        options.metrics?.record(summary);
        context.log.info('watchdog sweep done', { ...summary });
        return summary;
      } catch (err) {
        throw toActivityFailure(err, `sweep watchdogs in namespace ${input.namespace}`);
      }
    },
  };
}

/** Prometheus metrics of watchdog probing, recorded from each sweep's summary. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS_PREFIX } from '../../platform/metrics';
import type { SweepSummary } from './watchdog-sweep';

const HEALTH_LEVELS = ['error', 'warning', 'info', 'unknown', 'none'] as const;

export interface WatchdogMetrics {
  record(summary: SweepSummary): void;
}

export function createWatchdogMetrics(registry: Registry): WatchdogMetrics {
  const probes = new Counter({
    name: `${METRICS_PREFIX}watchdog_probes_total`,
    help: 'Watchdog probes by result: ok, http-status, timeout, refused, error, refused-target (not a POD_IP target).',
    labelNames: ['namespace', 'result'] as const,
    registers: [registry],
  });
  const sweepDuration = new Histogram({
    name: `${METRICS_PREFIX}watchdog_sweep_duration_seconds`,
    help: 'Wall time of one probing sweep of a namespace: list, probe, write.',
    labelNames: ['namespace'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const pods = new Gauge({
    name: `${METRICS_PREFIX}watchdog_pods`,
    help: 'Probed pods by aggregate health level after the latest sweep (none: no watchdog status yet).',
    labelNames: ['namespace', 'level'] as const,
    registers: [registry],
  });
  return {
    record(summary) {
      const { namespace } = summary;
      for (const [result, n] of Object.entries(summary.outcomes)) probes.inc({ namespace, result }, n);
      sweepDuration.observe({ namespace }, summary.durationMs / 1000);
      // Every level is set, so a level that emptied reads 0 rather than its last value.
      for (const level of HEALTH_LEVELS) pods.set({ namespace, level }, summary.health[level] ?? 0);
    },
  };
}

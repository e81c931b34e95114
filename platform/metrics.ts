/**
 * The process's Prometheus registry. Feature modules define their own metrics against it
 * (named with METRICS_PREFIX) rather than through a global default registry, so tests and
 * multiple apps in one process never collide.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRICS_PREFIX = 'autocrane_';

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX });
  return registry;
}

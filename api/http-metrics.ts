import { Histogram, type Registry } from 'prom-client';
import { METRICS_PREFIX } from '../platform/metrics';

export function createHttpRequestDuration(registry: Registry): Histogram<'method' | 'route' | 'status'> {
  return new Histogram({
    name: `${METRICS_PREFIX}http_request_duration_seconds`,
    help: 'Duration of HTTP API requests, by method, matched route and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
}

/** The data repository's own metrics: refused archives and blobs that failed their hash check. */
import { Counter, Registry } from 'prom-client';
import { REFUSAL_REASONS } from '../domain/data/data-archive-rules';
import { METRICS_PREFIX } from '../platform/metrics';

export interface RepositoryMetrics {
  refused: Counter<'source' | 'reason'>;
  integrityFailures: Counter<'source'>;
}

/** `registry` absent: counters of their own registry (tests, tools). */
export function createRepositoryMetrics(registry: Registry = new Registry()): RepositoryMetrics {
  return {
    refused: new Counter({
      name: `${METRICS_PREFIX}data_repository_archives_refused_total`,
      help: `Archives refused and not stored, by source and reason (${REFUSAL_REASONS.join(', ')}).`,
      labelNames: ['source', 'reason'] as const,
      registers: [registry],
    }),
    integrityFailures: new Counter({
      name: `${METRICS_PREFIX}data_repository_blob_integrity_failures_total`,
      help: 'Stored archives found not to match their SHA-256 when served (quarantined, not served), by source.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
  };
}

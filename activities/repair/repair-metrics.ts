/** Prometheus metrics of repair: evictions by result, and pods not evicted by reason. */
import { Counter, type Registry } from 'prom-client';
import type { EvictionOutcome, HoldReason } from '../../domain/repair/repair-types';
import { METRICS_PREFIX } from '../../platform/metrics';

/** Why a pod due for eviction was not evicted: held back by repair, or refused by the apiserver. */
export type RepairHoldMetricReason = HoldReason | 'pdb' | 'error';

export interface RepairMetrics {
  /** One call per evictPods: the outcomes, and the pods the workflow held back in that sweep. */
  record(namespace: string, outcomes: readonly EvictionOutcome[], heldBack: Partial<Record<HoldReason, number>>): void;
}

// prom-client refuses a second metric of the same name in a registry: one set per registry.
const byRegistry = new WeakMap<Registry, RepairMetrics>();

export function createRepairMetrics(registry: Registry): RepairMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const evictions = new Counter({
    name: `${METRICS_PREFIX}repair_evictions_total`,
    help: 'Eviction requests by result: evicted, gone (404 or replaced pod), refused (429, a PodDisruptionBudget), failed.',
    labelNames: ['namespace', 'result'] as const,
    registers: [registry],
  });
  const holds = new Counter({
    name: `${METRICS_PREFIX}repair_holds_total`,
    help:
      'Failing pods due for eviction but not evicted, by reason: the workflow held them back ' +
      '(workload-limit, namespace-limit, no-pdb, no-controller, rollout, backoff, paused), ' +
      'a PodDisruptionBudget refused (pdb), or the eviction failed (error).',
    labelNames: ['namespace', 'reason'] as const,
    registers: [registry],
  });
  const metrics: RepairMetrics = {
    record(namespace, outcomes, heldBack) {
      for (const outcome of outcomes) {
        evictions.inc({ namespace, result: outcome.result });
        if (outcome.result === 'refused') holds.inc({ namespace, reason: 'pdb' });
        if (outcome.result === 'failed') holds.inc({ namespace, reason: 'error' });
      }
      for (const [reason, count] of Object.entries(heldBack)) {
        if (count !== undefined && count > 0) holds.inc({ namespace, reason }, count);
      }
    },
  };
  byRegistry.set(registry, metrics);
  return metrics;
}

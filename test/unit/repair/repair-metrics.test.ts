import { Registry } from 'prom-client';
import { createRepairMetrics } from '../../../activities/repair/repair-metrics';
import type { EvictionOutcome } from '../../../domain/repair/repair-types';

describe('repair metrics', () => {
  const outcome = (result: EvictionOutcome['result']): EvictionOutcome => ({ uid: 'u', name: 'n', result, message: '', at: '' });

  test('evictions by result; holds by reason, with 429s as pdb and failures as error', async () => {
    const registry = new Registry();
    const metrics = createRepairMetrics(registry);
    metrics.record('shop', [outcome('evicted'), outcome('refused'), outcome('failed'), outcome('gone'), outcome('evicted')], {
      'workload-limit': 2,
      rollout: 1,
      paused: 0,
    });
    const text = await registry.metrics();
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="evicted"} 2');
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="refused"} 1');
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="gone"} 1');
    expect(text).toContain('autocrane_repair_evictions_total{namespace="shop",result="failed"} 1');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="pdb"} 1');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="error"} 1');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="workload-limit"} 2');
    expect(text).toContain('autocrane_repair_holds_total{namespace="shop",reason="rollout"} 1');
    expect(text).not.toContain('reason="paused"');
  });

  test('created once per registry: a second call returns the same metrics instead of throwing', () => {
    const registry = new Registry();
    expect(createRepairMetrics(registry)).toBe(createRepairMetrics(registry));
    expect(createRepairMetrics(new Registry())).not.toBe(createRepairMetrics(registry));
  });
});

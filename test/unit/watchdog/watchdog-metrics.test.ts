import { Registry } from 'prom-client';
import { createWatchdogMetrics } from '../../../activities/watchdog/watchdog-metrics';
import type { SweepSummary } from '../../../activities/watchdog/watchdog-sweep';

const summary = (over: Partial<SweepSummary>): SweepSummary => ({
  namespace: 'shop',
  pods: 5,
  probedPods: 4,
  probes: 5,
  failedProbes: 2,
  podsWritten: 1,
  podsGone: 0,
  podsRefused: 0,
  podsRefusedSystemic: 0,
  podsBackingOff: 0,
  outcomes: { ok: 3, timeout: 1, 'refused-target': 1 },
  health: { info: 2, error: 1, none: 1 },
  pages: 1,
  durationMs: 1500,
  ...over,
});

test('a sweep summary becomes probe counts, a duration observation and pods by level', async () => {
  const registry = new Registry();
  const metrics = createWatchdogMetrics(registry);
  metrics.record(summary({}));
  metrics.record(summary({ outcomes: { ok: 1 }, health: { info: 4 }, durationMs: 200 }));
  const text = await registry.metrics();

  expect(text).toContain('autocrane_watchdog_probes_total{namespace="shop",result="ok"} 4');
  expect(text).toContain('autocrane_watchdog_probes_total{namespace="shop",result="timeout"} 1');
  expect(text).toContain('autocrane_watchdog_probes_total{namespace="shop",result="refused-target"} 1');
  expect(text).toContain('autocrane_watchdog_sweep_duration_seconds_count{namespace="shop"} 2');
  expect(text).toContain('autocrane_watchdog_sweep_duration_seconds_sum{namespace="shop"} 1.7');
  // The gauge shows the latest sweep: the error pod recovered, so error reads 0, not 1.
  expect(text).toContain('autocrane_watchdog_pods{namespace="shop",level="info"} 4');
  expect(text).toContain('autocrane_watchdog_pods{namespace="shop",level="error"} 0');
  expect(text).toContain('autocrane_watchdog_pods{namespace="shop",level="none"} 0');
});

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventsV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { createHttpProber, type HttpProber } from '../../activities/watchdog/http-prober';
import { createPodWriteRefusalMetrics, podWriteRefusals } from '../../activities/shared/pod-write-refusals';
import { sweepWatchdogs } from '../../activities/watchdog/watchdog-sweep';
import { sweepPodLister } from '../../activities/watchdog/watchdog-sweep-pods';
import { createTestWorkloadServer } from '../../cli/test-workload';
import { HEALTH_LABEL, WRITE_REFUSED_EVENT_REASON } from '../../domain/shared/keys';
import { ANNOTATIONS_TOTAL_LIMIT_BYTES } from '../../domain/shared/pod-write-refusal';
import { eventually, freshNamespace, isPodReady, type KubeClients, sandboxClients } from '../support/kube';

/**
 * A probed pod whose annotations are at the apiserver's 256 KiB limit, beside healthy ones:
 * the real apiserver refuses its status write (422 metadata.annotations: Too long), and the
 * sweep records that for that pod and goes on writing the others' statuses and labels.
 */
describe('watchdog sweep with a pod at the annotation limit', () => {
  let k: KubeClients;
  let namespace: string;
  let server: Server;
  let prober: HttpProber;
  const workload = createTestWorkloadServer({ logger: pino({ level: 'silent' }) });
  const registry = new Registry();
  const logged: Array<Record<string, unknown>> = [];
  let refusals: ReturnType<typeof podWriteRefusals>;

  const sweep = () =>
    sweepWatchdogs({ namespace }, { listPods: sweepPodLister(k.kc), core: k.core, prober, refusals, log: (fields) => logged.push(fields) });
  const pod = (name: string) => k.core.readNamespacedPod({ namespace, name });
  const status = async (name: string) => (await pod(name)).metadata?.annotations?.['status.autocrane.io/http'];

  /** Annotations whose total size (keys and values) leaves `room` bytes under the limit. */
  const filledTo = (room: number, probe: string): Record<string, string> => {
    const probeKey = 'probe.autocrane.io/http';
    const fillerKey = 'example.com/filler';
    const used = probeKey.length + probe.length + fillerKey.length;
    return { [probeKey]: probe, [fillerKey]: 'x'.repeat(ANNOTATIONS_TOTAL_LIMIT_BYTES - used - room) };
  };

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'fullpod');
    server = workload.listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    prober = createHttpProber({ timeoutMs: 2000 });
    refusals = podWriteRefusals('watchdog-sweep', {
      events: k.kc.makeApiClient(EventsV1Api),
      metrics: createPodWriteRefusalMetrics(registry),
    });
    // A long query makes the probe's failure message long, so the shortened one is shorter.
    const target = (name: string) => `POD_IP:${port}/watchdog/${name}?pad=${'p'.repeat(200)}`;
    const pods: Record<string, Record<string, string>> = {
      'app-0': { 'probe.autocrane.io/http': target('app-0') },
      'app-1': { 'probe.autocrane.io/http': target('app-1') },
      // No room for any status at all.
      full: filledTo(20, target('full')),
      // Room for a shortened status only.
      roomy: filledTo(150, target('roomy')),
    };
    for (const [name, annotations] of Object.entries(pods)) {
      await k.core.createNamespacedPod({
        namespace,
        body: { metadata: { name, annotations }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
      });
    }
    await eventually(async () => {
      const all = (await k.core.listNamespacedPod({ namespace })).items;
      if (all.length !== 4 || !all.every(isPodReady)) throw new Error('pods not ready');
    });
  });

  afterAll(async () => {
    prober?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test('the full pod is refused and recorded; every other pod is written; the full pod then backs off', async () => {
    for (const name of ['app-0', 'app-1', 'full', 'roomy']) await request(workload).post(`/fail/${name}`).expect(200);

    const first = await sweep();
    expect(first).toMatchObject({ pods: 4, probedPods: 4, failedProbes: 4, podsWritten: 3, podsRefused: 1, podsBackingOff: 0 });
    for (const name of ['app-0', 'app-1']) {
      expect(await status(name)).toMatch(/^error\/.*answered 500/);
      expect((await pod(name)).metadata?.labels?.[HEALTH_LABEL]).toBe('error');
    }
    // The whole message did not fit; the shortened one did.
    const roomy = await status('roomy');
    expect(roomy).toMatch(/^error\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\/GET .*…$/);
    expect(Array.from(roomy!.split('/').slice(2).join('/'))).toHaveLength(64);
    expect((await pod('roomy')).metadata?.labels?.[HEALTH_LABEL]).toBe('error');
    expect(await status('full')).toBeUndefined();

    // Recorded for that pod: log, metric by reason, Event.
    expect(logged).toEqual([
      expect.objectContaining({
        loop: 'watchdog-sweep',
        namespace,
        pod: 'full',
        reason: 'too-large',
        httpStatus: 422,
        apiserverMessage: expect.stringMatching(/Too long/),
        attempts: 1,
      }),
    ]);
    expect(await registry.getSingleMetricAsString('autocrane_pod_write_refusals_total')).toContain(
      `autocrane_pod_write_refusals_total{loop="watchdog-sweep",namespace="${namespace}",reason="too-large"} 1`,
    );
    expect(logged[0]?.eventNotRecorded).toBeUndefined();
    const events = (await k.core.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === WRITE_REFUSED_EVENT_REASON);
    expect(events.map((e) => e.involvedObject.name)).toEqual(['full']);
    expect(events[0]?.message).toMatch(/watchdog-sweep could not write its watchdog statuses \(too-large, HTTP 422\).*Too long/);

    // Recoveries still reach the other pods while the full one backs off (not tried, not logged again).
    for (const name of ['app-0', 'full']) await request(workload).post(`/recover/${name}`).expect(200);
    const second = await sweep();
    expect(second).toMatchObject({ podsWritten: 1, podsRefused: 0, podsBackingOff: 0 });
    expect(await status('app-0')).toMatch(/^info\/.*error cleared$/);
    expect((await pod('app-0')).metadata?.labels?.[HEALTH_LABEL]).toBe('info');
    await request(workload).post('/fail/full').expect(200);
    await request(workload).post('/recover/app-1').expect(200);
    const third = await sweep();
    expect(third).toMatchObject({ podsWritten: 1, podsRefused: 0, podsBackingOff: 1 });
    expect((await pod('app-1')).metadata?.labels?.[HEALTH_LABEL]).toBe('info');
    expect(logged).toHaveLength(1);
  });
});

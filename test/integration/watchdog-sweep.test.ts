import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import request from 'supertest';
import { createHttpProber, HttpProber } from '../../activities/watchdog/http-prober';
import { sweepWatchdogs, SweepSummary } from '../../activities/watchdog/watchdog-sweep';
import { sweepPodLister } from '../../activities/watchdog/watchdog-sweep-pods';
import { createTestWorkloadServer } from '../../cli/test-workload';
import { HEALTH_LABEL } from '../../domain/shared/keys';
import { eventually, freshNamespace, isPodReady, KubeClients, sandboxClients } from '../support/kube';

/**
 * A sweep against real kwok pods whose probes are answered by the test workload: their pod
 * IPs are loopback addresses, and the workload listens on all of them.
 */
describe('watchdog sweep on the sandbox cluster', () => {
  let k: KubeClients;
  let namespace: string;
  let server: Server;
  let port: number;
  let prober: HttpProber;
  const workload = createTestWorkloadServer({ logger: pino({ level: 'silent' }) });

  const sweep = (): Promise<SweepSummary> => sweepWatchdogs({ namespace }, { listPods: sweepPodLister(k.kc), core: k.core, prober });
  const pod = (name: string) => k.core.readNamespacedPod({ namespace, name });
  const status = async (name: string, watchdog = 'http') => (await pod(name)).metadata?.annotations?.[`status.autocrane.io/${watchdog}`];

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'sweep');
    server = workload.listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    prober = createHttpProber({ timeoutMs: 2000 });
    const probes: Record<string, Record<string, string>> = {
      'app-0': { 'probe.autocrane.io/http': `POD_IP:${port}/watchdog/app-0` },
      'app-1': { 'probe.autocrane.io/http': `POD_IP:${port}/watchdog/app-1?verbose=1` },
      // A probe aimed at another host is refused without a request, and recorded as such.
      'app-2': { 'probe.autocrane.io/http': `10.0.0.1:${port}/watchdog/app-2` },
      plain: {},
    };
    for (const [name, annotations] of Object.entries(probes)) {
      await k.core.createNamespacedPod({
        namespace,
        body: { metadata: { name, annotations }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
      });
    }
    await eventually(async () => {
      const pods = (await k.core.listNamespacedPod({ namespace })).items;
      if (pods.length !== 4 || !pods.every(isPodReady)) throw new Error('pods not ready');
    });
  });

  afterAll(async () => {
    prober?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test('healthy pods get no write; the refused host gets one error status', async () => {
    const first = await sweep();
    expect(first).toMatchObject({ pods: 4, probedPods: 3, probes: 3, failedProbes: 1, podsWritten: 1 });
    expect(first.outcomes).toEqual({ ok: 2, 'refused-target': 1 });
    expect(first.health).toEqual({ none: 2, error: 1 });
    expect(await status('app-0')).toBeUndefined();
    expect(await status('app-2')).toMatch(/^error\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\/.*POD_IP/);
    expect((await pod('app-2')).metadata?.labels?.[HEALTH_LABEL]).toBe('error');
  });

  test('a failure is written exactly once, and its recovery once, as info', async () => {
    await request(workload).post('/fail/app-1').expect(200);
    expect(await sweep()).toMatchObject({ failedProbes: 2, podsWritten: 1, outcomes: { ok: 1, 'http-status': 1, 'refused-target': 1 } });
    const failing = await status('app-1');
    expect(failing).toMatch(/^error\/.*answered 500/);
    expect((await pod('app-1')).metadata?.labels?.[HEALTH_LABEL]).toBe('error');

    // Still failing: nothing changes, nothing is written, the original time stays.
    expect(await sweep()).toMatchObject({ failedProbes: 2, podsWritten: 0 });
    expect(await status('app-1')).toBe(failing);

    await request(workload).post('/recover/app-1').expect(200);
    expect(await sweep()).toMatchObject({ failedProbes: 1, podsWritten: 1 });
    expect(await status('app-1')).toMatch(/^info\/.*\/error cleared$/);
    expect((await pod('app-1')).metadata?.labels?.[HEALTH_LABEL]).toBe('info');
    expect(await sweep()).toMatchObject({ podsWritten: 0 });
  });

  test('a probe that times out is an error that says so', async () => {
    const slowProber = createHttpProber({ timeoutMs: 300 });
    try {
      await request(workload).post('/slow/app-0').send({ ms: 2000 }).expect(200);
      const summary = await sweepWatchdogs({ namespace }, { listPods: sweepPodLister(k.kc), core: k.core, prober: slowProber });
      expect(summary.podsWritten).toBe(1);
      expect(await status('app-0')).toMatch(/^error\/.*timed out after 300 ms/);
    } finally {
      await request(workload).post('/recover/app-0').expect(200);
      slowProber.close();
    }
  });

  test('one pod per page: continue tokens of the real apiserver, the same decisions', async () => {
    const paged = () => sweepWatchdogs({ namespace }, { listPods: sweepPodLister(k.kc, 1), core: k.core, prober });
    // app-0 recovered at the end of the previous test: its error clears, once.
    expect(await paged()).toMatchObject({ pages: 4, pods: 4, probedPods: 3, probes: 3, podsWritten: 1, health: { info: 2, error: 1 } });
    expect(await status('app-0')).toMatch(/^info\/.*\/error cleared$/);
    expect(await paged()).toMatchObject({ pages: 4, pods: 4, probedPods: 3, podsWritten: 0 });
  });
});

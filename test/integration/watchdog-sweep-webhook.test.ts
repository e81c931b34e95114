import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { AdmissionregistrationV1Api, EventsV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import request from 'supertest';
import { createHttpProber, type HttpProber } from '../../activities/watchdog/http-prober';
import { podWriteRefusals } from '../../activities/shared/pod-write-refusals';
import { sweepWatchdogs } from '../../activities/watchdog/watchdog-sweep';
import { sweepPodLister } from '../../activities/watchdog/watchdog-sweep-pods';
import { createTestWorkloadServer } from '../../cli/test-workload';
import { WRITE_REFUSED_EVENT_REASON } from '../../domain/shared/keys';
import { eventually, freshNamespace, isPodReady, type KubeClients, sandboxClients } from '../support/kube';
import { mergePatch } from '../support/workloads';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const probe: Server = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

/**
 * A failurePolicy Fail webhook that selects one pod and cannot be reached: the real apiserver
 * answers that pod's status write with 500 "failed calling webhook". The sweep, one pod per
 * page, records it for that pod and probes and writes the pods on the later pages.
 */
describe('watchdog sweep with a failing webhook on one pod', () => {
  let k: KubeClients;
  let namespace: string;
  let server: HttpServer;
  let prober: HttpProber;
  const webhookName = `one-pod-${process.pid}-${Date.now()}.autocrane.test`;
  const workload = createTestWorkloadServer({ logger: pino({ level: 'silent' }) });
  const logged: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'webhookpod');
    server = workload.listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    prober = createHttpProber({ timeoutMs: 2000 });
    // "a-hooked" sorts first: its page comes before the others'.
    for (const name of ['a-hooked', 'b-app', 'c-app']) {
      await k.core.createNamespacedPod({
        namespace,
        body: {
          metadata: {
            name,
            labels: name === 'a-hooked' ? { 'autocrane-test/webhook': 'fail' } : {},
            annotations: { 'probe.autocrane.io/http': `POD_IP:${port}/watchdog/${name}` },
          },
          spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
        },
      });
    }
    await eventually(async () => {
      const all = (await k.core.listNamespacedPod({ namespace })).items;
      if (all.length !== 3 || !all.every(isPodReady)) throw new Error('pods not ready');
    });
    await k.kc.makeApiClient(AdmissionregistrationV1Api).createValidatingWebhookConfiguration({
      body: {
        metadata: { name: webhookName },
        webhooks: [
          {
            name: webhookName,
            clientConfig: { url: `https://127.0.0.1:${await closedPort()}/validate` },
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 2,
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
            objectSelector: { matchLabels: { 'autocrane-test/webhook': 'fail' } },
            rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          },
        ],
      },
    });
    // The apiserver picks the configuration up within a moment.
    await eventually(async () => {
      const refused = await k.core
        .patchNamespacedPod(
          { namespace, name: 'a-hooked', body: { metadata: { annotations: { 'example.com/touch': String(Date.now()) } } } },
          mergePatch,
        )
        .then(() => false)
        .catch((error: { code?: number }) => error.code === 500);
      if (!refused) throw new Error('webhook not in effect yet');
    });
  });

  afterAll(async () => {
    await k.kc
      .makeApiClient(AdmissionregistrationV1Api)
      .deleteValidatingWebhookConfiguration({ name: webhookName })
      .catch(() => undefined);
    prober?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test("the hooked pod's 500 is its own refusal; the pods on later pages are written", async () => {
    for (const name of ['a-hooked', 'b-app', 'c-app']) await request(workload).post(`/fail/${name}`).expect(200);
    const refusals = podWriteRefusals('watchdog-sweep', { events: k.kc.makeApiClient(EventsV1Api) });
    const summary = await sweepWatchdogs(
      { namespace },
      { listPods: sweepPodLister(k.kc, 1), core: k.core, prober, refusals, log: (fields) => logged.push(fields) },
    );

    expect(summary).toMatchObject({ pages: 3, pods: 3, podsWritten: 2, podsRefused: 1, podsRefusedSystemic: 0 });
    for (const name of ['b-app', 'c-app']) {
      const pod = await k.core.readNamespacedPod({ namespace, name });
      expect(pod.metadata?.annotations?.['status.autocrane.io/http']).toMatch(/^error\//);
    }
    expect(logged).toEqual([
      expect.objectContaining({
        pod: 'a-hooked',
        reason: 'webhook-failed',
        httpStatus: 500,
        apiserverMessage: expect.stringMatching(/failed calling webhook/),
        attempts: 1,
      }),
    ]);
    const events = (await k.core.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === WRITE_REFUSED_EVENT_REASON);
    expect(events.map((e) => e.involvedObject.name)).toEqual(['a-hooked']);
  });
});

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../../api/app';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import { createMetricsRegistry } from '../../platform/metrics';
import { freshNamespace, type KubeClients, sandboxClients } from '../support/kube';

const TOKEN = 'apiserver-refusal-token';
/** The apiserver's limit on a pod's annotations, keys and values together. */
const ANNOTATIONS_LIMIT = 256 * 1024;

/**
 * A write the real apiserver refuses reaches the caller as the apiserver's 4xx, with its
 * message and field, not as a 500: a pod whose (foreign) annotations leave no room for a
 * watchdog status.
 */
describe('an apiserver refusal through the API', () => {
  let k: KubeClients;
  let namespace: string;
  let server: Server;
  let apiUrl: string;

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'refusal');
    const filler = 'x'.repeat(ANNOTATIONS_LIMIT - 600);
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'full', annotations: { 'team.example.com/notes': filler } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    const app = createApp({
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry(),
      checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
      watchdogs: { pods: k.core, authorizer: createAuthorizer({ cluster: kubernetesClusterAuth(k.kc), embeddedToken: TOKEN }) },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test("annotations too long: 422 with the apiserver's message and field, and the pod unchanged", async () => {
    const before = await k.core.readNamespacedPod({ namespace, name: 'full' });
    const res = await fetch(`${apiUrl}/v1/namespaces/${namespace}/pods/full/watchdogs/disk`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ level: 'warning', message: 'm'.repeat(1000) }),
    });
    const body = (await res.json()) as { error: string; details: { field: string; message: string }[] };
    expect({ status: res.status, body }).toMatchObject({
      status: 422,
      body: {
        error: expect.stringMatching(/^the Kubernetes apiserver refused the request \(Invalid\): .*metadata\.annotations: Too long/),
        details: [{ field: 'metadata.annotations', message: expect.stringContaining('Too long') }],
      },
    });
    // Not the resourceVersion: the scheduler and kwok go on binding the pod and writing its
    // status meanwhile. What the refused write would have touched is the pod's metadata.
    const after = await k.core.readNamespacedPod({ namespace, name: 'full' });
    expect({ annotations: after.metadata?.annotations, labels: after.metadata?.labels }).toEqual({
      annotations: before.metadata?.annotations,
      labels: before.metadata?.labels,
    });
  });
});

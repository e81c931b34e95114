import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import pino from 'pino';
import { createPodReader, createWatchdogHealthzServer, type HealthzServerOptions } from '../../cli/watchdog-healthz';
import { formatStatus } from '../../domain/watchdog/watchdog-status';
import { freshNamespace, KubeClients, sandboxClients } from '../support/kube';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The healthz sidecar, in process, reading its pod from the sandbox apiserver. */
describe('watchdog-healthz on the sandbox apiserver', () => {
  let k: KubeClients;
  let namespace: string;
  const servers: http.Server[] = [];

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'healthz');
    await k.core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'app' }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    });
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  /** Starts a server for pod `name` and returns a function GETting its /healthz. */
  async function start(name: string, options: Partial<HealthzServerOptions> = {}) {
    const app = createWatchdogHealthzServer({ readPod: createPodReader(k.kc, { namespace, name }), logger: silent, ...options });
    const server = http.createServer(app);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      return {
        status: res.status,
        body: (await res.json()) as { healthy: boolean; reason: string; watchdogs: unknown; aggregate: unknown },
      };
    };
  }

  /** Replaces the pod's `web` watchdog by a merge patch of its annotations. */
  const setStatus = (value: string) =>
    k.core.patchNamespacedPod(
      { namespace, name: 'app', body: { metadata: { annotations: { 'status.autocrane.io/web': value } } } },
      mergePatch,
    );

  test('an error watchdog answers 503; an info status answers 503 until it is more than min-ready old, then 200', async () => {
    const get = await start('app', { minReadySeconds: 2, cacheMs: 0 });
    await setStatus(formatStatus({ level: 'error', time: new Date(), message: 'HTTP 500' }));
    const error = await get();
    expect(error.status).toBe(503);
    expect(error.body).toMatchObject({ healthy: false, reason: 'watchdog in error: web', aggregate: 'error' });

    const clearedAt = new Date();
    await setStatus(formatStatus({ level: 'info', time: clearedAt, message: 'error cleared' }));
    // The status time is truncated to the second: healthy strictly after that second + 2 s.
    const statusTime = Math.floor(clearedAt.getTime() / 1000) * 1000;
    const recent = await get();
    expect(recent.status).toBe(503);
    expect(recent.body.reason).toMatch(/not more than min-ready 2s/);
    expect(recent.body.watchdogs).toEqual([expect.objectContaining({ name: 'web', level: 'info', message: 'error cleared' })]);

    let first200: number | undefined;
    for (let i = 0; i < 50 && first200 === undefined; i++) {
      const res = await get();
      if (res.status === 200) {
        first200 = Date.now();
        expect(res.body.reason).toMatch(/more than min-ready 2s/);
      } else {
        expect(Date.now() - statusTime).toBeLessThanOrEqual(2000 + 500); // no 503 long after min-ready
      }
      if (first200 === undefined) await sleep(100);
    }
    expect(first200).toBeDefined();
    expect(first200! - statusTime).toBeGreaterThan(2000);
  });

  test('always-healthy-after 1 s answers 200 even with an error status', async () => {
    await setStatus(formatStatus({ level: 'error', time: new Date(), message: 'still broken' }));
    const startedAt = Date.now();
    const get = await start('app', { alwaysHealthyAfterSeconds: 1, startedAt, cacheMs: 0 });
    const early = await get();
    if (Date.now() - startedAt < 1000) expect(early.status).toBe(503);
    await sleep(Math.max(0, startedAt + 1100 - Date.now()));
    const late = await get();
    expect(late.status).toBe(200);
    expect(late.body).toMatchObject({ healthy: true, reason: expect.stringMatching(/^always healthy/) });
  });

  test('a pod that cannot be read answers 503 saying so, with the default cache', async () => {
    const get = await start('no-such-pod');
    const res = await get();
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      healthy: false,
      reason: `cannot read the pod: reading pod ${namespace}/no-such-pod: the apiserver answered HTTP 404: pods "no-such-pod" not found`,
      watchdogs: null,
      aggregate: null,
    });
  });
});

/**
 * kubeJson's connections: one keep-alive agent per kubeconfig, and one resend when a kept
 * connection turns out to have been closed. Against an in-process HTTPS server with the
 * sandbox's own kind of certificates (stack/pki.ts), counting the TLS connections it accepts.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyKubeAccess, kubeJson, kubeWatch } from '../../platform/kube-json';
import { ensurePki, type ClusterPki } from '../../stack/pki';

let dir: string;
let pki: ClusterPki;
let server: https.Server;
let port: number;
let connections = 0;
/** Requests answered per connection, in order of arrival. */
let perConnection: number[] = [];
/** Which request (counted over all connections, from 1) the server drops instead of answering. */
let dropRequest = 0;
let requests = 0;
/** The watch requests' URLs, and the response of the last one, kept open for the test to write to. */
let watchRequests: string[] = [];
let openWatch: import('node:http').ServerResponse | null = null;

function kubeConfig(caPath = pki.caCert): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: readFileSync(caPath).toString('base64') }],
    users: [{ name: 'u', token: 'secret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-json-'));
  pki = ensurePki(dir);
  server = https.createServer({ cert: readFileSync(pki.apiserverCert), key: readFileSync(pki.apiserverKey) }, (req, res) => {
    requests++;
    const socket = req.socket as typeof req.socket & { index?: number };
    perConnection[socket.index!]!++;
    if (requests === dropRequest) {
      socket.destroy();
      return;
    }
    if (req.url?.startsWith('/watch/')) {
      watchRequests.push(req.url);
      if (req.url.startsWith('/watch/forbidden')) {
        res.statusCode = 403;
        res.end(JSON.stringify({ kind: 'Status', message: 'pods is forbidden' }));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.flushHeaders();
      openWatch = res;
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, authorization: req.headers.authorization }));
  });
  server.on('secureConnection', (socket: TLSSocket & { index?: number }) => {
    socket.index = connections++;
    perConnection.push(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  connections = 0;
  perConnection = [];
  requests = 0;
  dropRequest = 0;
  watchRequests = [];
  openWatch = null;
  server.closeAllConnections();
});

describe('kubeJson connections', () => {
  it('sends one request after the other over one TLS connection, with the credentials on each', async () => {
    const kc = kubeConfig();
    for (let i = 0; i < 5; i++) {
      await expect(kubeJson(kc, { method: 'GET', path: `/api/${i}` })).resolves.toEqual({
        path: `/api/${i}`,
        authorization: 'Bearer secret',
      });
    }
    expect(perConnection).toEqual([5]);
  });

  it('opens a connection per request in flight, and keeps them for the next ones', async () => {
    const kc = kubeConfig();
    await Promise.all([0, 1, 2].map((i) => kubeJson(kc, { method: 'GET', path: `/a/${i}` })));
    await Promise.all([0, 1, 2].map((i) => kubeJson(kc, { method: 'GET', path: `/b/${i}` })));
    expect(connections).toBe(3);
    expect(requests).toBe(6);
  });

  it('one agent per kubeconfig, replaced when its TLS material changes', async () => {
    const kc = kubeConfig();
    const first: https.RequestOptions = {};
    const again: https.RequestOptions = {};
    await applyKubeAccess(kc, first);
    await applyKubeAccess(kc, again);
    expect(again.agent).toBe(first.agent);
    const other: https.RequestOptions = {};
    await applyKubeAccess(kubeConfig(), other);
    expect(other.agent).not.toBe(first.agent);
    // A rotated CA (here: the CA file's content read again, changed).
    const rotated = mkdtempSync(join(tmpdir(), 'kube-json-ca-'));
    try {
      const otherPki = ensurePki(rotated);
      const kcRotated = kubeConfig(pki.caCert);
      const before: https.RequestOptions = {};
      await applyKubeAccess(kcRotated, before);
      kcRotated.clusters[0] = { ...kcRotated.clusters[0]!, caData: readFileSync(otherPki.caCert).toString('base64') };
      const after: https.RequestOptions = {};
      await applyKubeAccess(kcRotated, after);
      expect(after.agent).not.toBe(before.agent);
    } finally {
      rmSync(rotated, { recursive: true, force: true });
    }
  });

  it('a kept connection closed under a request: the request goes again, once, on a new connection', async () => {
    const kc = kubeConfig();
    await kubeJson(kc, { method: 'GET', path: '/first' });
    dropRequest = 2;
    await expect(kubeJson(kc, { method: 'PATCH', path: '/second', body: { a: 1 } })).resolves.toEqual({
      path: '/second',
      authorization: 'Bearer secret',
    });
    expect(perConnection).toEqual([2, 1]);
  });

  it('a POST is not sent again, even on a kept connection: it creates', async () => {
    const kc = kubeConfig();
    await kubeJson(kc, { method: 'GET', path: '/first' });
    dropRequest = 2;
    await expect(kubeJson(kc, { method: 'POST', path: '/create', body: { a: 1 } })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(requests).toBe(2);
  });

  it('a request dropped on a new connection is not sent again: the error reaches the caller', async () => {
    const kc = kubeConfig();
    dropRequest = 1;
    await expect(kubeJson(kc, { method: 'GET', path: '/only' })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(requests).toBe(1);
  });
});

describe('kubeWatch', () => {
  /** Resolves when `check` holds, polling every 5 ms (at most 2 s). */
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(check()).toBe(true);
  };

  it('streams each event as its line completes, over the connection a request left idle', async () => {
    const kc = kubeConfig();
    await kubeJson(kc, { method: 'GET', path: '/before' });
    const events: [string, unknown][] = [];
    const ends: unknown[] = [];
    const controller = await kubeWatch(
      kc,
      '/watch/pods',
      { labelSelector: 'app=web' },
      (type, object) => events.push([type, object]),
      (err) => ends.push(err),
    );
    expect(watchRequests).toEqual(['/watch/pods?labelSelector=app%3Dweb&watch=true']);
    // Reused: no second TLS connection.
    expect(connections).toBe(1);
    openWatch!.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MODI');
    await until(() => events.length === 1);
    openWatch!.write('FIED","object":{"metadata":{"name":"a"},"x":1}}\n\n');
    await until(() => events.length === 2);
    expect(events).toEqual([
      ['ADDED', { metadata: { name: 'a' } }],
      ['MODIFIED', { metadata: { name: 'a' }, x: 1 }],
    ]);
    expect(ends).toEqual([]);
    controller.abort();
    await until(() => ends.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ends).toHaveLength(1);
  });

  it('ends once when the apiserver ends the watch', async () => {
    const ends: unknown[] = [];
    await kubeWatch(
      kubeConfig(),
      '/watch/pods',
      {},
      () => undefined,
      (err) => ends.push(err),
    );
    openWatch!.end('{"type":"ADDED","object":{}}\n');
    await until(() => ends.length === 1);
    expect(ends).toEqual([undefined]);
  });

  it('a line that is not JSON ends the watch with an error that says where', async () => {
    const ends: unknown[] = [];
    const events: string[] = [];
    await kubeWatch(
      kubeConfig(),
      '/watch/pods',
      {},
      (type) => events.push(type),
      (err) => ends.push(err),
    );
    openWatch!.write('{"type":"ADDED","object":{}}\nnot json\n{"type":"DELETED","object":{}}\n');
    await until(() => ends.length === 1);
    expect(events).toEqual(['ADDED']);
    expect(String(ends[0])).toContain('WATCH /watch/pods: a line is not JSON');
  });

  it("an error answer rejects with the apiserver's message, and no event", async () => {
    const events: string[] = [];
    await expect(
      kubeWatch(
        kubeConfig(),
        '/watch/forbidden',
        {},
        (type) => events.push(type),
        () => undefined,
      ),
    ).rejects.toMatchObject({
      code: 403,
      message: expect.stringContaining('pods is forbidden'),
    });
    expect(events).toEqual([]);
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpProber, type HttpProber } from '../../../activities/watchdog/http-prober';
import { decideProbeWrite } from '../../../domain/watchdog/watchdog-probe';

// Real HTTP servers on loopback, port 0. Every server and prober is closed after each test.
const servers: http.Server[] = [];
const probers: HttpProber[] = [];

afterEach(async () => {
  for (const p of probers.splice(0)) p.close();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
});

async function serve(handler: http.RequestListener): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}` };
}

function prober(options: Parameters<typeof createHttpProber>[0] = {}): HttpProber {
  const p = createHttpProber(options);
  probers.push(p);
  return p;
}

describe('probe', () => {
  test('2xx is healthy', async () => {
    const { base } = await serve((_req, res) => res.writeHead(200).end('fine'));
    const result = await prober().probe(`${base}/watchdog`);
    expect(result).toMatchObject({ healthy: true, status: 200, outcome: 'ok' });
    expect(result.message).toBe(`GET ${base}/watchdog answered 200`);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  test('204 without a body is healthy, path and query are sent as given', async () => {
    let seen = '';
    const { base } = await serve((req, res) => {
      seen = req.url ?? '';
      res.writeHead(204).end();
    });
    const result = await prober().probe(`${base}/a/b?x=1&y=%20`);
    expect(result).toMatchObject({ healthy: true, status: 204, outcome: 'ok' });
    expect(seen).toBe('/a/b?x=1&y=%20');
  });

  test('500 is unhealthy, the message has the status and the start of the body on one line', async () => {
    const { base } = await serve((_req, res) => res.writeHead(500).end('database\nunreachable\r\n\tretry later'));
    const result = await prober().probe(`${base}/watchdog`);
    expect(result).toMatchObject({ healthy: false, status: 500, outcome: 'http-status' });
    expect(result.message).toBe(`GET ${base}/watchdog answered 500: database unreachable retry later`);
  });

  test('an error status with an empty body', async () => {
    const { base } = await serve((_req, res) => res.writeHead(503).end());
    const result = await prober().probe(`${base}/w`);
    expect(result).toMatchObject({ healthy: false, status: 503, outcome: 'http-status', message: `GET ${base}/w answered 503` });
  });

  test('a redirect is not followed', async () => {
    let targetHits = 0;
    const target = await serve((_req, res) => {
      targetHits++;
      res.writeHead(200).end('ok');
    });
    const { base } = await serve((_req, res) => res.writeHead(302, { location: `${target.base}/elsewhere` }).end());
    const result = await prober().probe(`${base}/watchdog`);
    expect(result).toMatchObject({ healthy: false, status: 302, outcome: 'http-status' });
    expect(result.message).toContain('redirect');
    expect(result.message).toContain('not followed');
    expect(result.message).toContain(`${target.base}/elsewhere`);
    expect(targetHits).toBe(0);
  });

  test('a server that never answers times out', async () => {
    const { base } = await serve(() => {
      // never answers
    });
    const result = await prober({ timeoutMs: 200 }).probe(`${base}/slow`);
    expect(result).toMatchObject({ healthy: false, outcome: 'timeout' });
    expect(result.status).toBeUndefined();
    expect(result.message).toBe(`GET ${base}/slow: timed out after 200 ms waiting for the response`);
    expect(result.durationMs).toBeGreaterThanOrEqual(190);
    expect(result.durationMs).toBeLessThan(2000);
  });

  test('the deadline covers the body: a 200 whose body never ends times out', async () => {
    const { base } = await serve((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const result = await prober({ timeoutMs: 200 }).probe(`${base}/w`);
    expect(result).toMatchObject({ healthy: false, status: 200, outcome: 'timeout' });
    expect(result.message).toContain('timed out after 200 ms reading the body');
  });

  test('a closed port is refused', async () => {
    const { server, base } = await serve(() => undefined);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await prober().probe(`${base}/watchdog`);
    expect(result).toMatchObject({ healthy: false, outcome: 'refused', message: `GET ${base}/watchdog: connection refused` });
    expect(result.status).toBeUndefined();
  });

  test('a connection dropped before the response is an error', async () => {
    const { base } = await serve((req) => req.socket.destroy());
    const result = await prober().probe(`${base}/w`);
    expect(result).toMatchObject({ healthy: false, outcome: 'error' });
    expect(result.message).toMatch(new RegExp(`^GET ${base}/w: `));
  });

  test('a huge body is read only in part', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 'x');
    const { base } = await serve((_req, res) => res.writeHead(500).end(big));
    const p = prober({ maxBodyBytes: 1000 });
    const failing = await p.probe(`${base}/w`);
    expect(failing).toMatchObject({ healthy: false, status: 500, outcome: 'http-status' });
    expect(failing.message.length).toBeLessThan(400);
    expect(failing.message).toMatch(/answered 500: x+…$/);

    const ok = await serve((_req, res) => res.writeHead(200).end(big));
    expect(await p.probe(`${ok.base}/w`)).toMatchObject({ healthy: true, status: 200, outcome: 'ok' });
  });

  test('https and other schemes are refused without a request', async () => {
    const p = prober();
    const https = await p.probe('https://127.0.0.1:1/w');
    expect(https).toMatchObject({ healthy: false, outcome: 'error' });
    expect(https.message).toContain("scheme 'https' is not supported");
    expect(await p.probe('ftp://127.0.0.1/w')).toMatchObject({ healthy: false, outcome: 'error' });
    expect(await p.probe('not a url')).toMatchObject({ healthy: false, outcome: 'error', message: 'GET not a url: not a valid URL' });
  });

  test('kept-alive connections are reused', async () => {
    let connections = 0;
    const { server, base } = await serve((_req, res) => res.writeHead(200).end('ok'));
    server.on('connection', () => connections++);
    const p = prober();
    for (let i = 0; i < 20; i++) expect((await p.probe(`${base}/w`)).healthy).toBe(true);
    expect(connections).toBeLessThanOrEqual(2);
  });

  test('idle connections are capped over all hosts: the longest idle is closed first', async () => {
    // One server on every loopback address stands in for many pods, each a host of its own.
    const server = http.createServer((_req, res) => res.writeHead(200).end('ok'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const { port } = server.address() as AddressInfo;
    const opened: string[] = [];
    server.on('connection', (socket) => opened.push(socket.remoteAddress ?? '?'));
    const openConnections = () =>
      new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    const url = (host: number) => `http://127.0.0.${host}:${port}/w`;

    const p = prober({ maxIdleSockets: 5, idleSocketTimeoutMs: 60_000 });
    for (let host = 1; host <= 30; host++) expect((await p.probe(url(host))).healthy).toBe(true);
    expect(opened).toHaveLength(30);
    // The 25 longest idle were closed by the prober; the server sees them go.
    for (let i = 0; i < 100 && (await openConnections()) > 5; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await openConnections()).toBe(5);

    // The most recent host is still connected; the first one was closed and reconnects.
    await p.probe(url(30));
    expect(opened).toHaveLength(30);
    await p.probe(url(1));
    expect(opened).toHaveLength(31);
  });

  test('maxIdleSockets 0 keeps no connection open', async () => {
    let connections = 0;
    const { server, base } = await serve((_req, res) => res.writeHead(200).end('ok'));
    server.on('connection', () => connections++);
    const p = prober({ maxIdleSockets: 0 });
    for (let i = 0; i < 3; i++) expect((await p.probe(`${base}/w`)).healthy).toBe(true);
    expect(connections).toBe(3);
  });

  test('a result feeds decideProbeWrite as is', async () => {
    const { base } = await serve((_req, res) => res.writeHead(500).end('boom'));
    const result = await prober().probe(`${base}/w`);
    expect(decideProbeWrite(undefined, result, new Date('2026-01-02T03:04:05Z'))).toBe(
      `error/2026-01-02T03:04:05Z/GET ${base}/w answered 500: boom`,
    );
  });

  test('use after close and bad options throw', async () => {
    expect(() => createHttpProber({ timeoutMs: 0 })).toThrow(RangeError);
    expect(() => createHttpProber({ concurrency: 1.5 })).toThrow(RangeError);
    expect(() => createHttpProber({ maxIdleSockets: -1 })).toThrow(RangeError);
    const p = createHttpProber();
    p.close();
    await expect(p.probe('http://127.0.0.1:1/')).rejects.toThrow('closed');
    await expect(p.probeAll([])).rejects.toThrow('closed');
  });
});

describe('probeAll', () => {
  test('runs at most `concurrency` probes at once and returns one result per key, in order', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { base } = await serve((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n'));
        res.writeHead(n % 5 === 0 ? 500 : 200).end(`n=${n}`);
      }, 10);
    });
    const targets = Array.from({ length: 50 }, (_, n) => ({ key: `pod-${n}`, url: `${base}/w?n=${n}` }));
    const progress: number[] = [];
    const results = await prober({ concurrency: 4 }).probeAll(targets, (done) => progress.push(done));

    expect(maxInFlight).toBeLessThanOrEqual(4);
    expect(maxInFlight).toBeGreaterThan(1);
    expect([...results.keys()]).toEqual(targets.map((t) => t.key));
    for (const [n, key] of targets.map((t, i) => [i, t.key] as const)) {
      expect(results.get(key)).toMatchObject({ healthy: n % 5 !== 0, status: n % 5 === 0 ? 500 : 200 });
    }
    expect(progress.at(-1)).toBe(50);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  test('failures are results, not exceptions', async () => {
    const { server, base: closedBase } = await serve(() => undefined);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const { base } = await serve((_req, res) => res.writeHead(200).end());
    const results = await prober().probeAll([
      { key: 'up', url: `${base}/w` },
      { key: 'down', url: `${closedBase}/w` },
      { key: 'tls', url: `https://127.0.0.1:1/w` },
    ]);
    expect(results.get('up')?.outcome).toBe('ok');
    expect(results.get('down')?.outcome).toBe('refused');
    expect(results.get('tls')?.outcome).toBe('error');
  });

  test('no targets', async () => {
    const progress: number[] = [];
    expect((await prober().probeAll([], (d) => progress.push(d))).size).toBe(0);
    expect(progress).toEqual([0]);
  });

  test('duplicate keys are a programming error', async () => {
    await expect(
      prober().probeAll([
        { key: 'a', url: 'http://127.0.0.1:1/' },
        { key: 'a', url: 'http://127.0.0.1:2/' },
      ]),
    ).rejects.toThrow(/duplicate probe key 'a'/);
  });
});

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { followPod, patchPodAnnotations, readPod, type PodObject } from '../../../datadeployer/pod-watch';
import { KubeHttp } from '../../../platform/kube-http';

/** followPod and the status patch against a scripted apiserver (the real one: test/integration/data-deployer.test.ts). */
describe('data deployer: following its pod', () => {
  const ref = { namespace: 'shop', name: 'web-0' };
  const pod = (rv: string, annotations: Record<string, string> = {}): PodObject => ({
    metadata: { name: 'web-0', resourceVersion: rv, annotations },
  });
  let server: http.Server;
  let kube: KubeHttp;
  let handle: (req: IncomingMessage, res: ServerResponse, url: URL) => void;
  const requests: string[] = [];
  const warnings: string[] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        warnings.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
        cb();
      },
    }),
  );

  beforeEach(async () => {
    requests.length = 0;
    warnings.length = 0;
    server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      handle(req, res, url);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kube = new KubeHttp({
      source: 'test',
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      insecureSkipTlsVerify: false,
      token: 't',
    });
  });
  afterEach(async () => {
    kube.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('GETs the pod, watches from its resourceVersion, and after an ERROR event (410) GETs it afresh and watches again', async () => {
    let gets = 0;
    const watches: URL[] = [];
    handle = (_req, res, url) => {
      if (url.searchParams.get('watch') !== 'true') {
        gets += 1;
        return res.end(JSON.stringify(pod(String(gets * 10), { n: `get-${gets}` })));
      }
      watches.push(url);
      if (watches.length === 1) {
        res.write(`${JSON.stringify({ type: 'MODIFIED', object: pod('11', { n: 'event' }) })}\n`);
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } })}\n`);
        res.end(
          `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version: 10 (12)' } })}\n`,
        );
      }
      // The second watch stays open.
    };
    const seen: string[] = [];
    const controller = new AbortController();
    const following = followPod(
      kube,
      ref,
      (p) => {
        seen.push(p.metadata?.annotations?.n ?? '?');
        if (seen.length === 3) setTimeout(() => controller.abort(), 50);
      },
      logger,
      controller.signal,
    );
    await following;
    expect(seen).toEqual(['get-1', 'event', 'get-2']);
    expect(requests[0]).toBe('GET /api/v1/namespaces/shop/pods/web-0');
    const first = watches[0]!.searchParams;
    expect(watches[0]!.pathname).toBe('/api/v1/namespaces/shop/pods');
    expect([first.get('fieldSelector'), first.get('resourceVersion'), first.get('allowWatchBookmarks')]).toEqual([
      'metadata.name=web-0',
      '10',
      'true',
    ]);
    expect(Number(first.get('timeoutSeconds'))).toBeGreaterThanOrEqual(240);
    expect(watches[1]?.searchParams.get('resourceVersion')).toBe('20');
    expect(warnings).toEqual(['watching pod shop/web-0 failed: watch error: too old resource version: 10 (12)']);
  });

  it('retries a failed read with backoff, saying which pod and why', async () => {
    let gets = 0;
    handle = (_req, res, url) => {
      if (url.searchParams.get('watch') === 'true') return; // stays open
      gets += 1;
      if (gets === 1) {
        res.statusCode = 403;
        return res.end(JSON.stringify({ message: 'forbidden', reason: 'Forbidden' }));
      }
      res.end(JSON.stringify(pod('5')));
    };
    const controller = new AbortController();
    const startedAt = Date.now();
    await followPod(kube, ref, () => controller.abort(), logger, controller.signal);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(warnings).toEqual([
      'watching pod shop/web-0 failed: reading pod shop/web-0: GET /api/v1/namespaces/shop/pods/web-0 answered HTTP 403: forbidden (the service account needs get, watch and patch on pods)',
    ]);
  });

  it('readPod names the pod; patchPodAnnotations merge-patches only the given keys as the field manager', async () => {
    let body = '';
    let contentType: string | undefined;
    handle = (req, res, url) => {
      if (url.pathname.endsWith('/missing')) {
        res.statusCode = 404;
        return res.end('{"message":"pods \\"missing\\" not found"}');
      }
      contentType = req.headers['content-type'];
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end('{}'));
    };
    await expect(readPod(kube, { namespace: 'shop', name: 'missing' })).rejects.toThrow(
      'reading pod shop/missing: GET /api/v1/namespaces/shop/pods/missing answered HTTP 404: pods "missing" not found',
    );
    await patchPodAnnotations(kube, ref, { 'status.data.autocrane.io/cfg': '{"version":"v1"}' }, 'autocrane');
    expect(requests.at(-1)).toBe('PATCH /api/v1/namespaces/shop/pods/web-0?fieldManager=autocrane');
    expect(contentType).toBe('application/merge-patch+json');
    expect(JSON.parse(body)).toEqual({ metadata: { annotations: { 'status.data.autocrane.io/cfg': '{"version":"v1"}' } } });
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

import { KubeApiError, KubeHttp, parseKubeconfig, TOKEN_FILE_REFRESH_MS, type KubeAccess } from '../../platform/kube-http';

import { b64, kubeconfig } from '../support/kubeconfig-text';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  clientCn?: string | string[];
}

/** A local server answering each request with `handler`; records what it received. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: https.ServerOptions) {
  const seen: Seen[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const peer = tls ? (req.socket as TLSSocket).getPeerCertificate() : undefined;
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, clientCn: peer?.subject?.CN });
      handler(req, res);
    });
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    seen,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const access = (server: string, extra: Partial<KubeAccess> = {}): KubeAccess => ({
  source: 'test',
  server,
  insecureSkipTlsVerify: false,
  ...extra,
});

describe('KubeHttp', () => {
  const clients: KubeHttp[] = [];
  const client = (a: KubeAccess, ...rest: [((p: string) => Buffer)?, (() => number)?]) => {
    const c = new KubeHttp(a, ...rest);
    clients.push(c);
    return c;
  };
  afterEach(() => clients.splice(0).forEach((c) => c.close()));

  it('GETs JSON with the bearer token and the query; PATCHes a merge patch', async () => {
    const server = await serve((_req, res) => res.end(JSON.stringify({ metadata: { name: 'p' } })));
    try {
      const kube = client(access(server.url, { token: 'tok', impersonate: 'who' }));
      expect(
        await kube.json({
          method: 'GET',
          path: '/api/v1/namespaces/ns/pods/p',
          query: { a: 'x y', skip: undefined, n: 3 },
          timeoutMs: 5000,
        }),
      ).toEqual({ metadata: { name: 'p' } });
      await kube.json({
        method: 'PATCH',
        path: '/p',
        body: { metadata: { annotations: { k: 'v' } } },
        contentType: 'application/merge-patch+json',
        timeoutMs: 5000,
      });
      expect(server.seen[0]).toMatchObject({
        method: 'GET',
        url: '/api/v1/namespaces/ns/pods/p?a=x+y&n=3',
        headers: { authorization: 'Bearer tok', 'impersonate-user': 'who', accept: 'application/json' },
      });
      expect(server.seen[1]).toMatchObject({
        method: 'PATCH',
        headers: { 'content-type': 'application/merge-patch+json' },
        body: '{"metadata":{"annotations":{"k":"v"}}}',
      });
    } finally {
      await server.close();
    }
  });

  it('sends basic credentials when there is no token', async () => {
    const server = await serve((_req, res) => res.end('{}'));
    try {
      await client(access(server.url, { basic: { username: 'u', password: 'p' } })).json({ method: 'GET', path: '/', timeoutMs: 5000 });
      expect(server.seen[0]?.headers.authorization).toBe(`Basic ${b64('u:p')}`);
    } finally {
      await server.close();
    }
  });

  it('rejects a non-2xx answer with a KubeApiError carrying the status, the Status message and reason', async () => {
    const server = await serve((req, res) => {
      res.statusCode = req.url === '/plain' ? 502 : 403;
      res.end(
        req.url === '/plain'
          ? 'bad gateway'
          : JSON.stringify({ kind: 'Status', message: 'pods "p" is forbidden: User "x" cannot get', reason: 'Forbidden' }),
      );
    });
    try {
      const kube = client(access(server.url));
      const forbidden = await kube.json({ method: 'GET', path: '/api/v1/namespaces/ns/pods/p', timeoutMs: 5000 }).catch((e: unknown) => e);
      expect(forbidden).toBeInstanceOf(KubeApiError);
      expect(forbidden).toMatchObject({
        status: 403,
        reason: 'Forbidden',
        message: 'GET /api/v1/namespaces/ns/pods/p answered HTTP 403: pods "p" is forbidden: User "x" cannot get',
      });
      await expect(kube.json({ method: 'GET', path: '/plain', timeoutMs: 5000 })).rejects.toMatchObject({
        status: 502,
        message: 'GET /plain answered HTTP 502',
      });
    } finally {
      await server.close();
    }
  });

  it('says when the apiserver does not answer in time, is unreachable, or answers something else than JSON', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/html') res.end('<html>');
      // /slow never answers.
    });
    try {
      const kube = client(access(server.url));
      await expect(kube.json({ method: 'GET', path: '/slow', timeoutMs: 200 })).rejects.toThrow('GET /slow: no answer within 200 ms');
      await expect(kube.json({ method: 'GET', path: '/html', timeoutMs: 5000 })).rejects.toThrow('GET /html: the answer is not JSON');
    } finally {
      await server.close();
    }
    await expect(client(access(server.url)).json({ method: 'GET', path: '/x', timeoutMs: 5000 })).rejects.toThrow(
      /GET \/x: .*ECONNREFUSED/,
    );
  });

  it('streams JSON lines split anywhere across chunks, until the server ends the response', async () => {
    const lines = [
      { type: 'ADDED', object: { n: 1 } },
      { type: 'MODIFIED', object: { n: 2, text: 'ü'.repeat(10) } },
      { type: 'BOOKMARK', object: {} },
    ];
    const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
    const server = await serve((_req, res) => {
      const bytes = Buffer.from(text);
      // Odd chunk boundaries, inside lines and inside a multi-byte character.
      res.write(bytes.subarray(0, 7));
      setTimeout(() => res.write(bytes.subarray(7, 45)), 10);
      setTimeout(() => res.end(bytes.subarray(45)), 20);
    });
    try {
      const got: unknown[] = [];
      await client(access(server.url)).stream({ path: '/api/v1/namespaces/ns/pods', query: { watch: true }, timeoutMs: 5000 }, (o) =>
        got.push(o),
      );
      expect(got).toEqual(lines);
      expect(server.seen[0]?.url).toBe('/api/v1/namespaces/ns/pods?watch=true');
    } finally {
      await server.close();
    }
  });

  it("stops a stream on the caller's abort (with its reason) or its deadline, and refuses a line that is not JSON", async () => {
    const server = await serve((req, res) => {
      if (req.url === '/garbage') return res.end('{"type":"ADDED"}\nnot json\n');
      res.write('{"type":"ADDED","object":{}}\n'); // then nothing more
    });
    try {
      const kube = client(access(server.url));
      const controller = new AbortController();
      const got: unknown[] = [];
      const streaming = kube.stream({ path: '/', timeoutMs: 60_000, signal: controller.signal }, (o) => {
        got.push(o);
        controller.abort(new Error('stopping'));
      });
      await expect(streaming).rejects.toThrow('stopping');
      expect(got).toHaveLength(1);
      await expect(kube.stream({ path: '/', timeoutMs: 300 }, () => undefined)).rejects.toThrow('GET /: no answer within 300 ms');
      await expect(kube.stream({ path: '/garbage', timeoutMs: 5000 }, () => undefined)).rejects.toThrow(
        'GET /garbage: a line of the stream is not JSON',
      );
    } finally {
      await server.close();
    }
  });

  it('re-reads a token file once a minute and keeps the last token while the file cannot be read', async () => {
    const server = await serve((_req, res) => res.end('{}'));
    try {
      let token: string | undefined = 'one';
      let now = 0;
      const readFile = () => {
        if (token === undefined) throw new Error('ENOENT');
        return Buffer.from(`${token}\n`);
      };
      const kube = client(access(server.url, { tokenFile: '/sa/token' }), readFile, () => now);
      const get = () => kube.json({ method: 'GET', path: '/', timeoutMs: 5000 });
      await get();
      token = 'two';
      now = TOKEN_FILE_REFRESH_MS - 1;
      await get();
      now = TOKEN_FILE_REFRESH_MS;
      await get();
      token = undefined;
      now = 3 * TOKEN_FILE_REFRESH_MS;
      await get();
      expect(server.seen.map((s) => s.headers.authorization)).toEqual(['Bearer one', 'Bearer one', 'Bearer two', 'Bearer two']);
    } finally {
      await server.close();
    }
  });

  describe('over TLS', () => {
    let dir: string;
    let pem: (name: string) => Promise<Buffer>;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kube-http-tls-'));
      const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca');
      await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:kubernetes\nextendedKeyUsage=serverAuth,clientAuth\n');
      for (const [name, cn] of [
        ['server', 'apiserver'],
        ['client', 'data-deployer'],
      ]) {
        openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
        openssl(
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          `${name}.crt`,
          '-days',
          '1',
          '-extfile',
          'san.ext',
        );
      }
      pem = (name) => readFile(join(dir, name));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it("verifies the apiserver against the kubeconfig's CA and presents its client certificate; refuses an unknown CA", async () => {
      const server = await serve((_req, res) => res.end('{"ok":true}'), {
        key: await pem('server.key'),
        cert: await pem('server.crt'),
        ca: await pem('ca.crt'),
        requestCert: true,
        rejectUnauthorized: false,
      });
      try {
        const text = kubeconfig(
          { server: server.url, 'certificate-authority': 'ca.crt' },
          { 'client-certificate-data': (await pem('client.crt')).toString('base64'), 'client-key': join(dir, 'client.key') },
        );
        const kube = client(parseKubeconfig(text, join(dir, 'config')));
        expect(await kube.json({ method: 'GET', path: '/version', timeoutMs: 5000 })).toEqual({ ok: true });
        expect(server.seen[0]?.clientCn).toBe('data-deployer');

        const named = client(
          access(server.url.replace('127.0.0.1', 'localhost'), { ca: await pem('ca.crt'), tlsServerName: 'kubernetes' }),
        );
        expect(await named.json({ method: 'GET', path: '/', timeoutMs: 5000 })).toEqual({ ok: true });

        await expect(client(access(server.url)).json({ method: 'GET', path: '/version', timeoutMs: 5000 })).rejects.toThrow(
          /GET \/version: .*(self-signed|unable to verify|local issuer)/i,
        );
        expect(
          await client(access(server.url, { insecureSkipTlsVerify: true })).json({ method: 'GET', path: '/', timeoutMs: 5000 }),
        ).toEqual({ ok: true });
      } finally {
        await server.close();
      }
    });
  });
});

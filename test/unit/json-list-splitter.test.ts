import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { JsonListSplitter } from '../../platform/json-list-splitter';
import { expiredListContinueToken, getListPage, kubernetesErrorStatus, streamListPage } from '../../platform/kubernetes';

/** Feeds `text` to a splitter in chunks of `size` bytes; returns the items and the rest. */
function split(text: string, size: number) {
  const items: unknown[] = [];
  const splitter = new JsonListSplitter((item) => items.push(item));
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) splitter.write(bytes.subarray(i, i + size));
  return { items, rest: splitter.end() };
}

const tricky = {
  kind: 'PodList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'tok"en}]', remainingItemCount: 3 },
  items: [
    {
      metadata: { name: 'a', annotations: { 'x/y': 'braces } ] { [ and "quotes" \\ backslash', items: '[1,2]' } },
      status: { podIP: '10.0.0.1' },
    },
    { metadata: { name: 'é-ünïcödé-😀', labels: {} }, spec: { containers: [{ name: 'c', args: ['{', ']'] }] } },
    { metadata: { name: 'c' }, nested: [[[]], { items: [{ deep: true }] }] },
  ],
  trailer: { items: ['not', 'these'] },
};

describe('JsonListSplitter', () => {
  test.each([1, 2, 3, 7, 64, 100_000])('items one by one and the rest, in chunks of %i bytes', (size) => {
    const { items, rest } = split(JSON.stringify(tricky, null, size % 2 === 0 ? 2 : undefined), size);
    expect(items).toEqual(tricky.items);
    expect(rest).toEqual({ ...tricky, items: [] });
  });

  test('each item is handed over as soon as it is complete', () => {
    const seen: string[] = [];
    const splitter = new JsonListSplitter((item) => seen.push((item.metadata as { name: string }).name));
    splitter.write(Buffer.from('{"metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"na'));
    expect(seen).toEqual(['a']);
    splitter.write(Buffer.from('me":"b"}}]}\n'));
    expect(seen).toEqual(['a', 'b']);
    expect(splitter.end()).toEqual({ metadata: {}, items: [] });
  });

  test('empty and null items, and a list without items', () => {
    expect(split('{"items":[]}', 3)).toEqual({ items: [], rest: { items: [] } });
    expect(split('{"items":null,"metadata":{}}', 3)).toEqual({ items: [], rest: { items: null, metadata: {} } });
    expect(split('{"kind":"Status","code":410}', 5)).toEqual({ items: [], rest: { kind: 'Status', code: 410 } });
  });

  test.each([
    ['[1,2]', 'not an object'],
    ['{"items":{"a":1}}', 'items is not an array'],
    ['{"items":[1]}', 'not an object'],
    ['{"items":["a"]}', 'not an object'],
    ['}', 'unbalanced'],
    ['{"items":[{}]}}', 'data after the end'],
    ['{"items":[{}]} x', 'data after the end'],
  ])('%s is refused (%s)', (text, message) => {
    expect(() => split(text, 4)).toThrow(message);
  });

  test('an item that is not valid JSON fails with JSON.parse, an unfinished list at the end', () => {
    expect(() => split('{"items":[{"a":tru}]}', 4)).toThrow(SyntaxError);
    expect(() => split('{"items":[{"a":1}', 4)).toThrow('ended before');
  });
});

describe('streamListPage', () => {
  let server: http.Server;
  let kc: KubeConfig;
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  const requests: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      answer(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('items arrive one by one from a chunked answer; the page says its token and what remains', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const body = JSON.stringify({
        kind: 'PodList',
        metadata: { continue: 'next', resourceVersion: '9', remainingItemCount: 7 },
        items: [{ a: 1 }, { b: 2 }],
      });
      // Three writes, split inside the items.
      res.write(body.slice(0, 60));
      res.write(body.slice(60, 75));
      res.end(body.slice(75));
    };
    const items: unknown[] = [];
    const info = await streamListPage(kc, { path: '/api/v1/namespaces/ns/pods', limit: 2, continueToken: 'prev' }, (item) =>
      items.push(item),
    );
    expect(items).toEqual([{ a: 1 }, { b: 2 }]);
    expect(info).toEqual({ continueToken: 'next', resourceVersion: '9', remainingItemCount: 7 });
    expect(requests.at(-1)).toBe('/api/v1/namespaces/ns/pods?limit=2&continue=prev');
    expect(await getListPage(kc, { path: '/api/v1/namespaces/ns/pods', limit: 2 })).toEqual({ items: [{ a: 1 }, { b: 2 }], ...info });
  });

  test('an error status is an ApiException with the Status body (a 410 with its continue token)', async () => {
    answer = (_req, res) =>
      res
        .writeHead(410, { 'content-type': 'application/json' })
        .end(JSON.stringify({ kind: 'Status', code: 410, message: 'too old', metadata: { continue: 'fresh' } }));
    const failure = await streamListPage(kc, { path: '/api/v1/namespaces/ns/pods', limit: 2, continueToken: 'old' }, () => undefined).catch(
      (e: unknown) => e,
    );
    expect(kubernetesErrorStatus(failure)).toBe(410);
    expect((failure as Error).message).toContain('GET /api/v1/namespaces/ns/pods answered HTTP 410: too old');
    expect(expiredListContinueToken(failure)).toBe('fresh');
  });

  test('an answer that is not a list, or is cut short, fails', async () => {
    answer = (_req, res) => res.writeHead(200).end('<html>');
    await expect(streamListPage(kc, { path: '/p', limit: 1 }, () => undefined)).rejects.toThrow(
      'GET /p: the answer is not a complete JSON list',
    );
    answer = (_req, res) => res.writeHead(200).end('{"items":[{"a":1}');
    await expect(streamListPage(kc, { path: '/p', limit: 1 }, () => undefined)).rejects.toThrow('not a complete JSON list');
    answer = (_req, res) => res.writeHead(200).end('{"items":[{"a":nope}]}');
    await expect(streamListPage(kc, { path: '/p', limit: 1 }, () => undefined)).rejects.toThrow('GET /p: the answer is not JSON');
  });

  test('an error thrown by onItem abandons the request and rejects with it', async () => {
    answer = (_req, res) => res.writeHead(200).end('{"items":[{"a":1},{"a":2}]}');
    await expect(
      streamListPage(kc, { path: '/p', limit: 2 }, () => {
        throw new RangeError('enough');
      }),
    ).rejects.toThrow(new RangeError('enough'));
  });

  test('no answer within the timeout', async () => {
    answer = () => undefined;
    await expect(streamListPage(kc, { path: '/p', limit: 1, timeoutMs: 200 }, () => undefined)).rejects.toThrow(
      'GET /p: no answer within 200 ms',
    );
  });
});

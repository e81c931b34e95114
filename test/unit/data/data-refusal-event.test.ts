import { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { createDataRefusalEventActivities, type DataRefusalEventApi } from '../../../activities/data/data-refusal-event';
import type { Refusal } from '../../../domain/data/data-archive-rules';
import { dataArchiveRefusedEventName, dataArchiveRefusedMessage, isNewRefusal } from '../../../domain/data/data-refusal-event';

const refusal = (over: Partial<Refusal> = {}): Refusal => ({
  ref: '"etag-1"',
  reason: 'corrupt-gzip',
  message: 'unexpected end of file',
  at: '2026-12-08T02:00:00.000Z',
  count: 1,
  retryAt: '2026-12-08T02:01:00.000Z',
  ...over,
});

describe('isNewRefusal: only a refusal this poll made is told by Event', () => {
  test.each<[string, Refusal | undefined, Refusal | null, boolean]>([
    ['nothing refused', undefined, null, false],
    ['refusal standing before, none now (stored or unchanged)', refusal(), null, false],
    ['first refusal', undefined, refusal(), true],
    ['the standing refusal repeated during its back-off', refusal(), refusal(), false],
    ['refused again after the back-off', refusal(), refusal({ count: 2, at: '2026-12-08T02:01:05.000Z' }), true],
    ['refused again at once after a restart forgot the count', refusal({ count: 1, at: '2026-12-08T01:00:00.000Z' }), refusal(), true],
  ])('%s', (_name, before, after, expected) => {
    expect(isNewRefusal(before, after)).toBe(expected);
  });
});

describe('dataArchiveRefusedEventName', () => {
  test('deterministic per (source, ref, reason), different when any differs', () => {
    const name = dataArchiveRefusedEventName('maps', '"etag-1"', 'corrupt-gzip');
    expect(name).toBe(dataArchiveRefusedEventName('maps', '"etag-1"', 'corrupt-gzip'));
    expect(name).toMatch(/^autocrane-data-maps\.archive-refused\.[0-9a-f]{16}$/);
    expect(
      new Set([
        name,
        dataArchiveRefusedEventName('maps', '"etag-2"', 'corrupt-gzip'),
        dataArchiveRefusedEventName('maps', '"etag-1"', 'corrupt-tar'),
        dataArchiveRefusedEventName('maps', null, 'corrupt-gzip'),
        dataArchiveRefusedEventName('maps2', '"etag-1"', 'corrupt-gzip'),
      ]).size,
    ).toBe(5);
  });

  test('a long source still gives a DNS subdomain of at most 253 characters', () => {
    const name = dataArchiveRefusedEventName('s'.repeat(300) + '-', 'sha256:ab', 'unsafe-path');
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).toMatch(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
    expect(name).not.toMatch(/[-.]{2}/);
  });
});

test('dataArchiveRefusedMessage names the source, the ref and the reason', () => {
  expect(dataArchiveRefusedMessage('maps', refusal())).toBe(
    `data repository refused ref "etag-1" of data source 'maps' (corrupt-gzip): unexpected end of file; not stored, not announced; fetched again after 2026-12-08T02:01:00.000Z`,
  );
  expect(dataArchiveRefusedMessage('maps', refusal({ ref: null }))).toContain('content whose ref was not known yet');
});

describe('recordDataArchiveRefusal (apiserver stubbed)', () => {
  const apiError = (code: number) =>
    Object.assign(new Error(`HTTP ${code}`), { code, body: JSON.stringify({ message: `answer ${code}` }) });
  function stub(answers: Record<string, number | undefined> = {}, mirrors: string[] = []) {
    const created: Array<{ namespace: string; body: { metadata: { name?: string }; involvedObject: { kind?: string }; count?: number } }> =
      [];
    const patched: Array<{ namespace: string; name: string; body: unknown }> = [];
    const api = {
      readNamespacedConfigMap: async ({ namespace }: { namespace: string }) => {
        if (!mirrors.includes(namespace)) throw apiError(404);
        return { metadata: { uid: `uid-${namespace}` } };
      },
      createNamespacedEvent: async (request: (typeof created)[number]) => {
        const code = answers[request.namespace];
        if (code !== undefined) throw apiError(code);
        created.push(request);
        return request.body;
      },
      patchNamespacedEvent: async (request: (typeof patched)[number]) => {
        patched.push(request);
        return {};
      },
    } as unknown as DataRefusalEventApi;
    return { created, patched, activities: createDataRefusalEventActivities(new KubeConfig(), api, 'worker-1') };
  }

  test('anchors on the ConfigMap mirror where it exists, else on the Namespace; 409 raises the count instead', async () => {
    const { created, patched, activities } = stub({ c: 409 }, ['a']);
    const result = await activities.recordDataArchiveRefusal({
      source: 'maps',
      refusal: refusal({ count: 3 }),
      namespaces: ['a', 'b', 'c'],
    });
    expect(result.namespaces).toEqual({ a: 'created', b: 'created', c: 'counted' });
    expect(created.map((c) => [c.namespace, c.body.involvedObject.kind, c.body.count])).toEqual([
      ['a', 'ConfigMap', 3],
      ['b', 'Namespace', 3],
    ]);
    expect(patched).toEqual([
      {
        namespace: 'c',
        name: dataArchiveRefusedEventName('maps', '"etag-1"', 'corrupt-gzip'),
        body: expect.objectContaining({ count: 3, lastTimestamp: '2026-12-08T02:00:00.000Z' }),
        fieldManager: 'autocrane',
      },
    ]);
  });

  test('a namespace that refuses for good is reported, the others still get the Event', async () => {
    const { created, activities } = stub({ a: 403 });
    const result = await activities.recordDataArchiveRefusal({ source: 'maps', refusal: refusal(), namespaces: ['a', 'b'] });
    expect(result.namespaces.a).toBe('HTTP 403: answer 403');
    expect(created.map((c) => c.namespace)).toEqual(['b']);
  });

  test('a namespace failing for a reason a retry may change fails the activity retryably, after the others', async () => {
    const { created, activities } = stub({ a: 503 });
    const failure = await activities
      .recordDataArchiveRefusal({ source: 'maps', refusal: refusal(), namespaces: ['a', 'b'] })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
    expect((failure as ApplicationFailure).message).toContain("data source 'maps' not recorded in a (HTTP 503");
    expect(created.map((c) => c.namespace)).toEqual(['b']);
  });
});

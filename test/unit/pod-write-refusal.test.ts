import { classifyPodWriteRefusal, failsTheLoop, loopWrites, PodBackoff } from '../../domain/shared/pod-write-refusal';
import { shortenStatusValue } from '../../domain/watchdog/watchdog-status';

describe('classifyPodWriteRefusal', () => {
  test.each([
    [422, 'Pod "big" is invalid: metadata.annotations: Too long: must have at most 262144 bytes', 'too-large', false],
    [413, 'Request entity too large: limit is 3145728', 'too-large', false],
    [500, 'etcdserver: request is too large', 'too-large', false],
    [400, 'admission webhook "deny.example.com" denied the request: no', 'denied', false],
    [403, 'admission webhook "deny.example.com" denied the request: no', 'denied', false],
    [422, "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: nope", 'denied', false],
    [422, 'Pod "x" is invalid: metadata.labels: Invalid value', 'invalid', false],
    [400, 'bad patch', 'invalid', false],
    [409, 'the object has been modified', 'conflict', false],
    [410, 'gone', 'rejected', false],
    [403, 'pods "x" is forbidden: User "u" cannot patch resource "pods"', 'forbidden', true],
    [401, 'Unauthorized', 'forbidden', true],
    [429, 'too many requests', 'unavailable', true],
    [429, "Cannot evict pod as it would violate the pod's disruption budget.", 'disruption-budget', false],
    [503, 'service unavailable', 'unavailable', true],
    [
      500,
      'Internal error occurred: failed calling webhook "one-pod.example.com": failed to call webhook: Post "https://127.0.0.1:1/validate?timeout=5s": dial tcp 127.0.0.1:1: connect: connection refused',
      'webhook-failed',
      false,
    ],
    [500, 'Internal error occurred: failed calling webhook "slow.example.com": context deadline exceeded', 'webhook-failed', false],
    [504, 'Timeout: request did not complete within requested timeout - context deadline exceeded', 'unavailable', true],
    [429, 'Too many requests, please try again later.', 'unavailable', true],
    [500, 'Internal error occurred: etcdserver: leader changed', 'unavailable', true],
    [undefined, 'connect ECONNREFUSED 127.0.0.1:6443', 'unavailable', true],
  ] as const)('%s %s → %s', (httpStatus, message, reason, systemic) => {
    expect(classifyPodWriteRefusal({ ...(httpStatus !== undefined && { httpStatus }), message })).toEqual({ reason, systemic });
  });
});

describe('failsTheLoop', () => {
  const systemic = { reason: 'unavailable' as const, systemic: true };
  const own = { reason: 'too-large' as const, systemic: false };
  test.each([
    ['no write at all', 0, [], false],
    ['one pod refused beside a success', 1, [own], false],
    ['one pod refused, nothing else to write', 0, [own], false],
    ['every write refused by the pods themselves', 0, [own, own, own], false],
    ['unreachable for one pod while others got through', 3, [systemic], false],
    ['the only write of the loop got a 5xx or 429', 0, [systemic], false],
    ['two writes, both unanswered: too few to call the apiserver down', 0, [systemic, systemic], false],
    ['every write unreachable', 0, [systemic, systemic, systemic], true],
    ['every write unreachable but one pod-specific', 0, [systemic, systemic, systemic, own], false],
    ['many unreachable, one got through', 1, [systemic, systemic, systemic, systemic], false],
  ] as const)('%s', (_name, succeeded, failures, fails) => {
    expect(failsTheLoop(loopWrites(succeeded, failures))).toBe(fails);
  });
});

describe('PodBackoff', () => {
  test('doubles per refusal up to the maximum, per UID, and a success forgets', () => {
    const backoff = new PodBackoff({ baseMs: 1000, maxMs: 5000, maxEntries: 10 });
    expect(backoff.blocked('a', 0)).toBeUndefined();
    expect(backoff.refused('a', 0)).toEqual({ attempts: 1, retryAt: 1000 });
    expect(backoff.blocked('a', 999)).toEqual({ attempts: 1, retryAt: 1000 });
    expect(backoff.blocked('a', 1000)).toBeUndefined();
    expect(backoff.blocked('b', 0)).toBeUndefined();
    expect(backoff.refused('a', 1000)).toEqual({ attempts: 2, retryAt: 3000 });
    expect(backoff.refused('a', 3000)).toEqual({ attempts: 3, retryAt: 7000 });
    expect(backoff.refused('a', 7000)).toEqual({ attempts: 4, retryAt: 12000 });
    backoff.succeeded('a');
    expect(backoff.blocked('a', 7001)).toBeUndefined();
    expect(backoff.refused('a', 0)).toEqual({ attempts: 1, retryAt: 1000 });
  });

  test('remembers at most maxEntries pods, forgetting the oldest refusal first', () => {
    const backoff = new PodBackoff({ baseMs: 1000, maxMs: 5000, maxEntries: 2 });
    backoff.refused('a', 0);
    backoff.refused('b', 0);
    backoff.refused('a', 0); // a is now the newest
    backoff.refused('c', 0);
    expect(backoff.size).toBe(2);
    expect(backoff.blocked('b', 1)).toBeUndefined();
    expect(backoff.blocked('a', 1)).toBeDefined();
    expect(backoff.blocked('c', 1)).toBeDefined();
  });
});

describe('shortenStatusValue', () => {
  test.each([
    ['error/2026-12-02T10:00:00Z/short', 'error/2026-12-02T10:00:00Z/short'],
    [`error/2026-12-02T10:00:00Z/${'x'.repeat(100)}`, `error/2026-12-02T10:00:00Z/${'x'.repeat(63)}…`],
    [`info/2026-12-02T10:00:00Z/a/b/${'é'.repeat(70)}`, `info/2026-12-02T10:00:00Z/a/b/${'é'.repeat(59)}…`],
    ['garbled', 'garbled'],
  ])('%s', (value, shortened) => {
    expect(shortenStatusValue(value)).toBe(shortened);
  });
});

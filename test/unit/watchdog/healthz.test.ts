import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { CommanderError } from 'commander';
import request from 'supertest';
import { createProgram } from '../../../cli/main';
import {
  cachePodReader,
  createPodReader,
  createWatchdogHealthzServer,
  parseSeconds,
  podFromEnv,
  type PodReader,
} from '../../../cli/watchdog-healthz';
import { decideHealthz, type HealthzWatchdog } from '../../../domain/watchdog/healthz';
import { ConfigError } from '../../../platform/config';
import { captureLogs } from '../../support/logs';

const NOW = Date.parse('2026-11-22T05:00:00.000Z');
const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000);
const wd = (name: string, declaredLevel: string, secondsAgo?: number): HealthzWatchdog =>
  secondsAgo === undefined ? { name, declaredLevel } : { name, declaredLevel, time: at(secondsAgo) };

describe('decideHealthz', () => {
  const base = { now: new Date(NOW), startedAt: at(10), minReadySeconds: 0 };

  it.each<
    [
      string,
      {
        watchdogs: HealthzWatchdog[] | { readError: string };
        minReadySeconds?: number;
        alwaysHealthyAfterSeconds?: number;
        startedAt?: Date;
      },
      boolean,
      RegExp,
    ]
  >([
    ['no watchdog at all', { watchdogs: [] }, true, /no watchdog status/],
    ['no watchdog at all, even with min-ready', { watchdogs: [], minReadySeconds: 3600 }, true, /no watchdog status/],
    ['an error now', { watchdogs: [wd('a', 'error', 3600)] }, false, /in error: a$/],
    ['an error among infos', { watchdogs: [wd('b', 'info', 100), wd('a', 'error', 50), wd('c', 'warning', 100)] }, false, /in error: a$/],
    ['several errors are all named, sorted', { watchdogs: [wd('z', 'error', 1), wd('a', 'error', 1)] }, false, /watchdogs in error: a, z$/],
    ['an error whose time is garbled still counts', { watchdogs: [wd('a', 'error')] }, false, /in error: a/],
    ['info older than min-ready', { watchdogs: [wd('a', 'info', 31)], minReadySeconds: 30 }, true, /more than min-ready 30s/],
    [
      'info exactly min-ready old is NOT healthy (strict)',
      { watchdogs: [wd('a', 'info', 30)], minReadySeconds: 30 },
      false,
      /not more than min-ready 30s/,
    ],
    ['info 1 ms past min-ready', { watchdogs: [wd('a', 'info', 30.001)], minReadySeconds: 30 }, true, /more than min-ready/],
    ['info 1 ms short of min-ready', { watchdogs: [wd('a', 'info', 29.999)], minReadySeconds: 30 }, false, /not more than/],
    [
      'min-ready 0: a status written exactly now is not healthy (strict)',
      { watchdogs: [wd('a', 'info', 0)] },
      false,
      /not more than min-ready 0s/,
    ],
    ['min-ready 0: a status 1 ms old is healthy', { watchdogs: [wd('a', 'info', 0.001)] }, true, /more than min-ready 0s/],
    ['the NEWEST status decides', { watchdogs: [wd('old', 'info', 100), wd('new', 'warning', 10)], minReadySeconds: 30 }, false, /\(new, /],
    ['all statuses old enough', { watchdogs: [wd('old', 'info', 100), wd('new', 'warning', 40)], minReadySeconds: 30 }, true, /\(new, /],
    ['a status in the future (clock skew) is not settled', { watchdogs: [wd('a', 'info', -5)] }, false, /not more than/],
    [
      'statuses without a readable time are ignored for timing',
      { watchdogs: [wd('x', 'unknown'), wd('a', 'info', 40)], minReadySeconds: 30 },
      true,
      /\(a, /,
    ],
    [
      'only statuses without a time',
      { watchdogs: [wd('x', 'info')], minReadySeconds: 30 },
      true,
      /no watchdog status with a readable time/,
    ],
    [
      'an unknown level with a fresh time restarts the clock too',
      { watchdogs: [wd('x', 'critical', 1)], minReadySeconds: 30 },
      false,
      /not more than/,
    ],
    ['the pod could not be read', { watchdogs: { readError: 'HTTP 403' } }, false, /^cannot read the pod: HTTP 403$/],
    // AlwaysHealthyAfterSeconds
    [
      'always-healthy reached: healthy despite an error',
      { watchdogs: [wd('a', 'error', 1)], alwaysHealthyAfterSeconds: 10 },
      true,
      /^always healthy: .*run 10s/,
    ],
    [
      'always-healthy reached: healthy despite a read failure',
      { watchdogs: { readError: 'down' }, alwaysHealthyAfterSeconds: 5 },
      true,
      /^always healthy/,
    ],
    [
      'always-healthy reached: healthy despite min-ready',
      { watchdogs: [wd('a', 'info', 0)], minReadySeconds: 60, alwaysHealthyAfterSeconds: 1 },
      true,
      /^always healthy/,
    ],
    [
      'always-healthy not yet reached (1 ms short)',
      { watchdogs: [wd('a', 'error', 1)], alwaysHealthyAfterSeconds: 10, startedAt: at(9.999) },
      false,
      /in error/,
    ],
    [
      'always-healthy 0: healthy from the start',
      { watchdogs: [wd('a', 'error', 1)], alwaysHealthyAfterSeconds: 0, startedAt: at(0) },
      true,
      /^always healthy/,
    ],
  ])('%s', (_name, input, healthy, reason) => {
    const decision = decideHealthz({ ...base, ...input });
    expect(decision.healthy).toBe(healthy);
    expect(decision.reason).toMatch(reason);
  });
});

// ---------------------------------------------------------------------------
// The HTTP handler
// ---------------------------------------------------------------------------

function healthz(options: { minReadySeconds?: number; alwaysHealthyAfterSeconds?: number; cacheMs?: number } = {}) {
  const clock = { ms: NOW };
  const pod: { annotations: Record<string, string>; error?: Error } = { annotations: {} };
  const reads = { count: 0 };
  const readPod: PodReader = jest.fn(() => {
    reads.count++;
    return pod.error ? Promise.reject(pod.error) : Promise.resolve({ ...pod.annotations });
  });
  const { lines, logger } = captureLogs();
  const app = createWatchdogHealthzServer({ readPod, logger, now: () => clock.ms, ...options });
  const advance = (seconds: number) => {
    clock.ms += seconds * 1000;
  };
  return { app, pod, reads, lines, advance, get: () => request(app).get('/healthz') };
}

const status = (level: string, secondsAgo: number, message = 'm') =>
  `${level}/${new Date(NOW - secondsAgo * 1000).toISOString().slice(0, 19)}Z/${message}`;

describe('watchdog healthz server', () => {
  it('answers 200 with the watchdogs when nothing is in error', async () => {
    const h = healthz();
    h.pod.annotations = { 'status.autocrane.io/web': status('info', 60, 'error cleared'), 'other.example.com/x': 'y' };
    const res = await h.get();
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({
      healthy: true,
      aggregate: 'info',
      watchdogs: [{ name: 'web', level: 'info', declaredLevel: 'info', message: 'error cleared', time: '2026-11-22T04:59:00.000Z' }],
    });
    expect(res.body.reason).toMatch(/no error watchdog/);
  });

  it('answers 503 with an error watchdog, and logs only changes of the answer', async () => {
    const h = healthz({ cacheMs: 0 });
    h.pod.annotations = { 'status.autocrane.io/web': status('error', 5, 'HTTP 500') };
    const res = await h.get();
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ healthy: false, aggregate: 'error', reason: 'watchdog in error: web' });
    await h.get();
    expect(h.lines.filter((l) => /healthz:/.test(String(l.msg)))).toHaveLength(1);
    h.pod.annotations = { 'status.autocrane.io/web': status('info', 2) };
    expect((await h.get()).status).toBe(200);
    expect(h.lines.filter((l) => /healthz:/.test(String(l.msg))).map((l) => l.msg)).toEqual(['healthz: unhealthy', 'healthz: healthy']);
  });

  it('applies min-ready strictly', async () => {
    const h = healthz({ minReadySeconds: 30, cacheMs: 0 });
    h.pod.annotations = { 'status.autocrane.io/web': status('info', 0) };
    expect((await h.get()).status).toBe(503);
    h.advance(30);
    expect((await h.get()).status).toBe(503); // exactly 30 s
    h.advance(0.001);
    expect((await h.get()).status).toBe(200);
  });

  it('answers 503 saying why when the pod cannot be read, and does not crash', async () => {
    const h = healthz({ cacheMs: 0 });
    h.pod.error = new Error('reading pod ns/app: the apiserver answered HTTP 403');
    const res = await h.get();
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      healthy: false,
      reason: 'cannot read the pod: reading pod ns/app: the apiserver answered HTTP 403',
      watchdogs: null,
      aggregate: null,
    });
    h.pod.error = undefined;
    expect((await h.get()).status).toBe(200);
  });

  it('always-healthy-after: 200 regardless once reached, without reading the pod', async () => {
    const h = healthz({ alwaysHealthyAfterSeconds: 10, cacheMs: 0 });
    h.pod.annotations = { 'status.autocrane.io/web': status('error', 1) };
    expect((await h.get()).status).toBe(503);
    h.advance(9.999);
    expect((await h.get()).status).toBe(503);
    h.advance(0.001);
    h.pod.error = new Error('apiserver down');
    const before = h.reads.count;
    const res = await h.get();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ healthy: true, watchdogs: null, aggregate: null });
    expect(res.body.reason).toMatch(/^always healthy/);
    expect(h.reads.count).toBe(before);
  });

  it('reuses a pod read for about a second', async () => {
    const h = healthz();
    h.pod.annotations = { 'status.autocrane.io/web': status('error', 1) };
    await Promise.all([h.get(), h.get(), h.get()]);
    expect(h.reads.count).toBe(1);
    h.pod.annotations = { 'status.autocrane.io/web': status('info', 10) };
    h.advance(0.999);
    expect((await h.get()).status).toBe(503); // still the cached read
    expect(h.reads.count).toBe(1);
    h.advance(0.001);
    expect((await h.get()).status).toBe(200);
    expect(h.reads.count).toBe(2);
  });

  it('404s other paths', async () => {
    const h = healthz();
    expect((await request(h.app).get('/nope')).status).toBe(404);
  });
});

describe('cachePodReader', () => {
  it('shares an in-flight read and caches failures too', async () => {
    const clock = { ms: 0 };
    let release: (() => void) | undefined;
    let calls = 0;
    const read: PodReader = () => {
      calls++;
      return new Promise((_resolve, reject) => {
        release = () => reject(new Error('down'));
      });
    };
    const cached = cachePodReader(read, 1000, () => clock.ms);
    const a = cached();
    const b = cached();
    expect(a).toBe(b);
    clock.ms = 5000; // the ttl counts from when the read settles
    release!();
    await expect(a).rejects.toThrow('down');
    await expect(cached()).rejects.toThrow('down');
    expect(calls).toBe(1);
    clock.ms = 6000;
    void cached().catch(() => undefined);
    expect(calls).toBe(2);
  });
});

describe('watchdog-healthz configuration', () => {
  it('requires POD_NAME and POD_NAMESPACE, naming each', () => {
    expect(() => podFromEnv({})).toThrow(ConfigError);
    expect(() => podFromEnv({})).toThrow(/POD_NAME: required.*\n.*POD_NAMESPACE: required/);
    expect(() => podFromEnv({ POD_NAMESPACE: 'ns' })).toThrow(/\(1 variable\):\n {2}POD_NAME: required: set it from the downward API/);
    expect(() => podFromEnv({ POD_NAME: 'app', POD_NAMESPACE: ' ' })).toThrow(/\(1 variable\):\n {2}POD_NAMESPACE: required/);
    expect(() => podFromEnv({ POD_NAME: 'App_1', POD_NAMESPACE: 'ns' })).toThrow(/POD_NAME: "App_1"/);
    expect(podFromEnv({ POD_NAME: 'app-0', POD_NAMESPACE: 'ns' })).toEqual({ name: 'app-0', namespace: 'ns' });
  });

  it.each(['0', '30', ' 7 ', '2147483647'])('accepts %j seconds', (text) => {
    expect(parseSeconds(text)).toBe(Number(text));
  });

  it.each(['', '-1', '1.5', '1e3', 'abc', '2147483648'])('rejects %j seconds', (text) => {
    expect(() => parseSeconds(text)).toThrow(/whole number of seconds/);
  });

  function run(args: string[]) {
    const errors: string[] = [];
    const program = createProgram({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
    return { result: program.parseAsync(['node', 'autocrane', ...args]), errors };
  }

  it.each([
    [['watchdog-healthz', '--port', 'http'], /option '--port <port>' argument 'http' is invalid/],
    [['watchdog-healthz', '--min-ready-seconds', '-3'], /--min-ready-seconds <seconds>' argument '-3' is invalid/],
    [['watchdog-healthz', '--always-healthy-after-seconds', 'soon'], /whole number of seconds/],
    [['watchdog-healthz', '--bogus'], /unknown option '--bogus'/],
  ])('rejects %j as a usage error', async (args, message) => {
    const { result, errors } = run(args);
    await expect(result).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join('')).toMatch(message);
  });

  it('reads --always-healthy-after-seconds from the environment too, and rejects a bad value there', async () => {
    const saved = process.env.AUTOCRANE_ALWAYS_HEALTHY_AFTER_SECONDS;
    process.env.AUTOCRANE_ALWAYS_HEALTHY_AFTER_SECONDS = 'x';
    try {
      const { result, errors } = run(['watchdog-healthz']);
      await expect(result).rejects.toBeInstanceOf(CommanderError);
      expect(errors.join('')).toMatch(/AUTOCRANE_ALWAYS_HEALTHY_AFTER_SECONDS/);
    } finally {
      if (saved === undefined) delete process.env.AUTOCRANE_ALWAYS_HEALTHY_AFTER_SECONDS;
      else process.env.AUTOCRANE_ALWAYS_HEALTHY_AFTER_SECONDS = saved;
    }
  });
});

describe('createPodReader', () => {
  const kubeConfig = (server: string) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  };

  it('says which pod and why when the apiserver refuses (403)', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'pods "app" is forbidden: no', code: 403 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const read = createPodReader(kubeConfig(`http://127.0.0.1:${port}`), { namespace: 'ns', name: 'app' });
      await expect(read()).rejects.toThrow(
        'reading pod ns/app: the apiserver answered HTTP 403: pods "app" is forbidden: no (the service account needs get on pods)',
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('says so when the apiserver is down, and the server answers 503', async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    await new Promise((r) => server.close(r)); // nothing listens there now
    const readPod = createPodReader(kubeConfig(`http://127.0.0.1:${port}`), { namespace: 'ns', name: 'app' });
    const app = createWatchdogHealthzServer({ readPod, logger: captureLogs().logger });
    const res = await request(app).get('/healthz');
    expect(res.status).toBe(503);
    expect(res.body.reason).toMatch(/^cannot read the pod: reading pod ns\/app: .*ECONNREFUSED/);
  });
});

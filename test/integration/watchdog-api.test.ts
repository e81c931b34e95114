import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import pino from 'pino';
import { createApp } from '../../api/app';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import { ApiCallError, type ApiTarget } from '../../cli/api-client';
import { getWatchdogs, postWatchdog } from '../../cli/watchdog';
import { HEALTH_LABEL } from '../../domain/shared/keys';
import { createMetricsRegistry } from '../../platform/metrics';
import { runCli } from '../support/cli';
import { eventually, freshNamespace, type KubeClients, sandboxClients } from '../support/kube';

/** The watchdog API in-process against the sandbox apiserver: real TokenReview, SubjectAccessReview and patches. */
describe('watchdog API on the sandbox apiserver', () => {
  let k: KubeClients;
  let namespace: string;
  let server: Server;
  let apiUrl: string;
  let adminToken: string;
  const embeddedToken = randomBytes(24).toString('hex');
  const pod = (name: string, serviceAccountName?: string) => ({
    metadata: { name, annotations: { 'team.example.com/owner': 'payments' }, labels: { app: 'web' } },
    spec: { ...(serviceAccountName ? { serviceAccountName } : {}), containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
  });

  const mintToken = async (serviceAccount: string, boundPod?: { name: string; uid: string }): Promise<string> => {
    const request = await k.core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: {
        spec: {
          audiences: [],
          expirationSeconds: 600,
          ...(boundPod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: boundPod.name, uid: boundPod.uid } } : {}),
        },
      },
    });
    return request.status!.token;
  };
  const as = (token: string | undefined): ApiTarget => ({ apiUrl, token });
  /** The HTTP status of a failed call (ApiCallError), or 200 when it succeeded. */
  const statusOf = (call: Promise<unknown>) =>
    call.then(
      () => 200,
      (err: unknown) => (err instanceof ApiCallError ? err.status : err),
    );

  beforeAll(async () => {
    k = sandboxClients();
    adminToken = k.kc.getCurrentUser()!.token!;
    namespace = await freshNamespace(k.core, 'wdapi');
    for (const name of ['poster', 'sidecar']) await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    await k.core.createNamespacedPod({ namespace, body: pod('web-0', 'sidecar') });
    await k.core.createNamespacedPod({ namespace, body: pod('web-1', 'sidecar') });

    const app = createApp({
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry(),
      checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
      watchdogs: { pods: k.core, authorizer: createAuthorizer({ cluster: kubernetesClusterAuth(k.kc), embeddedToken }) },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    server?.closeAllConnections();
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  const read = (name: string) => k.core.readNamespacedPod({ namespace, name });

  test('an admin (system:masters) posts; the pod keeps foreign annotations and gets the label', async () => {
    const posted = await postWatchdog(as(adminToken), { namespace, pod: 'web-0' }, 'latency', 'error', 'p99 2s');
    expect(posted).toMatchObject({
      namespace,
      pod: 'web-0',
      watchdog: { name: 'latency', level: 'error', message: 'p99 2s' },
      aggregate: 'error',
    });
    expect(posted.watchdog.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const p = await read('web-0');
    expect(p.metadata?.annotations?.['status.autocrane.io/latency']).toBe(`error/${posted.watchdog.time}/p99 2s`);
    expect(p.metadata?.annotations?.['team.example.com/owner']).toBe('payments');
    expect(p.metadata?.labels).toMatchObject({ app: 'web', [HEALTH_LABEL]: 'error' });

    const listed = await getWatchdogs(as(adminToken), { namespace, pod: 'web-0' });
    expect(listed).toEqual({ namespace, pod: 'web-0', watchdogs: [posted.watchdog], aggregate: 'error' });
  });

  test('no credentials → 401, a made-up token → 401, the embedded token → 200', async () => {
    const res = await fetch(`${apiUrl}/v1/namespaces/${namespace}/pods/web-0/watchdogs`);
    expect(res.status).toBe(401);
    expect(await statusOf(postWatchdog(as(undefined), { namespace, pod: 'web-0' }, 'x', 'info', ''))).toBe(401);
    expect(await statusOf(getWatchdogs(as('not-a-real-token'), { namespace, pod: 'web-0' }))).toBe(401);
    expect(await statusOf(postWatchdog(as(embeddedToken), { namespace, pod: 'web-1' }, 'embedded', 'info', 'ok'))).toBe(200);
    expect((await read('web-1')).metadata?.labels?.[HEALTH_LABEL]).toBe('info');
  });

  test('unknown pod → 404 for an allowed caller', async () => {
    expect(await statusOf(getWatchdogs(as(adminToken), { namespace, pod: 'nope' }))).toBe(404);
    expect(await statusOf(postWatchdog(as(adminToken), { namespace, pod: 'nope' }, 'x', 'info', ''))).toBe(404);
  });

  test('a service account without RBAC → 403; with a Role granting patch pods → 200', async () => {
    const token = await mintToken('poster');
    const target = { namespace, pod: 'web-0' };
    expect(await statusOf(postWatchdog(as(token), target, 'poster', 'warning', 'nope'))).toBe(403);
    expect(await statusOf(getWatchdogs(as(token), target))).toBe(403);

    const rbac = k.kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: 'watchdog-poster' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'watchdog-poster' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'watchdog-poster' },
        subjects: [{ kind: 'ServiceAccount', name: 'poster', namespace }],
      },
    });
    const posted = await eventually(() => postWatchdog(as(token), target, 'poster', 'warning', 'slow disk'), 15_000);
    expect(posted.watchdog).toMatchObject({ name: 'poster', level: 'warning', message: 'slow disk' });
    // patch does not imply get.
    expect(await statusOf(getWatchdogs(as(token), target))).toBe(403);
  });

  test('a token bound to a pod may post for that pod only', async () => {
    const web0 = await read('web-0');
    const token = await mintToken('sidecar', { name: 'web-0', uid: web0.metadata!.uid! });
    expect(await statusOf(postWatchdog(as(token), { namespace, pod: 'web-0' }, 'self', 'info', 'from my own token'))).toBe(200);
    expect(await statusOf(postWatchdog(as(token), { namespace, pod: 'web-1' }, 'self', 'info', 'not mine'))).toBe(403);
    // An unbound token of the same service account is not the pod's.
    const unbound = await mintToken('sidecar');
    expect(await statusOf(postWatchdog(as(unbound), { namespace, pod: 'web-0' }, 'self', 'info', 'unbound'))).toBe(403);

    const p = await read('web-0');
    expect(p.metadata?.annotations?.['status.autocrane.io/self']).toMatch(/^info\/.*Z\/from my own token$/);
    expect(p.metadata?.annotations?.['team.example.com/owner']).toBe('payments');
    expect((await read('web-1')).metadata?.annotations?.['status.autocrane.io/self']).toBeUndefined();
  });

  test.each([
    ['a bad level', 'ok', { level: 'fatal', message: 'x' }, 'level'],
    ['a long message', 'ok', { level: 'info', message: 'x'.repeat(1025) }, 'message'],
    ['a bad name', '-bad-', { level: 'info' }, 'name'],
  ])('%s → 400 naming the field, and the pod is left as it was', async (_what, name, body, field) => {
    const before = await read('web-1');
    const res = await fetch(`${apiUrl}/v1/namespaces/${namespace}/pods/web-1/watchdogs/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; details: { field: string }[] };
    expect(answer.error).toContain(field);
    expect(answer.details.map((d) => d.field)).toEqual([field]);
    const after = await read('web-1');
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });

  test('aggregation on a real pod follows AutoCrane: order, ties, unknown levels counting for nothing', async () => {
    const at = '2021-03-01T12:34:56Z';
    // Statuses as AutoCrane and other writers left them: capitalised, unknown levels, garbage.
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: 'web-agg',
          labels: { app: 'web' },
          annotations: {
            'status.autocrane.io/a': `Info/${at}/ok`,
            'status.autocrane.io/b': 'bogus/whenever/x',
            'status.autocrane.io/c': `Unknown/${at}/?`,
          },
        },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    const target = { namespace, pod: 'web-agg' };
    // Unknown levels alone aggregate to unknown; info outranks them.
    expect((await getWatchdogs(as(adminToken), target)).aggregate).toBe('info');
    // Order: a warning posted outranks the info; the label is recomputed from every status on the pod.
    expect((await postWatchdog(as(adminToken), target, 'disk', 'warning', 'slow')).aggregate).toBe('warning');
    expect((await read('web-agg')).metadata?.labels?.[HEALTH_LABEL]).toBe('warning');
    // A tie of errors in two spellings: still error, and an error outranks the warning.
    await k.core.patchNamespacedPod(
      { namespace, name: 'web-agg', body: { metadata: { annotations: { 'status.autocrane.io/old': `Error/${at}/from AutoCrane` } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect((await postWatchdog(as(adminToken), target, 'latency', 'error', 'p99 2s')).aggregate).toBe('error');
    expect((await read('web-agg')).metadata?.labels?.[HEALTH_LABEL]).toBe('error');
    // Clearing the new error leaves AutoCrane's: still error.
    expect((await postWatchdog(as(adminToken), target, 'latency', 'info', 'cleared')).aggregate).toBe('error');
    // Only unknown levels left on a pod: unknown.
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: 'web-unknown',
          annotations: { 'status.autocrane.io/a': 'bogus/x/y', 'status.autocrane.io/b': `Unknown/${at}/?` },
        },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    expect((await getWatchdogs(as(adminToken), { namespace, pod: 'web-unknown' })).aggregate).toBe('unknown');
  });

  test('the CLI posts and prints a table, and reports API errors with exit status 1', async () => {
    await runCli(apiUrl, adminToken, async ({ run: cli, err }) => {
      const run = (...args: string[]) => cli('watchdog', ...args);
      expect(await run('post', `${namespace}/web-1`, 'cli', 'Warning', 'from the CLI')).toMatch(
        new RegExp(`^${namespace}/web-1 cli: warning at \\S+Z \\(from the CLI\\); aggregate warning\\n$`),
      );
      const table = await run('get', `${namespace}/web-1`);
      const lines = table.split('\n');
      expect(lines[0]).toMatch(/^NAME +LEVEL +TIME +MESSAGE$/);
      expect(lines.some((l) => /^cli +warning +\S+Z +from the CLI$/.test(l))).toBe(true);
      expect(table).toMatch(/\n\nAGGREGATE: warning\n$/);
      expect(JSON.parse(await run('get', `${namespace}/web-1`, '--json'))).toMatchObject({ namespace, pod: 'web-1', aggregate: 'warning' });
      expect(process.exitCode ?? 0).toBe(0);
      await run('get', `${namespace}/gone`);
      expect(process.exitCode).toBe(1);
      expect(err.join('')).toMatch(/HTTP 404: pod \S+\/gone not found/);
    });
  });

  describe('per-pod caps, answered before the apiserver is asked', () => {
    const put = (base: string, pod: string, name: string, message: string) =>
      fetch(`${base}/v1/namespaces/${namespace}/pods/${pod}/watchdogs/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${embeddedToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ level: 'info', message }),
      });
    const statusKeys = async (pod: string) =>
      Object.keys((await read(pod)).metadata?.annotations ?? {}).filter((k) => k.startsWith('status.autocrane.io/'));

    test('1 KiB messages under distinct names: 422 naming message once the default 64 KiB are used, never a 500', async () => {
      await k.core.createNamespacedPod({ namespace, body: pod('filled') });
      const kib = 'm'.repeat(1024);
      const statuses: number[] = [];
      let refusal: { error: string; details: Array<{ field: string; message: string }> } | undefined;
      for (let i = 0; i < 240 && refusal === undefined; i++) {
        const res = await put(apiUrl, 'filled', `w${i}`, kib);
        statuses.push(res.status);
        if (res.status !== 200) refusal = (await res.json()) as typeof refusal;
      }
      // 61 statuses of 1,072-1,073 bytes (key and value) fit under 65,536 bytes; the 62nd does not.
      expect(statuses.filter((s) => s === 200)).toHaveLength(61);
      expect(statuses.at(-1)).toBe(422);
      expect(refusal).toEqual({
        error: expect.stringMatching(/^invalid message: the pod's watchdog statuses would take \d+ bytes, over the 65536 allowed per pod/),
        details: [{ field: 'message', message: expect.stringContaining('65536') }],
      });
      expect(await statusKeys('filled')).toHaveLength(61);
      // An existing watchdog can still be rewritten, and the prober has room left.
      expect((await put(apiUrl, 'filled', 'w0', 'short now')).status).toBe(200);
      expect((await put(apiUrl, 'filled', 'w61', 'short')).status).toBe(200);
    });

    test('a cap on watchdogs per pod: 409 naming name; a configured byte cap: 422', async () => {
      const capped = createApp({
        logger: pino({ level: 'silent' }),
        registry: createMetricsRegistry(),
        checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
        watchdogs: {
          pods: k.core,
          authorizer: createAuthorizer({ cluster: kubernetesClusterAuth(k.kc), embeddedToken }),
          caps: { maxWatchdogsPerPod: 3, maxStatusBytesPerPod: 4096 },
        },
      }).listen(0, '127.0.0.1');
      await new Promise((resolve) => capped.once('listening', resolve));
      const base = `http://127.0.0.1:${(capped.address() as AddressInfo).port}`;
      try {
        await k.core.createNamespacedPod({ namespace, body: pod('capped') });
        for (const name of ['a', 'b', 'c']) expect((await put(base, 'capped', name, 'ok')).status).toBe(200);
        const fourth = await put(base, 'capped', 'd', 'ok');
        expect(fourth.status).toBe(409);
        expect(await fourth.json()).toEqual({
          error: 'invalid name: the pod already has 3 watchdogs, the most allowed per pod (3); write to one of them instead',
          details: [{ field: 'name', message: expect.stringContaining('3 watchdogs') }],
        });
        expect((await put(base, 'capped', 'c', 'still ok')).status).toBe(200);
        const big = await put(base, 'capped', 'c', 'x'.repeat(1024));
        expect(big.status).toBe(200);
        const tooBig = await put(base, 'capped', 'b', '😀'.repeat(1024));
        expect(tooBig.status).toBe(422);
        expect(((await tooBig.json()) as { details: unknown[] }).details).toEqual([
          { field: 'message', message: expect.stringContaining('4096 allowed') },
        ]);
        expect((await statusKeys('capped')).sort()).toEqual(['status.autocrane.io/a', 'status.autocrane.io/b', 'status.autocrane.io/c']);
      } finally {
        await new Promise((resolve) => capped.close(resolve));
        capped.closeAllConnections();
      }
    });
  });
});

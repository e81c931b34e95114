import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import request from 'supertest';
import { createHttpProber, type HttpProber } from '../../activities/watchdog/http-prober';
import { sweepWatchdogs } from '../../activities/watchdog/watchdog-sweep';
import { sweepPodLister, type ListSweepPods } from '../../activities/watchdog/watchdog-sweep-pods';
import { createApp } from '../../api/app';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import type { PodAccessor } from '../../api/watchdog/watchdogs';
import { postWatchdog } from '../../cli/watchdog';
import { createTestWorkloadServer } from '../../cli/test-workload';
import { HEALTH_LABEL } from '../../domain/shared/keys';
import type { WatchdogLevel } from '../../domain/watchdog/watchdog-status';
import { createMetricsRegistry } from '../../platform/metrics';
import { eventually, freshNamespace, isPodReady, type KubeClients, sandboxClients } from '../support/kube';

/**
 * A concurrent post and probe on the same pod keep each other's annotations.
 * An app posts its own watchdog through the real API while a sweep probes the same pod and
 * writes a transition of its probe's status, round after round. Both writers patch only
 * their key plus the health label, guarded by the resourceVersion they read, so whichever
 * loses the race must re-read and recompute; neither may drop the other's status, and the
 * label must be the aggregate of both.
 *
 * Three interleavings: the post lands between the sweep's list and its write (the sweep's
 * snapshot is stale), the sweep lands between the post's read and its write (the post's read
 * is stale), and both started together with no help.
 */
describe('a watchdog post racing a probe sweep on the same pod', () => {
  let k: KubeClients;
  let namespace: string;
  let workloadServer: Server;
  let apiServer: Server;
  let apiUrl: string;
  let prober: HttpProber;
  const embeddedToken = randomBytes(24).toString('hex');
  const workload = createTestWorkloadServer({ logger: pino({ level: 'silent' }) });
  const POD = 'app-0';

  // Hooks and counters around both writers' pod calls.
  let afterApiRead: (() => Promise<void>) | undefined;
  let afterSweepList: (() => Promise<void>) | undefined;
  const patches = { api: 0, sweep: 0 };

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'race');
    workloadServer = workload.listen(0, '0.0.0.0');
    await new Promise((r) => workloadServer.once('listening', r));
    const port = (workloadServer.address() as AddressInfo).port;
    prober = createHttpProber({ timeoutMs: 2000 });
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: POD,
          annotations: { 'probe.autocrane.io/http': `POD_IP:${port}/watchdog/${POD}`, 'team.example.com/owner': 'payments' },
        },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
    await eventually(async () => {
      if (!isPodReady(await k.core.readNamespacedPod({ namespace, name: POD }))) throw new Error('pod not ready');
    });

    const pods: PodAccessor = {
      readNamespacedPod: async (...args: Parameters<PodAccessor['readNamespacedPod']>) => {
        const pod = await k.core.readNamespacedPod(...args);
        const hook = afterApiRead;
        afterApiRead = undefined;
        await hook?.();
        return pod;
      },
      patchNamespacedPod: (...args: Parameters<PodAccessor['patchNamespacedPod']>) => {
        patches.api++;
        return k.core.patchNamespacedPod(...args);
      },
    } as PodAccessor;
    const app = createApp({
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry(),
      checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
      watchdogs: { pods, authorizer: createAuthorizer({ cluster: kubernetesClusterAuth(k.kc), embeddedToken }) },
    });
    apiServer = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => apiServer.once('listening', resolve).once('error', reject));
    apiUrl = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    prober?.close();
    workloadServer?.closeAllConnections();
    await new Promise((r) => workloadServer?.close(r));
    apiServer?.closeAllConnections();
    await new Promise((r) => apiServer?.close(r));
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  const sweep = () => {
    const lister = sweepPodLister(k.kc);
    const listPods: ListSweepPods = async (ns, token) => {
      const page = await lister(ns, token);
      const hook = afterSweepList;
      afterSweepList = undefined;
      await hook?.();
      return page;
    };
    const core = {
      readNamespacedPod: (...args: Parameters<typeof k.core.readNamespacedPod>) => k.core.readNamespacedPod(...args),
      patchNamespacedPod: (...args: Parameters<typeof k.core.patchNamespacedPod>) => {
        patches.sweep++;
        return k.core.patchNamespacedPod(...args);
      },
    };
    return sweepWatchdogs({ namespace }, { listPods, core, prober });
  };
  const post = (level: WatchdogLevel, message: string) =>
    postWatchdog({ apiUrl, token: embeddedToken }, { namespace, pod: POD }, 'app', level, message);

  const RANK: Record<WatchdogLevel, number> = { info: 0, warning: 1, error: 2 };
  const LEVELS: WatchdogLevel[] = ['warning', 'info', 'error'];
  const modes = ['post-between-list-and-write', 'sweep-between-read-and-write', 'together'] as const;
  const ROUNDS = 24;

  test(`${ROUNDS} rounds: both statuses survive and the label is their aggregate`, async () => {
    const conflicts: Record<(typeof modes)[number], number> = {
      'post-between-list-and-write': 0,
      'sweep-between-read-and-write': 0,
      together: 0,
    };
    for (let round = 0; round < ROUNDS; round++) {
      const mode = modes[round % modes.length]!;
      // The probe flips every round, so every sweep has a transition to write.
      const probeFails = round % 2 === 0;
      await request(workload)
        .post(`/${probeFails ? 'fail' : 'recover'}/${POD}`)
        .expect(200);
      const level = LEVELS[round % LEVELS.length]!;
      const message = `round ${round}`;
      patches.api = 0;
      patches.sweep = 0;

      let posted: Awaited<ReturnType<typeof post>> | undefined;
      let swept: Awaited<ReturnType<typeof sweep>> | undefined;
      if (mode === 'post-between-list-and-write') {
        afterSweepList = async () => {
          posted = await post(level, message);
        };
        swept = await sweep();
      } else if (mode === 'sweep-between-read-and-write') {
        afterApiRead = async () => {
          swept = await sweep();
        };
        posted = await post(level, message);
      } else {
        [posted, swept] = await Promise.all([post(level, message), new Promise((r) => setTimeout(r, round % 5)).then(sweep)]);
      }
      expect(afterSweepList).toBeUndefined();
      expect(afterApiRead).toBeUndefined();

      expect(swept).toMatchObject({ probedPods: 1, podsWritten: 1 });
      expect(posted?.watchdog).toMatchObject({ name: 'app', level, message });
      const pod = await k.core.readNamespacedPod({ namespace, name: POD });
      const annotations = pod.metadata?.annotations ?? {};
      const probeLevel: WatchdogLevel = probeFails ? 'error' : 'info';
      expect(annotations['status.autocrane.io/http']).toMatch(probeFails ? /^error\/.*answered 500/ : /^info\/.*\/error cleared$/);
      expect(annotations['status.autocrane.io/app']).toBe(`${level}/${posted!.watchdog.time}/${message}`);
      expect(annotations['team.example.com/owner']).toBe('payments');
      const aggregate = RANK[probeLevel] >= RANK[level] ? probeLevel : level;
      expect(pod.metadata?.labels?.[HEALTH_LABEL]).toBe(aggregate);
      // Every write that lost the race was refused (409) and redone, not applied blindly.
      conflicts[mode] += patches.api + patches.sweep - 2;
    }
    // The forced interleavings conflict every time; the free one may or may not.
    expect(conflicts['post-between-list-and-write']).toBe(ROUNDS / modes.length);
    expect(conflicts['sweep-between-read-and-write']).toBe(ROUNDS / modes.length);
  }, 120_000);
});

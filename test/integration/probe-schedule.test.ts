import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import request from 'supertest';
import { createActivities } from '../../activities';
import { createTestWorkloadServer } from '../../cli/test-workload';
import { HEALTH_LABEL } from '../../domain/shared/keys';
import { ensureProbeSchedules } from '../../workers/probe-schedules';
import { probeScheduleId } from '../../contracts/schedule-ids';
import { createWorker } from '../../workers/worker-factory';
import { eventually, freshNamespace, KubeClients, sandboxClients } from '../support/kube';
import { tierStack } from '../support/stacks';
import { temporalClients, TemporalClients, uniqueTaskQueue } from '../support/temporal';

/** Probing runs as workflows started by a Temporal Schedule, one per watched namespace. */
describe('scheduled watchdog probing', () => {
  let k: KubeClients;
  let temporal: TemporalClients;
  let namespace: string;
  let server: Server;
  const workload = createTestWorkloadServer({ logger: pino({ level: 'silent' }) });

  beforeAll(async () => {
    k = sandboxClients();
    temporal = await temporalClients(tierStack('integration'));
    namespace = await freshNamespace(k.core, 'probing');
    server = workload.listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    await k.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'app', annotations: { 'probe.autocrane.io/http': `POD_IP:${port}/watchdog/app` } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });
  });

  afterAll(async () => {
    await temporal.client.schedule
      .getHandle(probeScheduleId(namespace))
      .delete()
      .catch(() => undefined);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await temporal.close();
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test('the schedule sweeps the namespace and the failing pod gets an error status', async () => {
    const stack = tierStack('integration');
    const kubeConfig = k.kc;
    const taskQueue = uniqueTaskQueue('probing');
    const worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: stack.temporalNamespace,
      taskQueue,
      activities: createActivities({ kubeConfig, watchdogs: { probeTimeoutSeconds: 2, probeConcurrency: 8 } }),
    });
    await request(workload).post('/fail/app').expect(200);

    await worker.runUntil(async () => {
      const options = { namespaces: [namespace], intervalSeconds: 2, taskQueue, probeNotReadyPods: false };
      expect((await ensureProbeSchedules(temporal.client, options)).ensured).toEqual([probeScheduleId(namespace)]);
      // Idempotent: a second start updates the schedule in place.
      await ensureProbeSchedules(temporal.client, { ...options, intervalSeconds: 3 });

      const pod = await eventually(async () => {
        const current = await k.core.readNamespacedPod({ namespace, name: 'app' });
        if (current.metadata?.labels?.[HEALTH_LABEL] !== 'error') throw new Error('not swept yet');
        return current;
      }, 60_000);
      expect(pod.metadata?.annotations?.['status.autocrane.io/http']).toMatch(/^error\/.*answered 500/);

      const description = await temporal.client.schedule.getHandle(probeScheduleId(namespace)).describe();
      expect(description.spec.intervals).toEqual([expect.objectContaining({ every: 3000 })]);
      expect(description.info.recentActions.length).toBeGreaterThan(0);
      const sweep = temporal.client.workflow.getHandle(description.info.recentActions[0]!.action.workflow.workflowId);
      expect((await sweep.describe()).type).toBe('watchdogSweepWorkflow');
    });
  });

  test('a namespace no longer watched loses its schedule at the next start, other task queues keep theirs', async () => {
    const taskQueue = uniqueTaskQueue('stale');
    const otherQueue = uniqueTaskQueue('other');
    const base = { intervalSeconds: 3600, probeNotReadyPods: false };
    const [kept, dropped, foreign] = [`${namespace}-kept`, `${namespace}-dropped`, `${namespace}-foreign`];
    try {
      await ensureProbeSchedules(temporal.client, { ...base, taskQueue, namespaces: [kept, dropped] });
      await ensureProbeSchedules(temporal.client, { ...base, taskQueue: otherQueue, namespaces: [foreign] });
      // Schedules are listed through visibility, which trails their creation.
      await eventually(async () => {
        const listed = new Set<string>();
        for await (const s of temporal.client.schedule.list()) listed.add(s.scheduleId);
        for (const ns of [kept, dropped, foreign]) if (!listed.has(probeScheduleId(ns))) throw new Error(`${ns} not listed yet`);
      }, 30_000);

      const result = await ensureProbeSchedules(temporal.client, { ...base, taskQueue, namespaces: [kept], removeStale: true });
      expect(result).toEqual({ ensured: [probeScheduleId(kept)], deleted: [probeScheduleId(dropped)] });
      await expect(temporal.client.schedule.getHandle(probeScheduleId(dropped)).describe()).rejects.toThrow(/not found/i);
      expect((await temporal.client.schedule.getHandle(probeScheduleId(foreign)).describe()).action).toMatchObject({
        taskQueue: otherQueue,
      });
      expect((await temporal.client.schedule.getHandle(probeScheduleId(kept)).describe()).action).toMatchObject({ taskQueue });
    } finally {
      for (const ns of [kept, dropped, foreign])
        await temporal.client.schedule
          .getHandle(probeScheduleId(ns))
          .delete()
          .catch(() => undefined);
    }
  });
});

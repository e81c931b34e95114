import type { ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { createTestWorkloadServer } from '../../cli/test-workload';
import { HEALTH_LABEL } from '../../domain/shared/keys';
import { probeScheduleId } from '../../contracts/schedule-ids';
import { eventually, freshNamespace, KubeClients, sandboxClients } from '../support/kube';
import { killAndWait, spawnWorker } from '../support/processes';
import { tierStack } from '../support/stacks';
import { temporalClients, TemporalClients, uniqueTaskQueue } from '../support/temporal';

/** A worker killed with SIGKILL in the middle of a sweep: the sweep is retried elsewhere and completes. */
describe('probing survives a worker crash', () => {
  let k: KubeClients;
  let temporal: TemporalClients;
  let namespace: string;
  let server: Server;
  const workers: ChildProcess[] = [];
  const workload = createTestWorkloadServer({ logger: pino({ level: 'silent' }) });

  beforeAll(async () => {
    k = sandboxClients();
    temporal = await temporalClients(tierStack('integration'));
    namespace = await freshNamespace(k.core, 'crash');
    server = workload.listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    // Six slow but healthy pods keep a one-at-a-time sweep busy for about 9 s; one pod fails.
    for (const name of ['slow-0', 'slow-1', 'slow-2', 'slow-3', 'slow-4', 'slow-5', 'bad']) {
      await k.core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name, annotations: { 'probe.autocrane.io/http': `POD_IP:${port}/watchdog/${name}` } },
          spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
        },
      });
      if (name.startsWith('slow')) await request(workload).post(`/slow/${name}`).send({ ms: 1500 }).expect(200);
    }
    await request(workload).post('/fail/bad').expect(200);
  });

  afterAll(async () => {
    for (const worker of workers) await killAndWait(worker, 'SIGKILL');
    await temporal.client.schedule
      .getHandle(probeScheduleId(namespace))
      .delete()
      .catch(() => undefined);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await temporal.close();
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  test('SIGKILL during a sweep; a restarted worker finishes it', async () => {
    const stack = tierStack('integration');
    const env = {
      KUBECONFIG: stack.kubeconfig!,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      AUTOCRANE_TASK_QUEUE: uniqueTaskQueue('crash'),
      AUTOCRANE_WATCH_NAMESPACES: namespace,
      AUTOCRANE_PROBE_INTERVAL_SECONDS: '3600',
      AUTOCRANE_PROBE_CONCURRENCY: '1',
    };
    const log = join(stack.stateDir, 'logs', `crash-worker-${namespace}.log`);
    workers.push(spawnWorker(env, log));
    // The hourly schedule would not fire during the test: trigger its sweep now.
    const schedule = temporal.client.schedule.getHandle(probeScheduleId(namespace));
    await eventually(() => schedule.describe(), 30_000);
    await schedule.trigger();

    const sweepId = await eventually(async () => {
      const { info } = await schedule.describe();
      const id = info.recentActions[0]?.action.workflow.workflowId;
      if (!id) throw new Error('no sweep started yet');
      const described = await temporal.client.workflow.getHandle(id).describe();
      const started = described.raw.pendingActivities?.some((a) => String(a.state).includes('STARTED') || a.state === 2);
      if (!started) throw new Error('sweep activity not running yet');
      return id;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    await killAndWait(workers[0]!, 'SIGKILL');
    // Killed while probing: statuses are written only after every probe answered.
    expect((await k.core.readNamespacedPod({ namespace, name: 'bad' })).metadata?.labels?.[HEALTH_LABEL]).toBeUndefined();

    workers.push(spawnWorker(env, log));
    const sweep = temporal.client.workflow.getHandle(sweepId);
    // The dead worker's activity times out on its heartbeat (5 s) and is retried on the new one.
    const summary = await sweep.result();
    expect(summary).toMatchObject({ namespace, probedPods: 7, podsWritten: 1 });
    const history = await sweep.fetchHistory();
    const attempts = history.events?.find((e) => e.activityTaskStartedEventAttributes)?.activityTaskStartedEventAttributes?.attempt;
    expect(attempts).toBe(2);
    expect((await k.core.readNamespacedPod({ namespace, name: 'bad' })).metadata?.labels?.[HEALTH_LABEL]).toBe('error');
  }, 150_000);
});

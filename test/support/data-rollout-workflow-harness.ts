import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { DataRolloutActivities } from '../../activities/data/data-rollout';
import type { DataGateResult, DataMirror, DataStageOutcome, RevertDataResult } from '../../domain/data/data-rollout-types';
import type { DataStatus, DataVersion } from '../../domain/data/data-contract';
import { acknowledgement, planDataRequests, releaseRef, type DataRef, type DataRelease } from '../../domain/data/data-rollout';
import { createWorker } from '../../workers/worker-factory';
import { dataRolloutWorkflow } from '../../workflows';
import {
  dataRolloutControlUpdates,
  dataRolloutStatusQuery,
  dataRolloutWorkflowId,
  startDataRolloutUpdate,
  versionAvailableSignal,
  type DataRolloutSettings,
  type DataRolloutStatus,
  type DataStartRequest,
} from '../../contracts/data-rollout-messages';
import { eventually } from './kube';
import { tierStack } from './stacks';
import { temporalClients, type TemporalClients, uniqueTaskQueue } from './temporal';

/**
 * Workflow tier: the data-rollout workflow on the real dev server, its activities stubbed by a
 * fake namespace of consumer pods whose "deployers" acknowledge requests at once (unless the
 * test holds or fails a version) and whose gate the test turns red.
 */

export const TICK_MS = 50;

export function release(n: number): DataRelease {
  const sha256 = String(n)
    .repeat(64)
    .slice(0, 64)
    .replace(/[^0-9]/g, '0');
  const version: DataVersion = {
    id: `2024010${n}T000000Z-${sha256.slice(0, 12)}`,
    sha256,
    size: 100 * n,
    createdAt: `2024-01-0${n}T00:00:00Z`,
    origin: { kind: 'local', ref: `v${n}` },
  };
  return { version, archiveUrl: `http://repo.test/v1/sources/cfg/versions/${version.id}/archive` };
}

export interface FakePod {
  request: DataRef | null;
  status: DataStatus | null;
}

export class FakeNamespace {
  readonly pods = new Map<string, FakePod>();
  readonly calls: string[] = [];
  settings: DataRolloutSettings = {
    autoStart: true,
    stages: [
      { pods: 1, probationSeconds: 1 },
      { pods: '50%', probationSeconds: 1 },
      { pods: '100%', probationSeconds: 1 },
    ],
  };
  mirror: DataMirror | null = null;
  /** Versions whose requests the deployers do not acknowledge (a slow download). */
  readonly held = new Set<string>();
  /** Versions the deployers fail to activate. */
  readonly broken = new Set<string>();
  /** How long one tending activity runs (the real one runs 10 minutes). */
  tendMs = 1000;
  /** Mirror writes that never answer, as if their worker had died with them. */
  lostMirrors = 0;
  /** While set, every gate watch fails with it. */
  gateFailing: string | null = null;
  readonly gateWatches: { holdAfterPass: boolean; probationStartedAt: string }[] = [];
  readonly stageShares: (number | string)[] = [];

  constructor(count = 4) {
    for (let i = 1; i <= count; i++) this.pods.set(`pod-${i}`, { request: null, status: null });
  }

  private async tick(): Promise<void> {
    const ctx = Context.current();
    ctx.heartbeat({});
    await ctx.sleep(TICK_MS);
  }

  /** The deployers: each pod activates what it is asked for, unless held or broken. */
  private deploy(): void {
    for (const pod of this.pods.values()) {
      const want = pod.request;
      if (!want) continue;
      const state = acknowledgement(pod.status, want).state;
      // Like the real deployer: a failure is cleared once a request is activated or superseded.
      if (state === 'acknowledged' && pod.status?.error)
        pod.status = { version: pod.status.version, sha256: pod.status.sha256, activatedAt: pod.status.activatedAt };
      if (state !== 'waiting' || this.held.has(want.version)) continue;
      const active = pod.status?.version
        ? { version: pod.status.version, sha256: pod.status.sha256, activatedAt: pod.status.activatedAt }
        : {};
      pod.status = this.broken.has(want.version)
        ? { ...active, error: { version: want.version, message: 'sha256 mismatch', at: new Date().toISOString() } }
        : { ...want, activatedAt: new Date().toISOString() };
    }
  }

  private apply(writes: { pod: string; ref: DataRef }[]): number {
    for (const w of writes) this.pods.get(w.pod)!.request = w.ref;
    this.deploy();
    return writes.length;
  }

  private consumers() {
    return [...this.pods.entries()].map(([name, p]) => ({ name, request: p.request, status: p.status }));
  }

  requests(): Record<string, string | undefined> {
    return Object.fromEntries([...this.pods.entries()].map(([name, p]) => [name, p.request?.version]));
  }

  activities(): DataRolloutActivities {
    return {
      dataRolloutSettings: async () => this.settings,
      readDataMirror: async () => this.mirror,
      mirrorDataVersions: async (input) => {
        if (this.lostMirrors > 0) {
          this.lostMirrors -= 1;
          this.calls.push('mirror lost');
          await Context.current().sleep(120_000);
        }
        this.calls.push('mirror');
        this.mirror = { lkg: input.lkg, latest: input.latest, rollout: input.rollout };
      },
      advanceDataStage: async (input): Promise<DataStageOutcome> => {
        this.calls.push(`advance ${input.target.version.id} ${input.share}`);
        this.stageShares.push(input.share);
        const target = releaseRef(input.target);
        const deadline = Date.now() + input.ackTimeoutSeconds * 1000;
        let written = 0;
        for (;;) {
          const plan = planDataRequests({
            consumers: this.consumers(),
            lkg: releaseRef(input.lkg),
            rollout: { target, share: input.share },
          });
          written += this.apply(plan.writes);
          const states = plan.upgraded.map((name) => ({
            name,
            ack: acknowledgement(this.pods.get(name)!.status, target, input.stageStartedAt),
          }));
          const failed = states.find((s) => s.ack.state === 'failed');
          if (failed)
            return {
              outcome: 'failed',
              upgraded: plan.upgraded,
              reason: `the data deployer could not activate ${target.version}: ${failed.name}: sha256 mismatch`,
            };
          if (states.every((s) => s.ack.state === 'acknowledged')) {
            return {
              outcome: 'acknowledged',
              upgraded: plan.upgraded,
              count: plan.count,
              consumers: this.pods.size,
              probationStartedAt: new Date().toISOString(),
              written,
            };
          }
          if (Date.now() >= deadline)
            return { outcome: 'failed', upgraded: plan.upgraded, reason: `not acknowledged within ${input.ackTimeoutSeconds}s` };
          await this.tick();
        }
      },
      watchDataGate: async (input): Promise<DataGateResult> => {
        this.calls.push(`gate${input.holdAfterPass ? ' hold' : ''}`);
        this.gateWatches.push({ holdAfterPass: input.holdAfterPass ?? false, probationStartedAt: input.probationStartedAt });
        const ends = Date.parse(input.probationStartedAt) + input.probationSeconds * 1000;
        for (;;) {
          if (this.gateFailing) return { verdict: 'fail', reason: this.gateFailing, watched: 2, erroring: ['pod-1'] };
          if (!input.holdAfterPass && Date.now() >= ends) return { verdict: 'pass', reason: 'probation over', watched: 2, erroring: [] };
          await this.tick();
        }
      },
      revertData: async (input): Promise<RevertDataResult> => {
        this.calls.push(`revert ${input.lkg.version.id}`);
        const written = this.apply(planDataRequests({ consumers: this.consumers(), lkg: releaseRef(input.lkg), rollout: null }).writes);
        return { consumers: this.pods.size, written, unacknowledged: [], failed: [] };
      },
      tendDataConsumers: async (input) => {
        const until = Date.now() + this.tendMs;
        let written = 0;
        while (Date.now() < until) {
          const wrote = this.apply(planDataRequests({ consumers: this.consumers(), lkg: releaseRef(input.lkg), rollout: null }).writes);
          if (wrote > 0) this.calls.push(`tend wrote ${wrote}`);
          written += wrote;
          await this.tick();
        }
        return { written };
      },
    };
  }
}

export const kinds = (s: DataRolloutStatus) => s.decisions.map((d) => d.kind);

/**
 * One worker for the calling test file on the workflow tier's dev server, each activity going to the fake
 * namespace the test registered. Call it inside the file's describe: it registers the hooks that start
 * the worker, terminate each test's workflows and shut down.
 */
export function dataRolloutWorkflowHarness(queuePrefix = 'wf-data') {
  let temporal: TemporalClients;
  let worker: Worker;
  let running: Promise<void>;
  const fakes = new Map<string, FakeNamespace>();
  const started: string[] = [];
  const taskQueue = uniqueTaskQueue(queuePrefix);

  const fakeOf = (namespace: string) => {
    const fake = fakes.get(namespace);
    if (!fake) throw new Error(`no fake namespace ${namespace}`);
    return fake.activities();
  };

  beforeAll(async () => {
    temporal = await temporalClients(tierStack('workflow'));
    const dispatch: DataRolloutActivities = {
      dataRolloutSettings: () => [...fakes.values()][0]!.activities().dataRolloutSettings(),
      readDataMirror: (input) => fakeOf(input.namespace).readDataMirror(input),
      mirrorDataVersions: (input) => fakeOf(input.namespace).mirrorDataVersions(input),
      advanceDataStage: (input) => fakeOf(input.namespace).advanceDataStage(input),
      watchDataGate: (input) => fakeOf(input.namespace).watchDataGate(input),
      revertData: (input) => fakeOf(input.namespace).revertData(input),
      tendDataConsumers: (input) => fakeOf(input.namespace).tendDataConsumers(input),
    };
    worker = await createWorker({
      connection: temporal.nativeConnection,
      namespace: tierStack('workflow').temporalNamespace,
      taskQueue,
      activities: dispatch,
    });
    running = worker.run();
  });

  afterEach(async () => {
    for (const id of started.splice(0))
      await temporal.client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined);
  });

  afterAll(async () => {
    worker.shutdown();
    await running;
    await temporal.close();
  });

  let counter = 0;
  /** A namespace of its own for each workflow the file starts. */
  const nextNamespace = () => `${taskQueue}-${++counter}`;
  /** A namespace whose workflow has bootstrapped on version 1 (every pod acknowledged it). */
  async function bootstrapped(fake = new FakeNamespace()) {
    const namespace = nextNamespace();
    fakes.clear();
    fakes.set(namespace, fake);
    const workflowId = dataRolloutWorkflowId(namespace, 'cfg');
    started.push(workflowId);
    await announce(namespace, 1);
    const handle = temporal.client.workflow.getHandle(workflowId);
    await eventually(
      async () => expect(Object.values(fake.requests())).toEqual(Array(fake.pods.size).fill(release(1).version.id)),
      20_000,
      100,
    );
    return { namespace, fake, handle };
  }

  const announce = (namespace: string, n: number) =>
    temporal.client.workflow.signalWithStart(dataRolloutWorkflow, {
      taskQueue,
      workflowId: dataRolloutWorkflowId(namespace, 'cfg'),
      args: [{ namespace, source: 'cfg' }],
      signal: versionAvailableSignal,
      signalArgs: [release(n)],
    });
  const status = (handle: WorkflowHandle): Promise<DataRolloutStatus> => handle.query(dataRolloutStatusQuery);
  const until = (handle: WorkflowHandle, wanted: (s: DataRolloutStatus) => boolean) =>
    eventually(
      async () => {
        const s = await status(handle);
        if (!wanted(s))
          throw new Error(
            `not yet: ${JSON.stringify({ rollout: s.rollout?.state, recent: s.recent.map((r) => r.state), decisions: kinds(s) })}`,
          );
        return s;
      },
      30_000,
      100,
    );
  const start = (handle: WorkflowHandle, request: DataStartRequest = {}) =>
    handle.executeUpdate(startDataRolloutUpdate, { args: [request] });
  const control = (handle: WorkflowHandle, name: 'pause' | 'resume' | 'abort', by = 'alice') =>
    handle.executeUpdate(dataRolloutControlUpdates[name], { args: [{ by }] });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (err: unknown) => {
        expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
        return (err as WorkflowUpdateFailedError).cause?.message;
      },
    );
  const v = (n: number) => release(n).version.id;

  return {
    /** Set once the file's beforeAll has run. */
    get temporal(): TemporalClients {
      return temporal;
    },
    taskQueue,
    fakes,
    started,
    nextNamespace,
    bootstrapped,
    announce,
    status,
    until,
    start,
    control,
    refusal,
    v,
  };
}

/** The HTTP app with the rollout routes over an in-memory stand-in for Temporal and the cluster, for the rollouts API unit tests. */
import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../api/app';
import { createAuthorizer, type ClusterAuth, type ResourceAction, type ReviewedUser } from '../../api/auth';
import {
  RolloutEndedError,
  RolloutRefusedError,
  type RolloutFilter,
  type RolloutRecord,
  type RolloutWorkflows,
  type StartOutcome,
} from '../../api/rollout/rollout-workflows';
import type { LiveWorkload } from '../../api/rollout/rollout-workloads';
import { type RolloutSpec, type RolloutSpecInput, type RolloutTarget } from '../../domain/rollout/rollout-spec';
import { createMetricsRegistry } from '../../platform/metrics';
import type { Control as ControlName } from '../../domain/gate/stage-controls';
import type { RolloutStatus, RolloutWorkflowInput } from '../../contracts/rollout-messages';

export const EMBEDDED = 'embedded-secret-token';
export const operator: ReviewedUser = { username: 'operator', groups: [], extra: {} };
export const viewer: ReviewedUser = { username: 'viewer', groups: [], extra: {} };
export const nobody: ReviewedUser = { username: 'nobody', groups: [], extra: {} };
export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const startRollout = (app: Express, token: string, body: unknown) =>
  request(app)
    .post('/v1/rollouts')
    .set(bearer(token))
    .send(body as object);

export const WEB: RolloutTarget = { namespace: 'shop', kind: 'Deployment', name: 'web' };

export const spec = (overrides: Partial<RolloutSpecInput> = {}): RolloutSpecInput => ({
  target: WEB,
  change: { images: { web: 'shop/web:2' } },
  stages: [
    { replicas: '25%', bakeSeconds: 60 },
    { replicas: '100%', bakeSeconds: 0 },
  ],
  ...overrides,
});

export const record = (overrides: Partial<RolloutRecord> = {}): RolloutRecord => ({
  rolloutId: 'aaaaaaaaaaaa',
  workflowId: 'rollout/shop/Deployment/web',
  runId: 'run-1',
  target: WEB,
  state: 'Baking',
  stage: 0,
  executionStatus: 'RUNNING',
  running: true,
  summary: 'Deployment shop/web: images web=shop/web:2; 25% → 100%, automatic rollback',
  startedAt: '2026-11-22T08:00:00.000Z',
  closedAt: null,
  ...overrides,
});

export const statusOf = (r: RolloutRecord): RolloutStatus => ({
  rolloutId: r.rolloutId,
  workflowId: r.workflowId,
  target: r.target,
  summary: r.summary ?? '',
  state: r.state ?? 'Pending',
  stage: r.stage ?? -1,
  totalReplicas: 4,
  stages: [],
  pods: { updated: 1, ready: 0, erroring: [] },
  decisions: [{ at: '2026-11-22T08:00:00.000Z', kind: 'started', stage: null, reason: 'started through the API' }],
  decisionsDropped: 0,
  startedAt: r.startedAt,
  endedAt: null,
  requestId: null,
  supersededBy: null,
});

/** A RolloutWorkflows over an in-memory list of rollouts, one running per workflow ID, as Temporal would keep them. */
export function fakeControl() {
  const rollouts: RolloutRecord[] = [];
  const started: RolloutWorkflowInput[] = [];
  const calls: string[] = [];
  const lists: RolloutFilter[] = [];
  let refusal: string | null = null;
  let endsBeforeControl = false;
  let livePods: RolloutStatus['pods'] | null = null;
  /** The spec each rollout was started with, as its history would hold it; what specOf was asked. */
  const specs = new Map<string, RolloutSpec>();
  const specReads: Parameters<RolloutWorkflows['specOf']>[0][] = [];
  const control: RolloutWorkflows = {
    find: (id) => Promise.resolve(rollouts.find((r) => r.rolloutId === id) ?? null),
    start(input): Promise<StartOutcome> {
      const workflowId = `rollout/${input.spec.target.namespace}/${input.spec.target.kind}/${input.spec.target.name}`;
      const running = rollouts.find((r) => r.workflowId === workflowId && r.running);
      if (running && running.rolloutId === input.rolloutId) return Promise.resolve({ outcome: 'existing', runId: running.runId });
      if (running && !input.spec.supersede) return Promise.resolve({ outcome: 'conflict', runningRolloutId: running.rolloutId });
      if (running && refusal !== null) return Promise.reject(new RolloutRefusedError(refusal));
      started.push(input);
      specs.set(input.rolloutId, JSON.parse(JSON.stringify(input.spec)) as RolloutSpec);
      if (running) Object.assign(running, { running: false, state: 'Superseded', executionStatus: 'CONTINUED_AS_NEW' });
      rollouts.push(
        record({
          rolloutId: input.rolloutId,
          workflowId,
          target: input.spec.target,
          runId: `run-${rollouts.length + 1}`,
          state: 'Pending',
          stage: null,
        }),
      );
      return Promise.resolve(
        running
          ? { outcome: 'superseded', supersededRolloutId: running.rolloutId }
          : { outcome: 'started', runId: `run-${rollouts.length}` },
      );
    },
    specOf: (r) => {
      specReads.push(r);
      return Promise.resolve(specs.get(r.rolloutId) ?? null);
    },
    status: (r) => Promise.resolve({ status: statusOf(r), livePods }),
    list(filter, limit) {
      lists.push(filter);
      const matching = rollouts.filter(
        (r) =>
          (filter.namespace === undefined || r.target.namespace === filter.namespace) &&
          (filter.state === undefined || r.state === filter.state),
      );
      return Promise.resolve({ records: matching.slice(0, limit), truncated: matching.length > limit });
    },
    control(r, action: ControlName, request) {
      calls.push(`${action} ${r.rolloutId} ${String(request.reason)} by ${String(request.by)}`);
      if (endsBeforeControl) {
        Object.assign(r, { running: false, state: 'RolledBack', executionStatus: 'COMPLETED' });
        return Promise.reject(new RolloutEndedError(`rollout ${r.rolloutId} is no longer running`));
      }
      if (refusal !== null) return Promise.reject(new RolloutRefusedError(refusal));
      return Promise.resolve({ ...statusOf(r), state: action === 'pause' ? 'Paused' : (r.state ?? 'Pending') });
    },
  };
  return {
    control,
    rollouts,
    started,
    specs,
    specReads,
    calls,
    lists,
    refuse: (reason: string) => (refusal = reason),
    endBeforeControl: () => (endsBeforeControl = true),
    setLivePods: (pods: RolloutStatus['pods']) => (livePods = pods),
  };
}

export function setup() {
  const fake = fakeControl();
  const sars: ResourceAction[] = [];
  /** The live workloads: a container `web` on shop/web:1 (and a sidecar), selected by app=<name>. */
  const liveOf = (name: string): LiveWorkload => ({
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [
          { name: 'web', image: 'shop/web:1' },
          { name: 'proxy', image: 'shop/proxy:1' },
        ],
      },
    },
    matchLabels: { app: name },
    heldBy: null,
  });
  const live = new Map<string, LiveWorkload>([
    ['shop/Deployment/web', liveOf('web')],
    ['shop/StatefulSet/db', liveOf('db')],
  ]);
  const reads: RolloutTarget[] = [];
  const cluster: ClusterAuth = {
    reviewToken: (token) =>
      Promise.resolve(
        ({ 'operator-token': operator, 'viewer-token': viewer, 'nobody-token': nobody } as Record<string, ReviewedUser>)[token] ?? null,
      ),
    canAccess: (user, action) => {
      sars.push(action);
      return Promise.resolve(user === operator || (user === viewer && (action.verb === 'get' || action.verb === 'list')));
    },
  };
  const app = createApp({
    logger: pino({ level: 'silent' }),
    registry: createMetricsRegistry(),
    checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
    rollouts: {
      workflows: fake.control,
      workloads: {
        read: (t) => {
          reads.push(t);
          return Promise.resolve(live.get(`${t.namespace}/${t.kind}/${t.name}`) ?? null);
        },
      },
      authorizer: createAuthorizer({ cluster, embeddedToken: EMBEDDED }),
      temporalUi: { url: 'http://ui:8233', namespace: 'default' },
    },
  });
  return { app, sars, live, reads, ...fake };
}

import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../../api/app';
import { createAuthorizer, type ClusterAuth, type ResourceAction, type ReviewedUser } from '../../../api/auth';
import {
  RolloutEndedError,
  RolloutRefusedError,
  type RolloutFilter,
  type RolloutRecord,
  type RolloutWorkflows,
  type StartOutcome,
} from '../../../api/rollout/rollout-workflows';
import type { LiveWorkload } from '../../../api/rollout/rollout-workloads';
import { requestRolloutId } from '../../../api/rollout/rollouts';
import { differingFields, liveChangeProblems, sameRolloutRequest, specJson } from '../../../domain/rollout/rollout-request';
import { parseRolloutSpec, type RolloutSpec, type RolloutSpecInput, type RolloutTarget } from '../../../domain/rollout/rollout-spec';
import { createMetricsRegistry } from '../../../platform/metrics';
import type { Control as ControlName } from '../../../domain/gate/stage-controls';
import type { RolloutStatus, RolloutWorkflowInput } from '../../../contracts/rollout-messages';

const EMBEDDED = 'embedded-secret-token';
const operator: ReviewedUser = { username: 'operator', groups: [], extra: {} };
const viewer: ReviewedUser = { username: 'viewer', groups: [], extra: {} };
const nobody: ReviewedUser = { username: 'nobody', groups: [], extra: {} };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const startRollout = (app: Express, token: string, body: unknown) =>
  request(app)
    .post('/v1/rollouts')
    .set(bearer(token))
    .send(body as object);

const WEB: RolloutTarget = { namespace: 'shop', kind: 'Deployment', name: 'web' };

const spec = (overrides: Partial<RolloutSpecInput> = {}): RolloutSpecInput => ({
  target: WEB,
  change: { images: { web: 'shop/web:2' } },
  stages: [
    { replicas: '25%', bakeSeconds: 60 },
    { replicas: '100%', bakeSeconds: 0 },
  ],
  ...overrides,
});

const record = (overrides: Partial<RolloutRecord> = {}): RolloutRecord => ({
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

const statusOf = (r: RolloutRecord): RolloutStatus => ({
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
function fakeControl() {
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

function setup() {
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

describe('POST /v1/rollouts', () => {
  it('202: starts the rollout with its defaults applied and answers its ID, status URL and Temporal UI link', async () => {
    const { app, started, sars } = setup();
    const res = await startRollout(app, 'operator-token', spec());
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      rolloutId: expect.stringMatching(/^[0-9a-f]{12}$/),
      workflowId: 'rollout/shop/Deployment/web',
      statusUrl: `/v1/rollouts/${res.body.rolloutId}`,
      temporalUiUrl: 'http://ui:8233/namespaces/default/workflows/rollout%2Fshop%2FDeployment%2Fweb/run-1',
      existing: false,
    });
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({
      rolloutId: res.body.rolloutId,
      spec: { gate: { maxErrorPods: 0, noData: 'wait' }, rollback: 'automatic', supersede: false },
    });
    expect(sars).toEqual([{ verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'shop', name: 'web' }]);
  });

  it('random IDs differ between starts without a request ID', async () => {
    const { app } = setup();
    const a = await startRollout(app, EMBEDDED, spec());
    const b = await startRollout(app, EMBEDDED, spec({ target: { namespace: 'shop', kind: 'StatefulSet', name: 'db' } }));
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.rolloutId).not.toBe(b.body.rolloutId);
  });

  it('200: the same request ID again answers the original rollout, running or ended, without starting another', async () => {
    const { app, started, rollouts } = setup();
    const first = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-42' }));
    expect(first.status).toBe(202);
    expect(first.body.rolloutId).toBe(requestRolloutId(WEB, 'deploy-42'));

    const again = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-42' }));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, existing: true });

    Object.assign(rollouts[0]!, { running: false, state: 'Succeeded', executionStatus: 'COMPLETED' });
    const afterEnd = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-42' }));
    expect(afterEnd.status).toBe(200);
    expect(afterEnd.body.rolloutId).toBe(first.body.rolloutId);
    expect(started).toHaveLength(1);
  });

  it('200 also when visibility has not caught up yet: the running rollout is the same one', async () => {
    const { app, control, started } = setup();
    await startRollout(app, EMBEDDED, spec({ requestId: 'r1' }));
    const find = control.find;
    control.find = () => Promise.resolve(null);
    const res = await startRollout(app, EMBEDDED, spec({ requestId: 'r1' }));
    control.find = find;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rolloutId: requestRolloutId(WEB, 'r1'), existing: true });
    expect(started).toHaveLength(1);
  });

  describe('the same request ID with a different spec', () => {
    const parsed = (input: RolloutSpecInput): RolloutSpec => {
      const result = parseRolloutSpec(input);
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return result.spec;
    };

    it('422 naming requestId when a retry changed the image but kept the ID; nothing starts', async () => {
      const { app, started } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-77' }));
      expect(first.status).toBe(202);
      const bumped = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-77', change: { images: { web: 'shop/web:3' } } }));
      expect(bumped.status).toBe(422);
      expect(bumped.body).toEqual({
        error: `request ID "ci-77" already started rollout ${first.body.rolloutId} on Deployment shop/web with a different spec; send a new request ID to roll out this one`,
        details: [{ field: 'requestId', message: `already used by rollout ${first.body.rolloutId} with a different spec (change differ)` }],
      });
      expect(started).toHaveLength(1);
    });

    it.each<[string, Partial<RolloutSpecInput>, string]>([
      [
        'stages',
        {
          stages: [
            { replicas: '50%', bakeSeconds: 60 },
            { replicas: '100%', bakeSeconds: 0 },
          ],
        },
        'stages',
      ],
      ['gate', { gate: { maxErrorPods: 1 } }, 'gate'],
      ['rollback', { rollback: 'freeze' }, 'rollback'],
      ['change and stages', { change: { env: { web: { MODE: 'b' } } }, stages: [{ replicas: 1, bakeSeconds: 5 }] }, 'change, stages'],
    ])('422 when only %s differ', async (_what, over, fields) => {
      const { app } = setup();
      await startRollout(app, EMBEDDED, spec({ requestId: 'ci-78' }));
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-78', ...over }));
      expect(res.status).toBe(422);
      expect(res.body.details).toEqual([{ field: 'requestId', message: expect.stringContaining(`(${fields} differ)`) }]);
    });

    it('422 after the rollout ended too', async () => {
      const { app, rollouts } = setup();
      await startRollout(app, EMBEDDED, spec({ requestId: 'ci-79' }));
      Object.assign(rollouts[0]!, { running: false, state: 'Succeeded', executionStatus: 'COMPLETED' });
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-79', change: { images: { web: 'shop/web:3' } } }));
      expect(res.status).toBe(422);
    });

    it('200 for the same spec written otherwise: defaults spelled out, keys in another order, supersede added', async () => {
      const { app, specReads } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-80' }));
      const same = {
        supersede: true,
        rollback: 'automatic',
        gate: { noData: 'wait', maxErrorPods: 0 },
        stages: spec().stages,
        change: { images: { web: 'shop/web:2' } },
        target: { name: 'web', kind: 'Deployment', namespace: 'shop' },
        requestId: 'ci-80',
      };
      const res = await startRollout(app, EMBEDDED, same);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ rolloutId: first.body.rolloutId, existing: true });
      expect(specReads).toEqual([
        expect.objectContaining({ rolloutId: first.body.rolloutId, workflowId: 'rollout/shop/Deployment/web', runId: 'run-1' }),
      ]);
    });

    it('422 also when visibility has not caught up (the start finds the running rollout is this one)', async () => {
      const { app, control, specReads } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-81' }));
      control.find = () => Promise.resolve(null);
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-81', change: { images: { web: 'shop/web:3' } } }));
      expect(res.status).toBe(422);
      expect(specReads).toEqual([{ rolloutId: first.body.rolloutId, workflowId: 'rollout/shop/Deployment/web', runId: 'run-1' }]);
    });

    it('a rollout Pending after a supersede is compared with the spec of its supersede (read from the run it waits for)', async () => {
      const { app, rollouts, specs, specReads } = setup();
      const rolloutId = requestRolloutId(WEB, 'deploy-8');
      rollouts.push(record({ rolloutId, state: 'Pending', stage: null, summary: null, waitsFor: 'aaaaaaaaaaaa' }));
      specs.set(rolloutId, parsed(spec({ requestId: 'deploy-8', supersede: true })));
      const same = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-8', supersede: true }));
      expect(same.status).toBe(200);
      const other = await startRollout(
        app,
        EMBEDDED,
        spec({ requestId: 'deploy-8', supersede: true, stages: [{ replicas: 1, bakeSeconds: 1 }] }),
      );
      expect(other.status).toBe(422);
      expect(specReads[0]).toMatchObject({ rolloutId, waitsFor: 'aaaaaaaaaaaa', runId: 'run-1' });
    });

    it("200 when the existing rollout's spec cannot be read back (answered as the same, as before)", async () => {
      const { app, specs } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-82' }));
      specs.clear();
      const res = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-82', change: { images: { web: 'shop/web:3' } } }));
      expect(res.status).toBe(200);
      expect(res.body.rolloutId).toBe(first.body.rolloutId);
    });

    it('specJson sorts keys at every level, drops undefined members and keeps array order', () => {
      expect(specJson({ b: 1, a: { d: [2, 1], c: undefined, e: null } })).toBe('{"a":{"d":[2,1],"e":null},"b":1}');
      expect(specJson({ a: 1, b: 2 })).toBe(specJson({ b: 2, a: 1 }));
      expect(specJson([1, undefined, 'x'])).toBe('[1,null,"x"]');
      // A null env value removes the variable: it is not the same as leaving it out.
      expect(specJson({ env: { X: null } })).not.toBe(specJson({ env: {} }));
      expect(specJson('é"')).toBe(JSON.stringify('é"'));
    });

    it('sameRolloutRequest ignores supersede only; differingFields names the top-level fields', () => {
      const a = parsed(spec({ requestId: 'r' }));
      expect(sameRolloutRequest(a, { ...a, supersede: !a.supersede })).toBe(true);
      expect(sameRolloutRequest(a, parsed(spec({ requestId: 'r2' })))).toBe(false);
      const b = parsed(spec({ requestId: 'r', gate: { minReadySeconds: 5 } }));
      expect(sameRolloutRequest(a, b)).toBe(false);
      expect(differingFields(a, b)).toEqual(['gate']);
    });
  });

  describe('a change checked against the live workload before anything starts', () => {
    const template = (labels: Record<string, string>) => ({
      metadata: { labels },
      spec: { containers: [{ name: 'web', image: 'shop/web:3' }] },
    });

    it.each<[string, Partial<RolloutSpecInput>, { field: string; message: string }[]]>([
      [
        'an unknown container in change.images',
        { change: { images: { nope: 'shop/nope:2' } } },
        [{ field: 'change.images.nope', message: "Deployment shop/web: the pod template has no container 'nope' (it has 'web', 'proxy')" }],
      ],
      [
        'an unknown container in change.env',
        { change: { images: { web: 'shop/web:2' }, env: { sidecar: { MODE: 'b' } } } },
        [
          {
            field: 'change.env.sidecar',
            message: "Deployment shop/web: the pod template has no container 'sidecar' (it has 'web', 'proxy')",
          },
        ],
      ],
      [
        'the same unknown container in both',
        { change: { images: { nope: 'shop/nope:2' }, env: { nope: { A: '1' } } } },
        [
          { field: 'change.images.nope', message: expect.stringContaining("no container 'nope'") as string },
          { field: 'change.env.nope', message: expect.stringContaining("no container 'nope'") as string },
        ],
      ],
      [
        'a change that alters nothing',
        { change: { images: { web: 'shop/web:1' } } },
        [{ field: 'change', message: 'the change leaves the pod template of Deployment shop/web as it is' }],
      ],
      [
        "a whole template without the selector's labels",
        { change: { template: template({ app: 'other' }) } },
        [
          {
            field: 'change.template.metadata.labels',
            message: "the new template lacks the selector's labels app=web: its pods would not belong to Deployment shop/web",
          },
        ],
      ],
    ])('422 for %s, naming the field; nothing starts', async (_what, over, details) => {
      const { app, started } = setup();
      const res = await startRollout(app, EMBEDDED, spec(over));
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ error: 'the change cannot be rolled out to Deployment shop/web as it is now', details });
      expect(started).toEqual([]);
    });

    it('202 for a whole template carrying the selector labels, and for an env change of the sidecar', async () => {
      const { app, started } = setup();
      expect((await startRollout(app, EMBEDDED, spec({ change: { template: template({ app: 'web', tier: 'front' }) } }))).status).toBe(202);
      const db = { namespace: 'shop', kind: 'StatefulSet' as const, name: 'db' };
      expect((await startRollout(app, EMBEDDED, spec({ target: db, change: { env: { proxy: { MODE: 'b' } } } }))).status).toBe(202);
      expect(started).toHaveLength(2);
    });

    it('is not made while a rollout holds the workload: the start answers 409, or supersedes', async () => {
      const { app, live, started } = setup();
      await startRollout(app, EMBEDDED, spec());
      // The running rollout's annotation is on the workload (a StatefulSet's template, say, already written).
      live.get('shop/Deployment/web')!.heldBy = 'aaaaaaaaaaaa';
      const noop = spec({ change: { images: { web: 'shop/web:1' } } });
      expect((await startRollout(app, EMBEDDED, noop)).status).toBe(409);
      expect((await startRollout(app, EMBEDDED, { ...noop, supersede: true })).status).toBe(202);
      expect(started).toHaveLength(2);
    });

    it('a repeated start answers 200 existing even once the workload runs the new template', async () => {
      const { app, live, rollouts } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-90' }));
      Object.assign(rollouts[0]!, { running: false, state: 'Succeeded', executionStatus: 'COMPLETED' });
      live.set('shop/Deployment/web', {
        ...live.get('shop/Deployment/web')!,
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              { name: 'web', image: 'shop/web:2' },
              { name: 'proxy', image: 'shop/proxy:1' },
            ],
          },
        },
      });
      const again = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-90' }));
      expect(again.status).toBe(200);
      expect(again.body.rolloutId).toBe(first.body.rolloutId);
      // Without the request ID, the same change now alters nothing.
      expect((await startRollout(app, EMBEDDED, spec())).status).toBe(422);
    });

    it('liveChangeProblems: none for a valid change; a selector label the live template lacks too', () => {
      const parsedSpec = parseRolloutSpec(spec());
      if (!parsedSpec.ok) throw new Error('spec');
      const liveWeb: LiveWorkload = {
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'shop/web:1' }] } },
        matchLabels: { app: 'web' },
        heldBy: null,
      };
      expect(liveChangeProblems(liveWeb, parsedSpec.spec)).toEqual([]);
      expect(liveChangeProblems({ ...liveWeb, matchLabels: { app: 'web', 'app.kubernetes.io/part': 'shop' } }, parsedSpec.spec)).toEqual([
        {
          field: 'change',
          message:
            "the new template lacks the selector's labels app.kubernetes.io/part=shop: its pods would not belong to Deployment shop/web",
        },
      ]);
    });
  });

  it('the request ID is scoped to the target', () => {
    expect(requestRolloutId(WEB, 'x')).not.toBe(requestRolloutId({ ...WEB, name: 'api' }, 'x'));
    expect(requestRolloutId(WEB, 'x')).toBe(requestRolloutId({ ...WEB }, 'x'));
  });

  it('409: a second rollout on a running target names the running rollout', async () => {
    const { app, started } = setup();
    const first = await startRollout(app, EMBEDDED, spec());
    const second = await startRollout(app, EMBEDDED, spec({ change: { images: { web: 'shop/web:3' } } }));
    expect(second.status).toBe(409);
    expect(second.body).toEqual({
      error: `a rollout is already running on Deployment shop/web: ${first.body.rolloutId}`,
      details: [{ field: 'target', message: expect.stringContaining('supersede: true') }],
      runningRolloutId: first.body.rolloutId,
    });
    expect(started).toHaveLength(1);
  });

  it('202 with supersede: the new rollout replaces the running one', async () => {
    const { app, started } = setup();
    const first = await startRollout(app, EMBEDDED, spec());
    const second = await startRollout(app, EMBEDDED, spec({ change: { images: { web: 'shop/web:3' } }, supersede: true }));
    expect(second.status).toBe(202);
    expect(second.body).toMatchObject({
      supersededRolloutId: first.body.rolloutId,
      existing: false,
      workflowId: 'rollout/shop/Deployment/web',
    });
    expect(second.body.rolloutId).not.toBe(first.body.rolloutId);
    // The new run's ID is not known when the update is accepted: the link is to the workflow.
    expect(second.body.temporalUiUrl).toBe('http://ui:8233/namespaces/default/workflows/rollout%2Fshop%2FDeployment%2Fweb');
    expect(started.map((s) => s.spec.change.images?.web)).toEqual(['shop/web:2', 'shop/web:3']);
  });

  it('200 existing for a superseding start repeated while the rollout it replaced rolls back (found Pending in that run)', async () => {
    const { app, rollouts, started } = setup();
    const rolloutId = requestRolloutId(WEB, 'deploy-7');
    rollouts.push(record({ rolloutId, state: 'Pending', stage: null, summary: null, waitsFor: 'aaaaaaaaaaaa' }));
    const res = await startRollout(app, EMBEDDED, spec({ requestId: 'deploy-7', supersede: true }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ rolloutId, existing: true, statusUrl: `/v1/rollouts/${rolloutId}` });
    expect(started).toEqual([]);
  });

  it('409 when the running rollout refuses to be superseded, with its reason', async () => {
    const { app, refuse } = setup();
    await startRollout(app, EMBEDDED, spec());
    refuse('supersede: the rollout is already rolling back');
    const res = await startRollout(app, EMBEDDED, spec({ supersede: true }));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('the running rollout refused to be superseded: supersede: the rollout is already rolling back');
  });

  it('400: every problem of the spec, each with its field path; nothing is started', async () => {
    const { app, started, sars } = setup();
    const res = await startRollout(app, EMBEDDED, {
      target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
      change: { images: { web: 'shop/Web:2' } },
      stages: [
        { replicas: '50%', bakeSeconds: 10 },
        { replicas: '25%', bakeSeconds: -1 },
      ],
      color: 'blue',
    });
    expect(res.status).toBe(400);
    const fields = res.body.details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['change.images.web', 'stages[1].replicas', 'stages[1].bakeSeconds', 'color']));
    expect(res.body.details.find((d: { field: string }) => d.field === 'stages[1].replicas').message).toContain('shares must not decrease');
    expect(started).toEqual([]);
    expect(sars).toEqual([]);
  });

  it.each([
    [{}, ['target', 'change', 'stages']],
    [[1, 2], ['body']],
  ])('400 for body %j names %j', async (body, fields) => {
    const { app } = setup();
    const res = await startRollout(app, EMBEDDED, body);
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual(fields);
  });

  it('400 for a body that is not JSON', async () => {
    const { app } = setup();
    const res = await request(app).post('/v1/rollouts').set(bearer(EMBEDDED)).set('content-type', 'application/json').send('{"target":');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^invalid JSON body/);
  });

  it('401 without a token, 401 with a token the cluster refuses', async () => {
    const { app, started } = setup();
    const none = await request(app).post('/v1/rollouts').send(spec());
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const bad = await startRollout(app, 'stolen', spec());
    expect(bad.status).toBe(401);
    expect(started).toEqual([]);
  });

  it('403 without patch on the workload, naming the permission; a StatefulSet needs it on statefulsets', async () => {
    const { app, started, sars } = setup();
    const res = await startRollout(app, 'viewer-token', spec({ target: { namespace: 'shop', kind: 'StatefulSet', name: 'db' } }));
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('not allowed to roll out StatefulSet shop/db (needs patch on statefulsets.apps db in namespace shop)');
    expect(sars).toEqual([{ verb: 'patch', group: 'apps', resource: 'statefulsets', namespace: 'shop', name: 'db' }]);
    expect(started).toEqual([]);
  });

  it('413 beyond 256 KiB; a large body under the limit is read', async () => {
    const { app, started } = setup();
    const tooLarge = await startRollout(app, EMBEDDED, spec({ requestId: 'x'.repeat(270 * 1024) }));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.details).toEqual([{ field: 'body', message: expect.any(String) }]);
    const large = await startRollout(app, EMBEDDED, { ...spec(), padding: 'x'.repeat(200 * 1024) });
    expect(large.status).toBe(400); // read and validated: `padding` is an unknown field
    expect(large.body.details).toEqual([{ field: 'padding', message: 'unknown field' }]);
    expect(started).toEqual([]);
  });

  it('422 when the target workload does not exist, naming it', async () => {
    const { app, started } = setup();
    const res = await startRollout(app, EMBEDDED, spec({ target: { namespace: 'shop', kind: 'Deployment', name: 'gone' } }));
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error: 'Deployment shop/gone does not exist',
      details: [{ field: 'target', message: 'no Deployment named gone in namespace shop' }],
    });
    expect(started).toEqual([]);
  });
});

describe('GET /v1/rollouts/{id}', () => {
  it('200: the status with its links; get on the workload is enough', async () => {
    const { app, rollouts, sars } = setup();
    rollouts.push(record());
    const res = await request(app).get('/v1/rollouts/aaaaaaaaaaaa').set(bearer('viewer-token'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      rolloutId: 'aaaaaaaaaaaa',
      state: 'Baking',
      runId: 'run-1',
      statusUrl: '/v1/rollouts/aaaaaaaaaaaa',
      temporalUiUrl: 'http://ui:8233/namespaces/default/workflows/rollout%2Fshop%2FDeployment%2Fweb/run-1',
      pods: { updated: 1, ready: 0, erroring: [] },
      podsLive: false,
      decisions: [{ kind: 'started' }],
    });
    expect(sars).toEqual([{ verb: 'get', group: 'apps', resource: 'deployments', namespace: 'shop', name: 'web' }]);
  });

  it("pods come from the running bake's heartbeat when there is one", async () => {
    const { app, rollouts, setLivePods } = setup();
    rollouts.push(record());
    setLivePods({ updated: 2, ready: 2, erroring: ['web-2'] });
    const res = await request(app).get('/v1/rollouts/aaaaaaaaaaaa').set(bearer(EMBEDDED));
    expect(res.body).toMatchObject({ pods: { updated: 2, ready: 2, erroring: ['web-2'] }, podsLive: true });
  });

  it('404 for an unknown ID; 400 for one that cannot be an ID; 401 without a token; 403 without get', async () => {
    const { app, rollouts } = setup();
    const unknown = await request(app).get('/v1/rollouts/bbbbbbbbbbbb').set(bearer(EMBEDDED));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'no rollout bbbbbbbbbbbb', details: [{ field: 'id', message: 'no rollout has this ID' }] });
    const malformed = await request(app)
      .get(`/v1/rollouts/${encodeURIComponent("x' OR '1'='1")}`)
      .set(bearer(EMBEDDED));
    expect(malformed.status).toBe(400);
    expect(malformed.body.details).toEqual([{ field: 'id', message: expect.stringContaining('expected a rollout ID') }]);
    rollouts.push(record());
    expect((await request(app).get('/v1/rollouts/aaaaaaaaaaaa')).status).toBe(401);
    const stranger = await request(app).get('/v1/rollouts/aaaaaaaaaaaa').set(bearer('nobody-token'));
    expect(stranger.status).toBe(403);
    expect(stranger.body.error).toBe(
      'not allowed to read rollout aaaaaaaaaaaa of Deployment shop/web (needs get on deployments.apps web in namespace shop)',
    );
  });
});

describe('GET /v1/rollouts', () => {
  it('lists from visibility with the filters; list on deployments in the namespace', async () => {
    const { app, rollouts, lists, sars } = setup();
    rollouts.push(
      record(),
      record({
        rolloutId: 'cccccccccccc',
        target: { namespace: 'other', kind: 'StatefulSet', name: 'db' },
        state: 'Succeeded',
        running: false,
      }),
    );
    const res = await request(app).get('/v1/rollouts?namespace=shop&state=Baking').set(bearer('viewer-token'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      rollouts: [
        {
          rolloutId: 'aaaaaaaaaaaa',
          workflowId: 'rollout/shop/Deployment/web',
          runId: 'run-1',
          target: WEB,
          state: 'Baking',
          stage: 0,
          executionStatus: 'RUNNING',
          summary: expect.stringContaining('Deployment shop/web'),
          startedAt: '2026-11-22T08:00:00.000Z',
          closedAt: null,
        },
      ],
      truncated: false,
    });
    expect(lists).toEqual([{ namespace: 'shop', state: 'Baking' }]);
    expect(sars).toEqual([{ verb: 'list', group: 'apps', resource: 'deployments', namespace: 'shop' }]);

    const all = await request(app).get('/v1/rollouts').set(bearer('viewer-token'));
    expect(all.body.rollouts.map((r: { rolloutId: string }) => r.rolloutId)).toEqual(['aaaaaaaaaaaa', 'cccccccccccc']);
    expect(sars[1]).toEqual({ verb: 'list', group: 'apps', resource: 'deployments', namespace: '' });
  });

  it.each([
    ['namespace=Shop', 'namespace', "'Shop' is not a namespace name"],
    ['state=Running', 'state', 'expected one of Pending, Progressing'],
    ['state=Baking&state=Paused', 'state', 'expected one of'],
    ['kind=Deployment', 'kind', 'unknown field, expected namespace, state'],
  ])('400 for ?%s naming %s', async (query, field, message) => {
    const { app, lists } = setup();
    const res = await request(app).get(`/v1/rollouts?${query}`).set(bearer(EMBEDDED));
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field, message: expect.stringContaining(message) }]);
    expect(lists).toEqual([]);
  });

  it('401 without a token; 403 without list, in the namespace or cluster-wide', async () => {
    const { app, lists } = setup();
    expect((await request(app).get('/v1/rollouts?namespace=shop')).status).toBe(401);
    const denied = await request(app).get('/v1/rollouts?namespace=shop').set(bearer('nobody-token'));
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe('not allowed to list rollouts in namespace shop (needs list on deployments.apps in namespace shop)');
    const everywhere = await request(app).get('/v1/rollouts').set(bearer('nobody-token'));
    expect(everywhere.status).toBe(403);
    expect(everywhere.body.error).toMatch(/^not allowed to list rollouts in every namespace/);
    expect(lists).toEqual([]);
  });
});

describe('POST /v1/rollouts/{id}/{control}', () => {
  it.each(['pause', 'resume', 'approve', 'abort', 'promote'] as const)(
    '%s: 200 with the status after it; patch on the workload',
    async (action) => {
      const { app, rollouts, calls, sars } = setup();
      rollouts.push(record());
      const res = await request(app)
        .post(`/v1/rollouts/aaaaaaaaaaaa/${action}`)
        .set(bearer('operator-token'))
        .send({ reason: 'looks good' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ rolloutId: 'aaaaaaaaaaaa', statusUrl: '/v1/rollouts/aaaaaaaaaaaa', podsLive: false });
      // The decision records who asked: the reviewed user's name.
      expect(calls).toEqual([`${action} aaaaaaaaaaaa looks good by ${operator.username}`]);
      expect(sars).toEqual([{ verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'shop', name: 'web' }]);
    },
  );

  it('without a body, the reason is undefined; the embedded token is named api-token', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record());
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/pause').set(bearer(EMBEDDED));
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('Paused');
    expect(calls).toEqual(['pause aaaaaaaaaaaa undefined by api-token']);
  });

  it("409 when the workflow refuses, with the workflow's reason", async () => {
    const { app, rollouts, refuse } = setup();
    rollouts.push(record());
    refuse('approve: the rollout is not awaiting approval (state Baking)');
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/approve').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      error: 'approve: the rollout is not awaiting approval (state Baking)',
      details: [{ field: 'action', message: 'approve: the rollout is not awaiting approval (state Baking)' }],
    });
  });

  it('409 for an ended rollout, naming its state, without sending the control', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record({ running: false, state: 'RolledBack', executionStatus: 'COMPLETED' }));
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/abort').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('cannot abort rollout aaaaaaaaaaaa: it has ended (RolledBack)');
    expect(calls).toEqual([]);
  });

  it('409 for a superseding rollout still waiting for the rollback of the one it replaced, without sending the control to that one', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record({ rolloutId: 'bbbbbbbbbbbb', state: 'Pending', stage: null, waitsFor: 'aaaaaaaaaaaa' }));
    const res = await request(app).post('/v1/rollouts/bbbbbbbbbbbb/abort').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe(
      'cannot abort rollout bbbbbbbbbbbb: it has not started; it waits for rollout aaaaaaaaaaaa, which it superseded, to roll back',
    );
    expect(calls).toEqual([]);
  });

  it('409 naming the state when the rollout ends while the control is on its way', async () => {
    const { app, rollouts, endBeforeControl } = setup();
    rollouts.push(record());
    endBeforeControl();
    const res = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/promote').set(bearer(EMBEDDED));
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('cannot promote rollout aaaaaaaaaaaa: it has ended (RolledBack)');
  });

  it('400 for a bad reason, 401 without a token, 403 without patch, 404 for an unknown ID, 413 for a huge body, 404 for an unknown control', async () => {
    const { app, rollouts, calls } = setup();
    rollouts.push(record());
    const long = await request(app)
      .post('/v1/rollouts/aaaaaaaaaaaa/pause')
      .set(bearer(EMBEDDED))
      .send({ reason: 'x'.repeat(257) });
    expect(long.status).toBe(400);
    expect(long.body.details).toEqual([{ field: 'reason', message: 'at most 256 characters' }]);
    const extra = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/pause').set(bearer(EMBEDDED)).send({ reason: 'x', force: true });
    expect(extra.body.details).toEqual([{ field: 'force', message: 'unknown field, expected reason' }]);
    expect((await request(app).post('/v1/rollouts/aaaaaaaaaaaa/pause')).status).toBe(401);
    const denied = await request(app).post('/v1/rollouts/aaaaaaaaaaaa/abort').set(bearer('viewer-token'));
    expect(denied.status).toBe(403);
    expect(denied.body.error).toBe(
      'not allowed to abort rollout aaaaaaaaaaaa of Deployment shop/web (needs patch on deployments.apps web in namespace shop)',
    );
    expect((await request(app).post('/v1/rollouts/bbbbbbbbbbbb/pause').set(bearer(EMBEDDED))).status).toBe(404);
    expect(
      (
        await request(app)
          .post('/v1/rollouts/aaaaaaaaaaaa/pause')
          .set(bearer(EMBEDDED))
          .send({ reason: 'x'.repeat(10_000) })
      ).status,
    ).toBe(413);
    expect((await request(app).post('/v1/rollouts/aaaaaaaaaaaa/restart').set(bearer(EMBEDDED))).status).toBe(404);
    expect(calls).toEqual([]);
  });
});

describe('GET /openapi.json', () => {
  type Doc = {
    openapi: string;
    paths: Record<
      string,
      Record<string, { requestBody?: unknown; responses: Record<string, unknown>; parameters?: { name: string; in: string }[] }>
    >;
    components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
  };

  it('is served without authentication, generated from the validation schemas', async () => {
    const { app } = setup();
    const res = await request(app).get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body as Doc;
    expect(doc.openapi).toBe('3.1.0');
    expect(
      Object.keys(doc.paths)
        .filter((p) => p.startsWith('/v1/rollouts'))
        .sort(),
    ).toEqual([
      '/v1/rollouts',
      '/v1/rollouts/{id}',
      '/v1/rollouts/{id}/abort',
      '/v1/rollouts/{id}/approve',
      '/v1/rollouts/{id}/pause',
      '/v1/rollouts/{id}/promote',
      '/v1/rollouts/{id}/resume',
    ]);
    expect(Object.keys(doc.paths['/v1/rollouts']!).sort()).toEqual(['get', 'post']);
    expect(JSON.stringify(doc.paths['/v1/rollouts']!.post!.requestBody)).toContain('#/components/schemas/RolloutSpec');
    expect(Object.keys(doc.paths['/v1/rollouts']!.post!.responses).sort()).toEqual([
      '200',
      '202',
      '400',
      '401',
      '403',
      '409',
      '413',
      '415',
      '422',
      '503',
    ]);
    expect(doc.paths['/v1/rollouts']!.get!.parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(['query:namespace', 'query:state']);
    expect(doc.paths['/v1/rollouts/{id}']!.get!.parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(['path:id']);
    expect(JSON.stringify(doc.paths['/v1/rollouts/{id}/pause']!.post!.requestBody)).toContain('#/components/schemas/RolloutControlRequest');
    expect(JSON.stringify(doc.paths['/v1/rollouts']!.post!.responses['409'])).toContain('#/components/schemas/RolloutConflict');
    expect(JSON.stringify(doc.paths['/v1/rollouts/{id}']!.get!.responses['404'])).toContain('#/components/schemas/Error');
  });

  it('describes the spec as the validator reads it: fields, requirements, limits and defaults', async () => {
    const { app } = setup();
    const { components } = (await request(app).get('/openapi.json')).body as Doc;
    const { schemas } = components;
    expect(schemas.RolloutSpec!.required).toEqual(['target', 'change', 'stages']);
    expect(Object.keys(schemas.RolloutSpec!.properties!)).toEqual([
      'target',
      'change',
      'stages',
      'gate',
      'rollback',
      'requestId',
      'supersede',
    ]);
    expect(schemas.RolloutStage!.properties!.bakeSeconds).toMatchObject({ type: 'integer', minimum: 0, maximum: 86400 });
    expect(schemas.RolloutGate!.properties!.noData).toMatchObject({ enum: ['wait', 'pass', 'fail'], default: 'wait' });
    expect(schemas.RolloutControlRequest!.properties!.reason).toMatchObject({ type: 'string', maxLength: 256 });
    expect(schemas.RolloutStatus!.properties).toHaveProperty('decisions');
    expect(schemas.RolloutState).toMatchObject({ enum: expect.arrayContaining(['Baking', 'RolledBack']) });
  });

  it('follows a change of the spec schema', async () => {
    jest.resetModules();
    jest.doMock('../../../domain/rollout/rollout-spec', () => {
      const actual = jest.requireActual<typeof import('../../../domain/rollout/rollout-spec')>('../../domain/rollout-spec');
      const { z } = jest.requireActual<typeof import('zod')>('zod');
      return {
        ...actual,
        RolloutSpecSchema: actual.RolloutSpecSchema.extend({ dryRun: z.boolean().optional() }).meta({ id: 'RolloutSpec' }),
      };
    });
    const { openApiDocument } = jest.requireActual<typeof import('../../../api/openapi')>('../../api/openapi');
    const changed = openApiDocument() as unknown as Doc;
    jest.dontMock('../../domain/rollout-spec');
    expect(changed.components.schemas.RolloutSpec!.properties).toHaveProperty('dryRun');
    const { app } = setup();
    const { components } = (await request(app).get('/openapi.json')).body as Doc;
    expect(components.schemas.RolloutSpec!.properties).not.toHaveProperty('dryRun');
    // Re-requiring the API module graph after resetModules is compiled afresh: seconds on a busy machine.
  }, 60_000);
});

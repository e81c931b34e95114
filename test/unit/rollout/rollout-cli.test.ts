import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { CommanderError } from 'commander';
import pino from 'pino';
import { createApp } from '../../../api/app';
import { createAuthorizer } from '../../../api/auth';
import { RolloutRefusedError, type RolloutRecord, type RolloutWorkflows } from '../../../api/rollout/rollout-workflows';
import type { RolloutStatusBody } from '../../../api/rollout/rollouts';
import { ApiCallError } from '../../../cli/api-client';
import { createProgram } from '../../../cli/main';
import { followRollout, formatRolloutList, formatRolloutStatus } from '../../../cli/rollout';
import { buildSpec, parseSpecText } from '../../../cli/rollout-spec-flags';
import { createMetricsRegistry } from '../../../platform/metrics';
import type { RolloutStatus } from '../../../contracts/rollout-messages';

const T0 = '2026-11-22T08:00:00.000Z';

const status = (overrides: Partial<RolloutStatusBody> = {}): RolloutStatusBody => ({
  rolloutId: '3f9a0c1b2d4e',
  workflowId: 'rollout/shop/Deployment/web',
  runId: 'run-1',
  statusUrl: '/v1/rollouts/3f9a0c1b2d4e',
  target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
  summary: 'Deployment shop/web: images web=shop/web:2; 25% → 100%, automatic rollback',
  state: 'Baking',
  stage: 0,
  totalReplicas: 4,
  stages: [
    {
      index: 0,
      replicas: '25%',
      count: 1,
      bakeSeconds: 300,
      approval: { timeoutSeconds: 600, onTimeout: 'rollback' },
      result: 'baking',
      startedAt: T0,
      endedAt: null,
      reason: null,
    },
    {
      index: 1,
      replicas: '100%',
      count: 4,
      bakeSeconds: 0,
      approval: null,
      result: 'pending',
      startedAt: null,
      endedAt: null,
      reason: null,
    },
  ],
  pods: { updated: 1, ready: 1, erroring: [] },
  podsLive: true,
  decisions: [
    { at: T0, kind: 'started', stage: null, reason: 'started through the API' },
    { at: '2026-11-22T08:00:01.000Z', kind: 'stageStarted', stage: 0, reason: '1 of 4 replicas on the new template' },
  ],
  decisionsDropped: 0,
  startedAt: T0,
  endedAt: null,
  requestId: null,
  supersededBy: null,
  ...overrides,
});

describe('autocrane rollout: arguments', () => {
  const errors: string[] = [];
  const program = () => createProgram({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
  const run = (...args: string[]) => program().parseAsync(['node', 'autocrane', 'rollout', ...args, '--api-url', 'http://127.0.0.1:1']);
  beforeEach(() => (errors.length = 0));

  it.each([
    [['start', '--target', 'shop/web'], /Expected <namespace>\/<Kind>\/<name>/],
    [['start', '--target', 'shop/Job/web'], /Kind one of Deployment, StatefulSet/],
    [['start', '--target', 'Shop/Deployment/web'], /'Shop' is not a namespace name/],
    [['start', '--image', 'shop/web:2'], /Expected <container>=<image>/],
    [['start', '--image', 'web=Shop/Web'], /is not an image reference/],
    [['start', '--env', 'web:1X=a'], /'1X' is not an environment variable name/],
    [['start', '--stage', '25%'], /Expected <share>:<bake>/],
    [['start', '--stage', 'half:60'], /'half' is not a share/],
    [['start', '--stage', '25%:soon'], /Expected a bake time/],
    [['start', '--approval', '0:60'], /Stages count from 1/],
    [['start', '--approval', '1:60:maybe'], /Expected <stage>:<timeout>\[:proceed\|rollback\]/],
    [['start', '--rollback', 'never'], /Expected one of automatic, freeze/],
    [['start', '--on-no-data', 'ignore'], /Expected one of wait, pass, fail/],
    [['start', '--max-error-pods', '-1'], /Expected a whole number/],
    [['status', "x' OR 1=1"], /Expected a rollout ID/],
    [['status'], /missing required argument 'id'/],
    [['list', '--state', 'Running'], /Expected one of Pending, Progressing/],
    [['list', '--namespace', 'A_B'], /not a namespace name/],
    [['pause', '3f9a0c1b2d4e', '--reason', 'x'.repeat(257)], /At most 256 characters/],
    [['rewind', '3f9a0c1b2d4e'], /unknown command 'rewind'/],
  ])('%j is a usage error', async (args, message) => {
    await expect(run(...args)).rejects.toBeInstanceOf(CommanderError);
    expect(errors.join('')).toMatch(message);
  });

  it.each([
    [['start'], /give the spec with -f <file>, or at least --target/],
    [['start', '-f', 'spec.json', '--image', 'web=shop/web:2', '--stage', '50%:0'], /-f and --image, --stage cannot be combined/],
    [
      ['start', '--target', 'shop/Deployment/web', '--image', 'web=shop/web:2', '--stage', '50%:0', '--approval', '2:60'],
      /there is no stage 2 \(1 --stage given/,
    ],
    [
      ['start', '--target', 'shop/Deployment/web', '--image', 'web=shop/web:2', '--stage', '50%:0', '--stage', '25%:0'],
      /invalid rollout spec:\n {2}stages\[1\]\.replicas: 25% is less than stages\[0\]'s 50%/,
    ],
    [
      ['start', '--target', 'shop/Deployment/web', '--stage', '50%:0'],
      /invalid rollout spec:\n {2}change: must give images and\/or env, or a whole template/,
    ],
  ])('%j is a usage error found before any request (exit 2)', async (args, message) => {
    await expect(run(...args)).rejects.toMatchObject({ exitCode: 2, code: 'autocrane.usage' });
    expect(errors.join('')).toMatch(message);
  });

  it('start --help documents the flags and an example', async () => {
    let out = '';
    await expect(
      createProgram({ writeOut: (s) => (out += s), writeErr: () => undefined }).parseAsync([
        'node',
        'autocrane',
        'rollout',
        'start',
        '--help',
      ]),
    ).rejects.toMatchObject({ exitCode: 0 });
    expect(out).toContain('--stage <share>:<bake>');
    expect(out).toContain('--approval <stage>:<timeout>[:proceed|rollback]');
    expect(out).toContain('autocrane rollout start --target shop/Deployment/web');
  });
});

describe('buildSpec', () => {
  it('builds the spec from flags: images, env, stages with an approval, gate and rollback', async () => {
    const spec = await buildSpec({
      target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
      image: [
        ['web', 'shop/web:2'],
        ['sidecar', 'shop/proxy:9'],
      ],
      env: [
        ['web', 'LOG_LEVEL', 'debug'],
        ['web', 'OLD', null],
      ],
      stage: [
        { replicas: '25%', bakeSeconds: 60 },
        { replicas: 4, bakeSeconds: 0 },
      ],
      approval: [{ stage: 1, timeoutSeconds: 600, onTimeout: 'proceed' }],
      maxErrorPods: 1,
      watchdog: ['latency'],
      onNoData: 'fail',
      rollback: 'freeze',
      requestId: 'deploy-7',
      supersede: true,
    });
    expect(spec).toEqual({
      target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
      change: { images: { web: 'shop/web:2', sidecar: 'shop/proxy:9' }, env: { web: { LOG_LEVEL: 'debug', OLD: null } } },
      stages: [
        { replicas: '25%', bakeSeconds: 60, approval: { timeoutSeconds: 600, onTimeout: 'proceed' } },
        { replicas: 4, bakeSeconds: 0 },
      ],
      gate: { maxErrorPods: 1, watchdogs: ['latency'], noData: 'fail' },
      rollback: 'freeze',
      requestId: 'deploy-7',
      supersede: true,
    });
  });

  const fileSpec = {
    target: { namespace: 'shop', kind: 'StatefulSet', name: 'db' },
    change: { images: { db: 'pg:17' } },
    stages: [{ replicas: 1, bakeSeconds: 30 }],
  };

  it('reads a JSON or YAML file, or standard input; --request-id and --supersede apply on top', async () => {
    const yaml =
      'target: {namespace: shop, kind: StatefulSet, name: db}\nchange:\n  images:\n    db: "pg:17"\nstages:\n  - replicas: 1\n    bakeSeconds: 30\n';
    const files: Record<string, string> = { 'r.json': JSON.stringify(fileSpec), 'r.yaml': yaml, '-': yaml };
    const read = (path: string) => files[path] ?? '';
    expect(await buildSpec({ file: 'r.json' }, read)).toEqual(fileSpec);
    expect(await buildSpec({ file: 'r.yaml', requestId: 'x1' }, read)).toEqual({ ...fileSpec, requestId: 'x1' });
    expect(await buildSpec({ file: '-', supersede: true }, read)).toEqual({ ...fileSpec, supersede: true });
  });

  it('names what is wrong with a file', async () => {
    await expect(buildSpec({ file: 'r.json' }, () => '{"target": ')).rejects.toThrow(/^r\.json: not valid JSON: /);
    await expect(buildSpec({ file: 'r.yaml' }, () => '- a\n- b\n')).rejects.toThrow('r.yaml: expected an object (a rollout spec)');
    await expect(
      buildSpec({ file: 'r.json' }, () => JSON.stringify({ ...fileSpec, stages: [{ replicas: 0, bakeSeconds: 30 }] })),
    ).rejects.toThrow(/invalid rollout spec:\n {2}stages\[0\]\.replicas: expected a percentage/);
    await expect(
      buildSpec({ file: 'missing.json' }, () => {
        throw new Error('ENOENT: no such file or directory');
      }),
    ).rejects.toThrow('cannot read missing.json: ENOENT: no such file or directory');
    await expect(parseSpecText('a: [', 'spec')).rejects.toThrow(/^spec: neither JSON nor YAML: /);
  });
});

describe('output', () => {
  it('status: state with the stage, live pods, a stages table numbered from 1, and every decision', () => {
    const text = formatRolloutStatus(
      status({
        pods: { updated: 2, ready: 1, erroring: ['web-7c9-x'] },
        temporalUiUrl: 'http://ui/w',
        decisions: [
          ...status().decisions,
          { at: '2026-11-22T08:01:00.000Z', kind: 'paused', stage: 0, reason: 'incident 42', by: 'alice' },
        ],
      }),
    );
    expect(text).toContain('Rollout:    3f9a0c1b2d4e   Deployment shop/web');
    expect(text).toContain('State:      Baking (stage 1 of 2)');
    expect(text).toContain('Pods:       2 updated, 1 ready, 1 erroring (web-7c9-x)  (live)');
    expect(text).toContain('Temporal:   http://ui/w');
    expect(text).toMatch(
      /Stages:\n {2}STAGE +SHARE +PODS +BAKE +APPROVAL +RESULT +STARTED +ENDED +REASON\n {2}1 +25% +1 +5m +rollback after 10m +baking +2026-11-22T08:00:00.000Z +-\n {2}2 +100% +4 +0 +- +pending/,
    );
    expect(text).toMatch(
      /Decisions:\n {2}2026-11-22T08:00:00.000Z {2}started: started through the API\n {2}2026-11-22T08:00:01.000Z {2}stage 1 {2}stageStarted: 1 of 4 replicas on the new template\n {2}.*stage 1 {2}paused: incident 42 \(by alice\)\n$/,
    );
  });

  it('status says when decisions were dropped from a long log', () => {
    expect(formatRolloutStatus(status({ decisionsDropped: 12 }))).toContain('Decisions:\n  (12 earlier decisions not kept)\n');
  });

  it('list: a table with stages from 1; an empty list says so', () => {
    const row = (id: string, state: RolloutRecord['state'], stage: number | null) => ({
      rolloutId: id,
      workflowId: 'rollout/shop/Deployment/web',
      runId: 'r',
      target: { namespace: 'shop', kind: 'Deployment' as const, name: 'web' },
      state,
      stage,
      executionStatus: 'RUNNING',
      summary: 'Deployment shop/web: images web=shop/web:2; 25% → 100%, automatic rollback',
      startedAt: T0,
      closedAt: null,
    });
    expect(formatRolloutList({ rollouts: [row('aaaaaaaaaaaa', 'Baking', 1), row('bbbbbbbbbbbb', null, null)], truncated: true })).toBe(
      [
        'ROLLOUT       TARGET               STATE    STAGE  STARTED                   ENDED  SPEC',
        'aaaaaaaaaaaa  shop/Deployment/web  Baking   2      2026-11-22T08:00:00.000Z  -      Deployment shop/web: images web=shop/web:2; 25% → 100%, automatic rollback',
        'bbbbbbbbbbbb  shop/Deployment/web  RUNNING  -      2026-11-22T08:00:00.000Z  -      Deployment shop/web: images web=shop/web:2; 25% → 100%, automatic rollback',
        '(more rollouts matched: narrow with --namespace or --state)',
        '',
      ].join('\n'),
    );
    expect(formatRolloutList({ rollouts: [], truncated: false })).toBe('No rollouts.\n');
  });
});

describe('followRollout (--watch)', () => {
  const decision = (second: number, kind: RolloutStatus['decisions'][number]['kind'], stage: number | null, reason: string) => ({
    at: `2026-11-22T08:00:${String(second).padStart(2, '0')}.000Z`,
    kind,
    stage,
    reason,
  });

  it('prints each new decision once, and a progress line when state, stage or pods change, until the rollout ends', async () => {
    const d1 = decision(0, 'started', null, 'started');
    const d2 = decision(1, 'stageStarted', 0, '1 of 4');
    const d3 = decision(9, 'gateFailed', 0, 'web-x: watchdog latency error');
    const d4 = decision(20, 'rolledBack', null, 'every pod back on the previous template');
    const polls: (RolloutStatusBody | Error)[] = [
      new ApiCallError('GET /v1/rollouts/x: HTTP 404: no rollout x', 404),
      status({ decisions: [d1, d2] }),
      status({ decisions: [d1, d2] }),
      status({ decisions: [d1, d2], pods: { updated: 1, ready: 1, erroring: ['web-x'] } }),
      status({ decisions: [d1, d2, d3], state: 'RollingBack' }),
      status({ decisions: [d1, d2, d3, d4], state: 'RolledBack' }),
    ];
    const out: string[] = [];
    const sleeps: number[] = [];
    const final = await followRollout(
      () => {
        const next = polls.shift()!;
        return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
      },
      (text) => out.push(text),
      { sleep: (ms) => Promise.resolve(void sleeps.push(ms)), shown: new Set(), now: () => 0 },
    );
    expect(final.state).toBe('RolledBack');
    expect(polls).toEqual([]);
    expect(sleeps.every((ms) => ms === 1000)).toBe(true);
    expect(out.join('')).toBe(
      [
        '2026-11-22T08:00:00.000Z  started: started',
        '2026-11-22T08:00:01.000Z  stage 1  stageStarted: 1 of 4',
        '  … Baking stage 1/2: pods 1 updated, 1 ready, 0 erroring  (live)',
        '  … Baking stage 1/2: pods 1 updated, 1 ready, 1 erroring (web-x)  (live)',
        '2026-11-22T08:00:09.000Z  stage 1  gateFailed: web-x: watchdog latency error',
        '  … RollingBack stage 1/2: pods 1 updated, 1 ready, 0 erroring  (live)',
        '2026-11-22T08:00:20.000Z  rolledBack: every pod back on the previous template',
        '',
      ].join('\n'),
    );
  });

  it('gives up on an API that keeps failing after the grace time, and at once on a client error', async () => {
    let clock = 0;
    const down = new ApiCallError('cannot reach the AutoCrane API');
    await expect(
      followRollout(
        () => Promise.reject(down),
        () => undefined,
        { sleep: () => Promise.resolve(void (clock += 1000)), now: () => clock, graceMs: 5000 },
      ),
    ).rejects.toBe(down);
    expect(clock).toBe(5000);
    const forbidden = new ApiCallError('GET /v1/rollouts/x: HTTP 403: not allowed', 403);
    await expect(
      followRollout(
        () => Promise.reject(forbidden),
        () => undefined,
        { sleep: () => Promise.resolve() },
      ),
    ).rejects.toBe(forbidden);
  });
});

describe('autocrane rollout against the API', () => {
  let server: Server;
  let apiUrl: string;
  const sent: string[] = [];
  const record: RolloutRecord = {
    rolloutId: '3f9a0c1b2d4e',
    workflowId: 'rollout/shop/Deployment/web',
    runId: 'run-1',
    target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
    state: 'Baking',
    stage: 0,
    executionStatus: 'RUNNING',
    running: true,
    summary: 'Deployment shop/web: images web=shop/web:2; 25% → 100%, automatic rollback',
    startedAt: T0,
    closedAt: null,
  };
  let polls = 0;
  const control: RolloutWorkflows = {
    find: (id) => Promise.resolve(id === record.rolloutId ? record : null),
    start: (input) => {
      sent.push(`start ${JSON.stringify(input.spec.stages)}`);
      return Promise.resolve({ outcome: 'started', runId: 'run-1' });
    },
    specOf: () => Promise.resolve(null),
    status: () => {
      polls++;
      const { runId: _r, statusUrl: _s, podsLive: _p, ...base } = status();
      return Promise.resolve({
        status:
          polls < 3
            ? base
            : {
                ...base,
                state: 'Succeeded',
                decisions: [
                  ...base.decisions,
                  { at: '2026-11-22T08:05:00.000Z', kind: 'succeeded', stage: null, reason: 'all 4 replicas on the new template' },
                ],
              },
        livePods: null,
      });
    },
    list: () => Promise.resolve({ records: [record], truncated: false }),
    control: (_r, action, request) => {
      sent.push(`${action} ${String(request.reason)}`);
      if (action === 'approve')
        return Promise.reject(new RolloutRefusedError('approve: the rollout is not awaiting approval (state Baking)'));
      const { runId: _r2, statusUrl: _s2, podsLive: _p2, ...base } = status();
      return Promise.resolve({ ...base, state: 'Paused' });
    },
  };

  beforeAll(async () => {
    const app = createApp({
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry(),
      checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
      rollouts: {
        workflows: control,
        workloads: {
          read: () =>
            Promise.resolve({
              template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'shop/web:1' }] } },
              matchLabels: { app: 'web' },
              heldBy: null,
            }),
        },
        authorizer: createAuthorizer({
          cluster: { reviewToken: () => Promise.resolve(null), canAccess: () => Promise.resolve(false) },
          embeddedToken: 'tok',
        }),
      },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  async function cli(...args: string[]): Promise<{ out: string; err: string; exitCode: number | undefined }> {
    let out = '';
    let err = '';
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    const writeErr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    const saved = process.exitCode;
    process.exitCode = undefined;
    try {
      await createProgram().parseAsync(['node', 'autocrane', 'rollout', ...args, '--api-url', apiUrl, '--token', 'tok']);
      return { out, err, exitCode: process.exitCode as number | undefined };
    } finally {
      process.exitCode = saved;
      write.mockRestore();
      writeErr.mockRestore();
    }
  }

  beforeEach(() => {
    sent.length = 0;
    polls = 0;
  });

  it('start sends the spec built from the flags and prints the rollout ID and how to follow it', async () => {
    const { out, exitCode } = await cli(
      'start',
      '--target',
      'shop/deploy/web',
      '--image',
      'web=shop/web:2',
      '--stage',
      '25%:5m',
      '--stage',
      '100%:0',
    );
    expect(exitCode).toBeUndefined();
    expect(sent).toEqual(['start [{"replicas":"25%","bakeSeconds":300},{"replicas":"100%","bakeSeconds":0}]']);
    expect(out).toMatch(
      /^Rollout [0-9a-f]{12} started\.\nWorkflow: {3}rollout\/shop\/Deployment\/web\nStatus: {5}autocrane rollout status [0-9a-f]{12} --watch/,
    );
  });

  it('status --watch follows to the end: exit status 0 when it succeeded', async () => {
    const { out, exitCode } = await cli('status', '3f9a0c1b2d4e', '--watch');
    expect(out).toContain('State:      Baking (stage 1 of 2)');
    expect(out).toContain('2026-11-22T08:05:00.000Z  succeeded: all 4 replicas on the new template');
    expect(out.match(/stageStarted/g)).toHaveLength(1);
    expect(out).toMatch(/Rollout 3f9a0c1b2d4e ended: Succeeded\.\n$/);
    expect(exitCode).toBeUndefined();
  }, 10_000);

  it('a control prints the state after it; a refusal prints the reason and exits 1', async () => {
    const paused = await cli('pause', '3f9a0c1b2d4e', '--reason', 'incident');
    expect(paused.out).toMatch(/^pause: accepted; rollout 3f9a0c1b2d4e is Paused\./);
    const refused = await cli('approve', '3f9a0c1b2d4e');
    expect(refused.err).toBe(
      'autocrane: POST /v1/rollouts/3f9a0c1b2d4e/approve: HTTP 409: approve: the rollout is not awaiting approval (state Baking)\n',
    );
    expect(refused.exitCode).toBe(1);
    expect(sent).toEqual(['pause incident', 'approve undefined']);
  });

  it('list --json prints the API answer', async () => {
    const { out } = await cli('list', '--namespace', 'shop', '--json');
    expect(JSON.parse(out)).toMatchObject({ rollouts: [{ rolloutId: '3f9a0c1b2d4e', state: 'Baking' }], truncated: false });
  });

  it('status of an unknown rollout exits 1 with the API message', async () => {
    const { err, exitCode } = await cli('status', 'bbbbbbbbbbbb');
    expect(err).toBe('autocrane: GET /v1/rollouts/bbbbbbbbbbbb: HTTP 404: no rollout bbbbbbbbbbbb\n');
    expect(exitCode).toBe(1);
  });
});

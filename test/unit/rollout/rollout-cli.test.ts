import { CommanderError } from 'commander';

import { type RolloutRecord } from '../../../api/rollout/rollout-workflows';

import { createProgram } from '../../../cli/main';
import { formatRolloutList, formatRolloutStatus } from '../../../cli/rollout';
import { buildSpec, parseSpecText } from '../../../cli/rollout-spec-flags';

import { T0, rolloutStatusBody as status } from '../../support/rollout-status-body';

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

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

import pino from 'pino';
import { createApp } from '../../../api/app';
import { createAuthorizer } from '../../../api/auth';
import { RolloutRefusedError, type RolloutRecord, type RolloutWorkflows } from '../../../api/rollout/rollout-workflows';
import type { RolloutStatusBody } from '../../../api/rollout/rollouts';
import { ApiCallError } from '../../../cli/api-client';
import { createProgram } from '../../../cli/main';
import { followRollout } from '../../../cli/rollout';

import { createMetricsRegistry } from '../../../platform/metrics';
import type { RolloutStatus } from '../../../contracts/rollout-messages';

import { T0, rolloutStatusBody as status } from '../../support/rollout-status-body';

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

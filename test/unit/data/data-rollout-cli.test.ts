import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { CommanderError } from 'commander';
import pino from 'pino';
import { createApp } from '../../../api/app';
import { createAuthorizer, type ClusterAuth } from '../../../api/auth';
import type { DataRolloutWorkflows } from '../../../api/data/data-rollout-workflows';
import { createProgram } from '../../../cli/main';
import { formatDataRolloutStatus } from '../../../cli/data-rollout';
import { createMetricsRegistry } from '../../../platform/metrics';
import type { DataRolloutStatus, DataStartRequest } from '../../../contracts/data-rollout-messages';

const V1 = '20240101T000000Z-111111111111';
const V2 = '20240102T000000Z-222222222222';
const release = (id: string) => ({
  version: {
    id,
    sha256: id.slice(-12).repeat(6).slice(0, 64),
    size: 2048,
    createdAt: '2024-01-01T00:00:00Z',
    origin: { kind: 'git' as const, ref: 'abc123' },
  },
  archiveUrl: `http://repo/v1/sources/catalog/versions/${id}/archive`,
});

const status: DataRolloutStatus = {
  workflowId: 'data-rollout/shop/catalog',
  namespace: 'shop',
  source: 'catalog',
  lkg: release(V1),
  latest: release(V2),
  settings: {
    autoStart: false,
    stages: [
      { pods: 1, probationSeconds: 300 },
      { pods: '100%', probationSeconds: 300 },
    ],
  },
  rollout: {
    number: 3,
    version: V2,
    sha256: '2'.repeat(64),
    state: 'Baking',
    stage: 0,
    stages: [
      {
        index: 0,
        pods: '1 pod',
        probationSeconds: 300,
        count: 1,
        result: 'baking',
        startedAt: '2024-01-02T00:00:00Z',
        probationStartedAt: '2024-01-02T00:00:05Z',
        endedAt: null,
        reason: null,
      },
      {
        index: 1,
        pods: '100%',
        probationSeconds: 300,
        count: null,
        result: 'pending',
        startedAt: null,
        probationStartedAt: null,
        endedAt: null,
        reason: null,
      },
    ],
    maxErrorPods: 0,
    ackTimeoutSeconds: 600,
    upgraded: ['web-1'],
    upgradedCount: 1,
    startedAt: '2024-01-02T00:00:00Z',
    endedAt: null,
    startedBy: 'alice',
    reason: null,
  },
  recent: [],
  decisions: [{ at: '2024-01-02T00:00:00Z', kind: 'started', version: V2, stage: null, reason: 'rolling out', by: 'alice' }],
  decisionsDropped: 0,
};

describe('autocrane data', () => {
  const errors: string[] = [];
  const program = () => createProgram({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
  beforeEach(() => (errors.length = 0));

  it.each([
    [['status', 'Shop', 'catalog'], /'Shop' is not a namespace name/],
    [['status', 'shop', 'Cat_Log'], /'Cat_Log' is not a source name/],
    [['start', 'shop', 'catalog', '--version', 'v2'], /'v2' is not a version ID/],
    [['start', 'shop', 'catalog', '--stage', 'half:60'], /'half' is not a share/],
    [['abort', 'shop'], /missing required argument 'source'/],
  ])('%j is a usage error', async (args, message) => {
    await expect(program().parseAsync(['node', 'autocrane', 'data', ...args, '--api-url', 'http://127.0.0.1:1'])).rejects.toBeInstanceOf(
      CommanderError,
    );
    expect(errors.join('')).toMatch(message);
  });

  it('formats the versions, the rollout in progress and the decisions', () => {
    const text = formatDataRolloutStatus({ ...status, temporalUiUrl: 'http://ui/x' });
    expect(text).toContain(`LKG:        ${V1} (2048 bytes, git abc123)`);
    expect(text).toContain('Settings:   auto-start off; stages 1:300s, 100%:300s');
    expect(text).toContain(`Rollout #3: ${V2}  BAKING  stage 1/2, 1 pods on it (started 2024-01-02T00:00:00Z by alice)`);
    expect(text).toMatch(/ {2}1 +1 pod +1 +300s +baking +2024-01-02T00:00:05Z/);
    expect(text).toMatch(/started +20240102T000000Z-222222222222 +rolling out \(by alice\)/);
    expect(formatDataRolloutStatus({ ...status, rollout: null })).toContain('No rollout in progress.');
  });

  describe('against the API', () => {
    let server: Server;
    let url: string;
    const starts: DataStartRequest[] = [];
    const controls: string[] = [];

    beforeAll(async () => {
      const control: DataRolloutWorkflows = {
        status: async () => status,
        start: async (_ns, _src, request) => {
          starts.push(request);
          return status;
        },
        control: async (ns, src, name, request) => {
          controls.push(`${name} ${ns}/${src} ${request.reason ?? ''}`.trim());
          return status;
        },
      };
      const cluster: ClusterAuth = { reviewToken: async () => null, canAccess: async () => false };
      const app = createApp({
        logger: pino({ level: 'silent' }),
        registry: createMetricsRegistry(),
        checks: { temporal: async () => undefined, kubernetes: async () => undefined },
        dataRollouts: { workflows: control, authorizer: createAuthorizer({ cluster, embeddedToken: 'secret' }) },
      });
      server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise((r) => server.close(r)));

    const run = async (args: string[]) => {
      const out: string[] = [];
      const write = jest.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
      try {
        await createProgram().parseAsync(['node', 'autocrane', 'data', ...args, '--api-url', url, '--token', 'secret']);
      } finally {
        write.mockRestore();
      }
      return out.join('');
    };

    it('start sends the version, stages (pods:probation), limits and reason', async () => {
      const out = await run([
        'start',
        'shop',
        'catalog',
        '--version',
        V2,
        '--stage',
        '1:5m',
        '--stage',
        '100%:0',
        '--max-error-pods',
        '1',
        '--ack-timeout',
        '2m',
        '--reason',
        'new prices',
      ]);
      expect(starts.at(-1)).toEqual({
        version: V2,
        stages: [
          { pods: 1, probationSeconds: 300 },
          { pods: '100%', probationSeconds: 0 },
        ],
        maxErrorPods: 1,
        ackTimeoutSeconds: 120,
        reason: 'new prices',
        by: 'api-token',
      });
      expect(out).toContain('Rollout #3');
    });

    it('pause, resume and abort reach their routes; status --json prints the body', async () => {
      await run(['pause', 'shop', 'catalog', '--reason', 'looking']);
      await run(['resume', 'shop', 'catalog']);
      await run(['abort', 'shop', 'catalog']);
      expect(controls).toEqual(['pause shop/catalog looking', 'resume shop/catalog', 'abort shop/catalog']);
      expect(JSON.parse(await run(['status', 'shop', 'catalog', '--json']))).toMatchObject({
        workflowId: 'data-rollout/shop/catalog',
        lkg: { version: { id: V1 } },
      });
    });
  });
});

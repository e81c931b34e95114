import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../../api/app';
import { createAuthorizer, kubernetesClusterAuth } from '../../api/auth';
import { temporalDataRolloutControl } from '../../api/data-rollouts';
import { temporalRepairControl } from '../../api/repair';
import { kubernetesWorkloadReader, temporalRolloutControl } from '../../api/rollouts';
import { createMetricsRegistry } from '../../platform/metrics';
import { fuzzApi, schemathesisCommand } from '../support/schemathesis';
import { type SandboxWorker, startSandboxWorker } from '../support/sandbox-worker';

const TOKEN = 'openapi-fuzz-token';
/** The fuzzer's own time budget; the CI budget allows a few minutes for it. */
const FUZZ_SECONDS = 150;

/**
 * Schemathesis over /openapi.json against the whole API (every route) on a real worker,
 * Temporal and apiserver: no answer is a 5xx, and every status, Content-Type, header and body
 * is one the document describes; a method a path does not serve answers 405 with Allow.
 */
describe('the API against its OpenAPI document, fuzzed', () => {
  let sandbox: SandboxWorker;
  let server: Server;
  let baseUrl: string;
  let st: string;

  beforeAll(async () => {
    [sandbox, st] = await Promise.all([startSandboxWorker('openapi-fuzz'), schemathesisCommand()]);
    const authorizer = createAuthorizer({ cluster: kubernetesClusterAuth(sandbox.k.kc), embeddedToken: TOKEN });
    const client = sandbox.temporal.client;
    const app = createApp({
      logger: pino({ level: 'silent' }),
      registry: createMetricsRegistry(),
      checks: { temporal: () => Promise.resolve(), kubernetes: () => Promise.resolve() },
      watchdogs: { pods: sandbox.k.core, authorizer },
      repair: { control: temporalRepairControl(client), authorizer },
      dataRollouts: { control: temporalDataRolloutControl(client), authorizer },
      rollouts: { control: temporalRolloutControl(client, { taskQueue: sandbox.taskQueue }), workloads: kubernetesWorkloadReader(sandbox.k.kc), authorizer },
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 6 * 60_000);
  afterAll(async () => {
    server?.close();
    await sandbox?.close();
  });

  test('no 5xx, and every answer conforms to the document', async () => {
    const { exitCode, output } = await fuzzApi(st, baseUrl, TOKEN, { maxExamples: 10, maxSeconds: FUZZ_SECONDS, seed: 1 });
    // The report names each failing operation, its check and a curl line that reproduces it.
    if (exitCode !== 0) throw new Error(`schemathesis exited ${exitCode}:\n${output.slice(-20_000)}`);
    expect(output).toMatch(/Test cases:\s+\d+ generated, \d+ passed/);
    expect(output).toMatch(/Selected: (\d+)\/\1\b/);
  }, (FUZZ_SECONDS + 180) * 1000);
});

/**
 * The HTTP server that answers the probes of the test workloads' pods (test/support/rollouts.ts
 * declares `POD_IP:<port>/watchdog` on them; kwok gives pods 127.1.x.y addresses, so a server on
 * 0.0.0.0 answers for all of them). The rollout gate probes the updated pods itself, so every
 * probed workload needs something that answers. Started once by the integration tier's global
 * setup and its port handed to the test files through the environment; a test makes pods fail
 * through its control routes (POST /fail/<key>, see cli/test-workload.ts) at that port.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createTestWorkloadServer } from '../../cli/test-workload';

export const PROBE_PORT_ENV = 'AUTOCRANE_TEST_PROBE_PORT';

let server: Server | undefined;

export async function startProbeAnswerer(): Promise<number> {
  const app = createTestWorkloadServer({ logger: pino({ level: 'silent' }) });
  server = app.listen(0, '0.0.0.0');
  await new Promise<void>((resolve, reject) => server!.once('listening', resolve).once('error', reject));
  const port = (server.address() as AddressInfo).port;
  process.env[PROBE_PORT_ENV] = String(port);
  return port;
}

export async function stopProbeAnswerer(): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server!.close(r));
  server = undefined;
}

/** The answerer's port, in a test file (set by the global setup). */
export function probeAnswererPort(): number {
  const port = Number(process.env[PROBE_PORT_ENV]);
  if (!Number.isInteger(port) || port <= 0)
    throw new Error(`${PROBE_PORT_ENV} is not set: the integration tier's global setup starts the probe answerer`);
  return port;
}

/** The answerer's control URL, e.g. for POST /fail/<key>. */
export const probeAnswererUrl = (): string => `http://127.0.0.1:${probeAnswererPort()}`;

/** How this process reaches the Temporal server: a native connection for workers, a client for the API and CLI. */
import { Client, Connection, type ConnectionLike } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from './config';
import { DependencyUnavailableError, describeError } from './errors';

const CONNECT_TIMEOUT_MS = 5000;
const CHECK_TIMEOUT_MS = 3000;

function unreachable(config: Pick<Config, 'temporal'>, err: unknown): DependencyUnavailableError {
  const { address, namespace } = config.temporal;
  return new DependencyUnavailableError(
    'temporal',
    `Cannot connect to Temporal at ${address} (namespace "${namespace}"): ${describeError(err)}`,
    { cause: err },
  );
}

/** For workers. Install the runtime logger first (platform/logger) so the connection logs through it. */
export async function connectTemporal(config: Pick<Config, 'temporal'>): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ address: config.temporal.address });
  } catch (err) {
    throw unreachable(config, err);
  }
}

export async function connectClient(config: Pick<Config, 'temporal'>): Promise<{ connection: Connection; client: Client }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.temporal.address, connectTimeout: CONNECT_TIMEOUT_MS });
  } catch (err) {
    throw unreachable(config, err);
  }
  return { connection, client: new Client({ connection, namespace: config.temporal.namespace }) };
}

/** Resolves when the frontend answers GetSystemInfo; otherwise throws a DependencyUnavailableError. */
export async function checkTemporal(
  connection: Pick<ConnectionLike, 'workflowService' | 'withDeadline'>,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<void> {
  try {
    await connection.withDeadline(Date.now() + timeoutMs, () => connection.workflowService.getSystemInfo({}));
  } catch (err) {
    throw new DependencyUnavailableError('temporal', `Temporal did not answer GetSystemInfo: ${describeError(err)}`, {
      cause: err,
    });
  }
}

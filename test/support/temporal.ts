import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { StackState } from '../../stack/stack-state';

export interface TemporalClients {
  connection: Connection;
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

export async function temporalClients(stack: StackState): Promise<TemporalClients> {
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress });
  return {
    connection,
    nativeConnection,
    client: new Client({ connection, namespace: stack.temporalNamespace }),
    async close() {
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** A task queue per test file, so workers of different tests never take each other's tasks. */
export const uniqueTaskQueue = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

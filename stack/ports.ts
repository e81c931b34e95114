import { createServer } from 'node:net';

/** True when nothing listens on host:port right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePromise(address.port);
        else reject(new Error('could not read the port the OS picked'));
      });
    });
  });
}

/**
 * Picks a free port for each name. A port used by the previous start is kept when it
 * is still free, so kubeconfigs and bookmarks stay valid across restarts; otherwise
 * the OS picks one. Ports are distinct within one call.
 */
export async function choosePorts<N extends string>(
  names: readonly N[],
  previous: Partial<Record<N, number>> = {},
  host = '127.0.0.1',
): Promise<Record<N, number>> {
  const chosen = {} as Record<N, number>;
  const taken = new Set<number>();
  for (const name of names) {
    const wanted = previous[name];
    if (wanted && !taken.has(wanted) && (await isPortFree(wanted, host))) {
      chosen[name] = wanted;
    } else {
      let port = await ephemeralPort(host);
      while (taken.has(port)) port = await ephemeralPort(host);
      chosen[name] = port;
    }
    taken.add(chosen[name]);
  }
  return chosen;
}

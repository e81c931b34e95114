import type { Server } from 'node:http';
import type { Logger } from '../platform/logger';

/**
 * On SIGTERM or SIGINT: stop accepting, close idle connections, and cut whatever is still
 * open after forceAfterMs, so a held request cannot keep a stopping process alive.
 */
export function stopOnSignals(server: Server, logger: Logger, what: string, forceAfterMs: number): void {
  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, `${what} shutting down`);
    server.close((err) => {
      if (err) logger.warn({ err }, 'closing the HTTP server failed');
      else logger.info(`${what} stopped`);
    });
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), forceAfterMs).unref();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

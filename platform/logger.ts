/**
 * One structured logger per process; the Temporal SDK (TS and Rust core) logs through it too
 * (platform/temporal-logging.ts), so every line has the same shape and the same redaction.
 *
 * Nothing here may import a Temporal runtime: the pod-side processes (data-deployer,
 * watchdog-healthz) load this module, and @temporalio/worker alone is ~50 MB of RSS.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Config } from './config';

export type { Logger };

const REDACT_PATHS = ['token', 'authorization', '*.token', 'headers.authorization', '*.headers.authorization'];

/**
 * `destination` exists for tests; processes write to stdout. Both outputs are synchronous
 * so no worker thread or timer outlives the process's real work.
 */
export function createLogger(config: Pick<Config, 'log'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.log.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    // Level names rather than pino's numbers, so log queries read `level="error"`.
    formatters: { level: (label: string) => ({ level: label }) },
    // Temporal reports failures under `error`; without a serializer their message and stack,
    // being non-enumerable, would be dropped.
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  if (destination) return pino(options, destination);
  if (config.log.format === 'pretty') {
    return pino(options, pinoPretty({ sync: true, colorize: process.stdout.isTTY === true, destination: 1 }));
  }
  return pino(options, pino.destination({ dest: 1, sync: true }));
}

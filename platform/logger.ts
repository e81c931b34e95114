/**
 * One structured logger per process; the Temporal SDK (TS and Rust core) logs through it too,
 * so every line has the same shape and the same redaction.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Logger as TemporalLogger, LogLevel as TemporalLogLevel, LogMetadata } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { Config, LogLevel } from './config';

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

const TEMPORAL_TO_PINO = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
} as const satisfies Record<TemporalLogLevel, LogLevel>;

const TEMPORAL_LEVEL_OF: Record<LogLevel, TemporalLogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
};

/** Temporal's Logger interface, forwarding to pino under `component: 'temporal'`. */
export function createTemporalLogger(logger: Logger): TemporalLogger {
  const child = logger.child({ component: 'temporal' });
  const log = (level: TemporalLogLevel, message: string, meta?: LogMetadata): void => {
    child[TEMPORAL_TO_PINO[level]](meta ?? {}, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

let installedRuntime: Runtime | undefined;

/**
 * Installs the process-wide Temporal Runtime with a pino-backed logger and forwards the Rust
 * core's logs to it as well (by default core prints straight to the console).
 * Must run before the first NativeConnection is made; later calls return the same Runtime.
 */
export function installTemporalRuntimeLogger(logger: Logger): Runtime {
  if (installedRuntime) return installedRuntime;
  const level = TEMPORAL_LEVEL_OF[logger.level as LogLevel] ?? 'INFO';
  try {
    installedRuntime = Runtime.install({
      logger: createTemporalLogger(logger),
      telemetryOptions: { logging: { filter: { core: level }, forward: {} } },
    });
  } catch (err) {
    throw new Error(
      `Cannot install the Temporal runtime logger: a Runtime already exists (was a connection made first?): ${String(err)}`,
      { cause: err },
    );
  }
  return installedRuntime;
}

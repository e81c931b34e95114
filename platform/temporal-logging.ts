/**
 * Temporal's logging through the process's pino logger (platform/logger.ts): the SDK's
 * Logger interface and the Rust core's forwarded logs. Only the processes that connect to
 * Temporal (worker, data repository) import this module, as @temporalio/worker loads the
 * native core; the pod-side commands must not.
 */
import type { Logger as TemporalLogger, LogLevel as TemporalLogLevel, LogMetadata } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { LogLevel } from './config';
import type { Logger } from './logger';

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
    throw new Error(`Cannot install the Temporal runtime logger: a Runtime already exists (was a connection made first?): ${String(err)}`, {
      cause: err,
    });
  }
  return installedRuntime;
}

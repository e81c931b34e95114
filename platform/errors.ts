import type { Logger } from 'pino';

/**
 * An external dependency (Temporal, the Kubernetes apiserver) could not be reached or refused
 * us. Its message is complete on its own, so entrypoints report it without a stack trace.
 */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(
    readonly dependency: 'temporal' | 'kubernetes',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The message of an error and its causes, e.g. `fetch failed: connect ECONNREFUSED 127.0.0.1:6443`. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ') || 'unknown error';
}

/**
 * The last word of an entrypoint that is giving up: a dependency failure is expected in
 * operation and fully described by its message; anything else is a bug and keeps its stack.
 */
export function reportFatal(logger: Logger, what: string, err: unknown): void {
  if (err instanceof DependencyUnavailableError) {
    logger.fatal({ dependency: err.dependency }, `${what}: ${err.message}`);
  } else {
    logger.fatal({ err }, `${what}: ${describeError(err)}`);
  }
}

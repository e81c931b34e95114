/**
 * The JSON error contract shared by every HTTP server AutoCrane runs: `{error, details[]}`,
 * a 404 for unknown routes, client errors shown as they are, a Kubernetes apiserver's refusal
 * passed on with its status, message and fields, and anything else logged and answered with a
 * bare 500 (its message may hold internals).
 */
import { ApiException } from '@kubernetes/client-node';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../platform/logger';

export interface ErrorDetail {
  field: string;
  message: string;
}

export interface ErrorBody {
  error: string;
  details: ErrorDetail[];
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** A 400 whose message names the offending field(s). */
export function invalidInput(details: ErrorDetail[]): HttpError {
  const fields = [...new Set(details.map((d) => d.field))];
  const first = details[0];
  const message = details.length === 1 && first ? `invalid ${first.field}: ${first.message}` : `invalid ${fields.join(', ')}`;
  return new HttpError(400, message, details);
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, `no route for ${req.method} ${req.path}`));
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

interface KubernetesStatus {
  kind?: unknown;
  message?: unknown;
  reason?: unknown;
  details?: { causes?: { field?: unknown; message?: unknown; reason?: unknown }[] };
}

function kubernetesStatusOf(body: unknown): KubernetesStatus | undefined {
  let status: unknown = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return isObject(status) && status.kind === 'Status' ? (status as KubernetesStatus) : undefined;
}

/**
 * A Kubernetes apiserver's 4xx (an ApiException carrying a Status) as the answer to our caller:
 * the same status, the apiserver's message and the fields it names (`metadata.annotations`).
 * A 401 is the exception: the apiserver refused the API's own credentials, which is no fault
 * of the caller's token, so it is a 502.
 */
export function apiserverRefusal(err: unknown): HttpError | undefined {
  if (!(err instanceof ApiException) || typeof err.code !== 'number' || err.code < 400 || err.code > 499) return undefined;
  // A 401 carries no body; other refusals a Status, when the apiserver (not a proxy) answered.
  const status = kubernetesStatusOf(err.body) ?? {};
  const message = typeof status.message === 'string' ? status.message : `HTTP ${err.code}`;
  const causes = (status.details?.causes ?? []).map((cause) => ({
    field: typeof cause.field === 'string' && cause.field !== '' ? cause.field : 'body',
    message: typeof cause.message === 'string' ? cause.message : String(cause.reason ?? message),
  }));
  // The apiserver repeats a cause once per validation path that found it (4 times for
  // annotations too long): each is said once.
  const details = causes.filter((cause, i) => causes.findIndex((c) => c.field === cause.field && c.message === cause.message) === i);
  const code = err.code === 401 ? 502 : err.code;
  return new HttpError(
    code,
    `the Kubernetes apiserver refused the request${typeof status.reason === 'string' ? ` (${status.reason})` : ''}: ${message}`,
    details,
  );
}

function retryAfterOf(err: unknown): string | undefined {
  const headers: Record<string, unknown> = isObject(err) && isObject(err.headers) ? err.headers : {};
  const value = headers['retry-after'] ?? headers['Retry-After'];
  return typeof value === 'string' ? value : undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.message, details: err.details } satisfies ErrorBody);
      return;
    }
    const refusal = apiserverRefusal(err);
    if (refusal !== undefined) {
      logger.warn({ err, method: req.method, path: req.path, status: refusal.status }, 'the Kubernetes apiserver refused the request');
      const retryAfter = retryAfterOf(err);
      if (retryAfter !== undefined) res.set('Retry-After', retryAfter);
      res.status(refusal.status).json({ error: refusal.message, details: refusal.details } satisfies ErrorBody);
      return;
    }
    // body-parser's errors (bad JSON, body too large) are the client's and safe to show.
    const status = isObject(err) && typeof err.status === 'number' ? err.status : 500;
    if (status >= 400 && status < 500 && err instanceof Error) {
      const message = isObject(err) && err.type === 'entity.parse.failed' ? `invalid JSON body: ${err.message}` : err.message;
      res.status(status).json({ error: message, details: [{ field: 'body', message: err.message }] } satisfies ErrorBody);
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, 'request failed');
    res.status(500).json({ error: 'internal error', details: [] } satisfies ErrorBody);
  };
}

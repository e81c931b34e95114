/**
 * The JSON error contract shared by every HTTP server AutoCrane runs: `{error, details[]}`,
 * a 404 for unknown routes, client errors shown as they are and anything else logged
 * and answered with a bare 500 (its message may hold internals).
 */
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

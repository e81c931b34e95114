/**
 * The plumbing every authenticated /v1 route shares: authentication before any body is
 * read (401 with WWW-Authenticate), authorization with a 403 that says what was needed,
 * async handlers whose errors reach the JSON error handler, JSON bodies (415 for another
 * Content-Type), and zod input parsing into 400s that name each offending field, spelled as
 * every error spells it (`stages[0].pods`).
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { formatIssuePath } from '../domain/rollout/rollout-spec';
import type { Logger } from '../platform/logger';
import { describeAction, type Authorizer, type Caller, type ResourceAction } from './auth';
import { HttpError, invalidInput, type ErrorDetail } from './http-errors';

interface Authenticated {
  caller: Caller;
}

export interface RouteHelpers {
  /** Authenticates the caller and keeps it for `authorize`; use before any body parser. */
  requireCaller: RequestHandler;
  /** Throws a 403 saying `what` was refused and which permission it needs. */
  authorize(res: Response, action: ResourceAction, what: string): Promise<void>;
  /** Wraps an async handler so its errors reach the error handler (5xx auth errors logged with their cause). */
  handle(fn: (req: Request, res: Response) => Promise<void>): RequestHandler;
}

export function routeHelpers(authorizer: Authorizer, logger: Logger): RouteHelpers {
  const fail = (req: Request, next: NextFunction, err: unknown) => {
    if (err instanceof HttpError && err.status >= 500) {
      logger.warn({ err: (err as { cause?: unknown }).cause ?? err, method: req.method, path: req.path }, err.message);
    }
    next(err);
  };
  return {
    requireCaller(req, res, next) {
      authorizer.authenticate(req.headers.authorization).then(
        (caller) => {
          (res.locals as Authenticated).caller = caller;
          next();
        },
        (err: unknown) => {
          if (err instanceof HttpError && err.status === 401) res.set('WWW-Authenticate', 'Bearer');
          fail(req, next, err);
        },
      );
    },
    async authorize(res, action, what) {
      const { caller } = res.locals as Authenticated;
      if (!(await authorizer.authorize(caller, action))) {
        throw new HttpError(403, `not allowed to ${what} (needs ${describeAction(action)})`);
      }
    },
    handle: (fn) => (req, res, next) => {
      fn(req, res).catch((err: unknown) => fail(req, next, err));
    },
  };
}

/** A zod refinement from a function returning a problem message or null. */
export const fromProblem =
  (problemOf: (value: string) => string | null) =>
  (value: string, ctx: z.core.$RefinementCtx<string>): void => {
    const problem = problemOf(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  };

export interface ParseOptions {
  /** Field name for a problem with the whole input ('path', 'body', 'query'). */
  where: string;
  /** What the whole input should be, for a 400 when it is not an object. */
  expected: string;
  /** The fields allowed, for unknown-field messages. */
  fields: string;
}

function issuesToDetails(issues: readonly z.core.$ZodIssue[], options: ParseOptions): ErrorDetail[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: formatIssuePath([...issue.path, key]),
        message: `unknown field, expected ${options.fields}`,
      }));
    }
    if (issue.path.length === 0) {
      return [{ field: options.where, message: issue.code === 'invalid_type' ? `expected ${options.expected}` : issue.message }];
    }
    return [{ field: formatIssuePath(issue.path), message: issue.message }];
  });
}

/** Parses `input` with `schema`, or throws a 400 naming each offending field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, options: ParseOptions): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw invalidInput(issuesToDetails(parsed.error.issues, options));
  return parsed.data;
}

/** True when the request carries a body (body-parser turns an empty one into {}). */
export const hasBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? '0') > 0;

/**
 * A JSON body of at most `limit`: a body sent as anything but JSON (`application/json` or a
 * `+json` type) gets 415 before it is read; a request without a body passes (routes whose
 * body is optional read it as {}).
 */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (!hasBody(req) || req.is(['application/json', '+json'])) {
      next();
      return;
    }
    const sent = req.headers['content-type'] ?? 'no Content-Type';
    next(
      new HttpError(415, `the body must be JSON (Content-Type: application/json), not ${sent}`, [
        { field: 'Content-Type', message: 'expected application/json' },
      ]),
    );
  };
  return [requireJson, express.json({ type: () => true, limit })];
}

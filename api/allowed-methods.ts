/**
 * 405 for a known path asked with a method it does not serve, with the `Allow` header listing
 * the ones it does. The routes are read from the app's own router (its matchers, not a second
 * table that could drift), so every route any router adds is covered. OPTIONS is answered the
 * same way: no CORS is configured, so nothing serves it.
 */
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { HttpError } from './http-errors';

interface RouterLayer {
  match(path: string): { path: string } | false;
  route?: { path: string; _methods(): string[] };
  handle: { stack?: RouterLayer[] };
}

const stackOf = (app: Express): RouterLayer[] => (app as unknown as { router: { stack: RouterLayer[] } }).router.stack;

/** Every route the app serves, as `METHOD /path/:param` (routers mounted at the root), without HEAD. */
export function listRoutes(app: Express): string[] {
  const routes: string[] = [];
  const walk = (stack: readonly RouterLayer[]) => {
    for (const layer of stack) {
      if (layer.route)
        routes.push(
          ...layer.route
            ._methods()
            .filter((m) => m !== 'HEAD')
            .map((m) => `${m} ${layer.route?.path ?? ''}`),
        );
      else if (Array.isArray(layer.handle.stack)) walk(layer.handle.stack);
    }
  };
  walk(stackOf(app));
  return routes.sort();
}

function collectMethods(stack: readonly RouterLayer[], path: string, into: Set<string>): void {
  for (const layer of stack) {
    const matched = layer.match(path);
    if (matched === false) continue;
    if (layer.route) {
      for (const method of layer.route._methods()) into.add(method);
    } else if (Array.isArray(layer.handle.stack)) {
      // A mounted router: its routes see the path below the mount point.
      collectMethods(layer.handle.stack, path.slice(matched.path.length) || '/', into);
    }
  }
}

/** The methods the app serves for `path` (HEAD with GET, as Express answers it); empty for an unknown path. */
export function allowedMethods(app: Express, path: string): string[] {
  const methods = new Set<string>();
  collectMethods(stackOf(app), path, methods);
  return [...methods].sort();
}

function refuse(app: Express, req: Request, res: Response, next: NextFunction): void {
  const allowed = allowedMethods(app, req.path);
  if (allowed.length === 0 || allowed.includes(req.method)) {
    next();
    return;
  }
  res.set('Allow', allowed.join(', '));
  next(
    new HttpError(405, `${req.method} is not allowed on ${req.path}; allowed: ${allowed.join(', ')}`, [
      { field: 'method', message: `expected one of ${allowed.join(', ')}` },
    ]),
  );
}

/** Put after every route, before the 404: a known path with another method gets 405 and `Allow`. */
export function methodNotAllowed(app: Express): RequestHandler {
  return (req, res, next) => refuse(app, req, res, next);
}

/**
 * Put before every route: OPTIONS on a known path gets 405 (Express's routers would answer
 * it 200 with Allow, a CORS preflight's answer, and no CORS is configured).
 */
export function optionsNotServed(app: Express): RequestHandler {
  return (req, res, next) => {
    if (req.method === 'OPTIONS') refuse(app, req, res, next);
    else next();
  };
}

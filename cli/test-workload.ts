/**
 * `autocrane test-workload`: a stand-in application for watchdog probes. Its health is set
 * over HTTP, so tests (and people) can make it fail, recover, or answer slowly on demand.
 *
 * One process can stand in for thousands of kwok pods: every route has a per-pod form
 * (`/watchdog/{pod}`, ...) acting on that pod's own state only. The bare forms act on the
 * process-wide state, which is independent of every pod's. A target that was never told to
 * fail or to slow down is healthy and prompt, so unknown pods cost nothing. Injected states
 * live in one Map; a timed failure is dropped when it is next looked at (no timer per pod).
 *
 *   GET  /watchdog[/{pod}]   200 "ok" when healthy, 500 with a message while failing
 *   POST /fail[/{pod}]       fail, until POST /recover or, with {"seconds": N}, for N seconds
 *   POST /slow[/{pod}]       {"ms": N}: answer /watchdog after N ms (0 clears the delay)
 *   POST /recover[/{pod}]    healthy and prompt again
 *   GET  /state              the process-wide state and every failing or slow pod
 *
 * POST parameters come in a JSON body (any content type) or the query string (`?seconds=30`).
 * Only state changes are logged, never probes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import express, { type Express, type Request, type Response } from 'express';
import { z } from 'zod';
import { dns1123SubdomainError } from '../domain/shared/k8s-names';
import { exitOnConfigError, loadConfig } from '../platform/config';
import { reportFatal } from '../platform/errors';
import { createLogger, type Logger } from '../platform/logger';
import { errorHandler, invalidInput, notFound, type ErrorDetail } from '../api/http-errors';
import { parseListenHost, parseListenPort } from './options';
import { stopOnSignals } from './serve';

export const DEFAULT_TEST_WORKLOAD_HOST = '0.0.0.0';
export const DEFAULT_TEST_WORKLOAD_PORT = 8081;
/** Longest failure (POST /fail seconds) and delay (POST /slow ms) accepted: one day. */
export const MAX_FAIL_SECONDS = 86_400;
export const MAX_SLOW_MS = MAX_FAIL_SECONDS * 1000;
/** On SIGTERM, how long requests held by POST /slow may still run before their connections are cut. */
const SHUTDOWN_GRACE_MS = 2000;

export interface TestWorkloadOptions {
  logger: Logger;
  /** Milliseconds since the epoch; injectable so tests need not sleep. Default Date.now. */
  now?: () => number;
}

/** What is known about one target, as the POST routes and GET /state report it. */
export interface TargetView {
  /** The pod, or null for the process-wide /watchdog. */
  pod: string | null;
  healthy: boolean;
  /** When the current failure began (RFC 3339), null when healthy. */
  failingSince: string | null;
  /** When the current failure ends by itself, null when healthy or failing until /recover. */
  failingUntil: string | null;
  /** Delay before /watchdog answers; 0 when prompt. */
  slowMs: number;
}

export interface TestWorkloadState {
  now: string;
  process: TargetView;
  /** Failing or slow pods only, sorted by name. */
  pods: TargetView[];
}

/** An injected behaviour; a target without one is absent from the map. */
interface TargetState {
  /** `until` null: until POST /recover. */
  failing?: { since: number; until: number | null };
  slowMs?: number;
}

/** Map key of the process-wide target: never a valid pod name, so it cannot collide. */
const PROCESS_KEY = '';

const podOf = (key: string): string | null => (key === PROCESS_KEY ? null : key);
const iso = (ms: number): string => new Date(ms).toISOString();

class TargetStates {
  private readonly states = new Map<string, TargetState>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** The live state of `key`, first dropping a failure that has expired (a logged state change). */
  get(key: string): TargetState | undefined {
    const state = this.states.get(key);
    if (state === undefined) return undefined;
    const { failing } = state;
    if (failing !== undefined && failing.until !== null && failing.until <= this.now()) {
      state.failing = undefined;
      this.logger.info({ pod: podOf(key), failingSince: iso(failing.since), expiredAt: iso(failing.until) }, 'failure expired');
    }
    if (state.failing === undefined && !state.slowMs) {
      this.states.delete(key);
      return undefined;
    }
    return state;
  }

  fail(key: string, seconds: number | undefined): TargetView {
    const now = this.now();
    const state = this.get(key) ?? {};
    // A failure that goes on keeps its start time: it still began then.
    const since = state.failing?.since ?? now;
    const until = seconds === undefined ? null : now + seconds * 1000;
    state.failing = { since, until };
    this.states.set(key, state);
    this.logger.info(
      { pod: podOf(key), seconds: seconds ?? null, failingSince: iso(since), failingUntil: until === null ? null : iso(until) },
      'failing',
    );
    return this.view(key);
  }

  slow(key: string, ms: number): TargetView {
    const state = this.get(key) ?? {};
    const before = state.slowMs ?? 0;
    state.slowMs = ms;
    this.states.set(key, state);
    if (ms !== before) this.logger.info({ pod: podOf(key), slowMs: ms, previousSlowMs: before }, ms > 0 ? 'slow' : 'prompt again');
    return this.view(key); // view() drops the entry again if it is now empty
  }

  recover(key: string): TargetView {
    const state = this.get(key);
    if (state !== undefined) {
      this.states.delete(key);
      this.logger.info({ pod: podOf(key), wasFailing: state.failing !== undefined, previousSlowMs: state.slowMs ?? 0 }, 'recovered');
    }
    return this.view(key);
  }

  view(key: string): TargetView {
    const state = this.get(key);
    const failing = state?.failing;
    return {
      pod: podOf(key),
      healthy: failing === undefined,
      failingSince: failing === undefined ? null : iso(failing.since),
      failingUntil: failing?.until == null ? null : iso(failing.until),
      slowMs: state?.slowMs ?? 0,
    };
  }

  /** Every failing or slow target (sweeping out expired failures), sorted by key. */
  keys(): string[] {
    return [...this.states.keys()].filter((key) => this.get(key) !== undefined).sort();
  }
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

const required = (expected: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : expected);

const failInput = z.strictObject({
  seconds: z
    .number({ error: required('expected a number of seconds') })
    .gt(0, { error: 'must be more than 0' })
    .max(MAX_FAIL_SECONDS, { error: `must be at most ${MAX_FAIL_SECONDS} (1 day)` })
    .optional(),
});

const slowInput = z.strictObject({
  ms: z
    .number({ error: required('expected a whole number of milliseconds') })
    .int({ error: 'expected a whole number of milliseconds' })
    .min(0, { error: 'must not be negative (0 clears the delay)' })
    .max(MAX_SLOW_MS, { error: `must be at most ${MAX_SLOW_MS} (1 day)` }),
});

const recoverInput = z.strictObject({});

function issuesToDetails(issues: readonly z.core.$ZodIssue[], shape: Record<string, unknown>): ErrorDetail[] {
  const known = Object.keys(shape);
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const expected = known.length === 0 ? 'this route takes no parameters' : `expected ${known.join(' or ')}`;
      return issue.keys.map((key) => ({ field: key, message: `unknown field, ${expected}` }));
    }
    const field = issue.path.length === 0 ? 'body' : issue.path.map(String).join('.');
    const message = issue.path.length === 0 && issue.code === 'invalid_type' ? 'expected a JSON object' : issue.message;
    return [{ field, message }];
  });
}

const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** The query string with numeric values as numbers, so `?seconds=30` validates like `{"seconds": 30}`. */
function queryInput(req: Request): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(req.query)) {
    input[name] = typeof value === 'string' && NUMBER_TEXT.test(value.trim()) ? Number(value) : value;
  }
  return input;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The request's parameters (JSON body and query string together), validated by `schema`. */
function readInput<Shape extends z.core.$ZodLooseShape>(req: Request, schema: z.ZodObject<Shape>): z.infer<z.ZodObject<Shape>> {
  const body: unknown = req.body;
  const query = queryInput(req);
  let input: unknown = body ?? query;
  if (body !== undefined && Object.keys(query).length > 0 && isObject(body)) {
    const twice = Object.keys(query).filter((name) => name in body);
    if (twice.length > 0) {
      throw invalidInput(twice.map((field) => ({ field, message: 'given in both the body and the query string, give it once' })));
    }
    input = { ...query, ...body };
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw invalidInput(issuesToDetails(parsed.error.issues, schema.shape));
  return parsed.data;
}

/** The Map key a request acts on: its `{pod}` segment, or the process-wide target. */
function targetOf(req: Request): string {
  const pod = (req.params as Record<string, string | undefined>).pod;
  if (pod === undefined) return PROCESS_KEY;
  const problem = dns1123SubdomainError(pod);
  if (problem !== null) throw invalidInput([{ field: 'pod', message: `'${pod}' is not a pod name: ${problem}` }]);
  return pod;
}

// ---------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------

/** Waits `ms`, or less if the client goes away (e.g. a probe timing out); true if still connected. */
function waitWhileConnected(res: Response, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(true);
    }, ms);
    res.once('close', onClose);
  });
}

function failureMessage(view: TargetView, now: number): string {
  const who = view.pod === null ? 'failing' : `pod ${view.pod} failing`;
  const until =
    view.failingUntil === null
      ? 'until POST /recover'
      : `until ${view.failingUntil} (${Math.max(0, Math.ceil((Date.parse(view.failingUntil) - now) / 1000))}s left)`;
  return `${who} (injected by POST /fail) since ${view.failingSince}, ${until}`;
}

export function createTestWorkloadServer(options: TestWorkloadOptions): Express {
  const logger = options.logger.child({ component: 'test-workload' });
  const now = options.now ?? Date.now;
  const states = new TargetStates(logger, now);

  const app = express();
  app.disable('x-powered-by');
  // Any content type: `curl -d '{"seconds":5}'` sends form encoding, and silently ignoring
  // its body would fail the target forever instead of for 5 seconds.
  const json = express.json({ type: () => true, limit: '16kb' });

  const watchdog = async (req: Request, res: Response) => {
    const key = targetOf(req);
    const slowMs = states.get(key)?.slowMs ?? 0;
    if (slowMs > 0 && !(await waitWhileConnected(res, slowMs))) return;
    const view = states.view(key); // after the delay: the state when it answers
    if (view.healthy) res.type('text/plain').send('ok');
    else res.status(500).type('text/plain').send(failureMessage(view, now()));
  };
  app.get(['/watchdog', '/watchdog/:pod'], watchdog);

  app.post(['/fail', '/fail/:pod'], json, (req, res) => {
    const key = targetOf(req);
    const { seconds } = readInput(req, failInput);
    res.json(states.fail(key, seconds));
  });

  app.post(['/slow', '/slow/:pod'], json, (req, res) => {
    const key = targetOf(req);
    const { ms } = readInput(req, slowInput);
    res.json(states.slow(key, ms));
  });

  app.post(['/recover', '/recover/:pod'], json, (req, res) => {
    const key = targetOf(req);
    readInput(req, recoverInput);
    res.json(states.recover(key));
  });

  app.get('/state', (_req, res) => {
    const pods = states
      .keys()
      .filter((key) => key !== PROCESS_KEY)
      .map((key) => states.view(key));
    res.json({ now: iso(now()), process: states.view(PROCESS_KEY), pods } satisfies TestWorkloadState);
  });

  app.use(notFound);
  app.use(errorHandler(logger));

  return app;
}

// ---------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------

export interface TestWorkloadCommandOptions {
  host: string;
  port: number;
}

/** Serves the test workload until SIGTERM/SIGINT. Returns once it listens. */
export async function runTestWorkload(options: TestWorkloadCommandOptions): Promise<void> {
  const config = exitOnConfigError(() => loadConfig());
  const rootLogger = createLogger(config);
  const logger = rootLogger.child({ component: 'test-workload' });
  try {
    const server = http.createServer(createTestWorkloadServer({ logger: rootLogger }));
    const listenError = await new Promise<Error | undefined>((resolve) => {
      server.once('listening', () => resolve(undefined));
      server.once('error', resolve);
      server.listen(options.port, options.host);
    });
    if (listenError !== undefined) {
      // An operator's mistake (port in use, unknown address), fully told by its message.
      logger.fatal(`test workload failed: cannot listen on ${options.host}:${options.port}: ${listenError.message}`);
      process.exitCode = 1;
      return;
    }
    const { port } = server.address() as AddressInfo;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    logger.info({ url: `http://${host}:${port}`, host: options.host, port }, 'test workload listening');

    // Probes held by POST /slow are cut after the grace time instead of their whole delay.
    stopOnSignals(server, logger, 'test workload', SHUTDOWN_GRACE_MS);
  } catch (err) {
    reportFatal(logger, 'test workload failed', err);
    process.exitCode = 1;
  }
}

export function registerTestWorkloadCommand(program: Command): Command {
  return program
    .command('test-workload')
    .description('Serve a stand-in application for watchdog probes, whose health is set over HTTP.')
    .option('--host <host>', 'address to listen on', parseListenHost, DEFAULT_TEST_WORKLOAD_HOST)
    .option('--port <port>', 'port to listen on; 0 picks a free port (the log says which)', parseListenPort, DEFAULT_TEST_WORKLOAD_PORT)
    .addHelpText(
      'after',
      `
Routes ({pod} optional: each pod has its own state, unknown pods are healthy):
  GET  /watchdog[/{pod}]   200 "ok", or 500 with a message while failing
  POST /fail[/{pod}]       fail until /recover, or for {"seconds": N} (at most ${MAX_FAIL_SECONDS})
  POST /slow[/{pod}]       answer /watchdog after {"ms": N} (0 clears it)
  POST /recover[/{pod}]    healthy and prompt again
  GET  /state              the process-wide state and every failing or slow pod

Example: curl -X POST 'http://127.0.0.1:${DEFAULT_TEST_WORKLOAD_PORT}/fail/my-pod?seconds=30'`,
    )
    .action((options: TestWorkloadCommandOptions) => runTestWorkload(options));
}

/**
 * `autocrane watchdog`: post and read watchdog statuses through the REST API.
 *
 *   autocrane watchdog post <namespace>/<pod> <name> <level> [message]
 *   autocrane watchdog get <namespace>/<pod> [--json]
 *
 * The API's URL and token come from --api-url/--token, else AUTOCRANE_API_URL and
 * AUTOCRANE_API_TOKEN (as `source .autocrane/stack.env` sets them). Bad arguments exit 2,
 * before any request; an API or network failure prints why and exits 1.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { dns1123LabelError, dns1123SubdomainError } from '../domain/k8s-names';
import { parseWatchdogLevel, validateWatchdogMessage, validateWatchdogName, WATCHDOG_LEVELS, type WatchdogLevel } from '../domain/watchdog-status';
import type { WatchdogListBody, WatchdogPutBody, WatchdogView } from '../api/watchdogs';

export interface PodRef {
  namespace: string;
  pod: string;
}

// ---------------------------------------------------------------------------
// Argument parsers (commander reports their InvalidArgumentError as a usage error)
// ---------------------------------------------------------------------------

export function parsePodRef(value: string): PodRef {
  const parts = value.split('/');
  if (parts.length !== 2) throw new InvalidArgumentError('Expected <namespace>/<pod>, e.g. default/web-0.');
  const [namespace, pod] = parts as [string, string];
  const nsProblem = dns1123LabelError(namespace);
  if (nsProblem !== null) throw new InvalidArgumentError(`'${namespace}' is not a namespace name: ${nsProblem}.`);
  const podProblem = dns1123SubdomainError(pod);
  if (podProblem !== null) throw new InvalidArgumentError(`'${pod}' is not a pod name: ${podProblem}.`);
  return { namespace, pod };
}

export function parseName(value: string): string {
  const problem = validateWatchdogName(value);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

export function parseLevel(value: string): WatchdogLevel {
  const level = parseWatchdogLevel(value);
  if (level === undefined) throw new InvalidArgumentError(`Expected one of ${WATCHDOG_LEVELS.join(', ')}.`);
  return level;
}

export function parseMessage(value: string): string {
  const problem = validateWatchdogMessage(value);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

function parseApiUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('Expected an http(s) URL, e.g. http://127.0.0.1:8080.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('Expected an http(s) URL.');
  return value;
}

// ---------------------------------------------------------------------------
// Calling the API
// ---------------------------------------------------------------------------

export interface ApiTarget {
  apiUrl: string;
  token: string | undefined;
}

/** A failure to report to the user: the API's own error message, or why it could not be reached. */
export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function podWatchdogsPath({ namespace, pod }: PodRef): string {
  return `/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/watchdogs`;
}

async function callApi<T>(target: ApiTarget, method: 'GET' | 'PUT', path: string, body?: unknown): Promise<T> {
  const url = `${target.apiUrl.replace(/\/+$/, '')}${path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: globalThis.Response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new ApiCallError(`cannot reach the AutoCrane API at ${target.apiUrl}: ${cause ?? (err instanceof Error ? err.message : String(err))}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as { error?: unknown } | undefined)?.error;
    const message = typeof error === 'string' ? error : text.trim().slice(0, 200) || response.statusText;
    throw new ApiCallError(`${method} ${path}: HTTP ${response.status}: ${message}`, response.status);
  }
  if (parsed === undefined) throw new ApiCallError(`${method} ${path}: the API answered ${response.status} without a JSON body`);
  return parsed as T;
}

export function postWatchdog(target: ApiTarget, ref: PodRef, name: string, level: WatchdogLevel, message: string): Promise<WatchdogPutBody> {
  return callApi(target, 'PUT', `${podWatchdogsPath(ref)}/${encodeURIComponent(name)}`, { level, message });
}

export function getWatchdogs(target: ApiTarget, ref: PodRef): Promise<WatchdogListBody> {
  return callApi(target, 'GET', podWatchdogsPath(ref));
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/** Columns padded to their widest cell; the last column is not padded. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

const messageCell = (w: WatchdogView) => (w.problem === undefined ? w.message : `${w.message} (unreadable value ${JSON.stringify(w.raw)}: ${w.problem})`);

export function formatWatchdogTable(body: WatchdogListBody): string {
  const rows = [['NAME', 'LEVEL', 'TIME', 'MESSAGE'], ...body.watchdogs.map((w) => [w.name, w.level, w.time ?? '-', messageCell(w)])];
  const list = body.watchdogs.length === 0 ? `no watchdogs on pod ${body.namespace}/${body.pod}` : table(rows);
  return `${list}\n\nAGGREGATE: ${body.aggregate}\n`;
}

export function formatPosted(body: WatchdogPutBody): string {
  const w = body.watchdog;
  return `${body.namespace}/${body.pod} ${w.name}: ${w.level} at ${w.time ?? '-'}${w.message === '' ? '' : ` (${w.message})`}; aggregate ${body.aggregate}\n`;
}

// ---------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------

interface ConnectionOptions {
  apiUrl?: string;
  token?: string;
  json?: boolean;
}

function withConnectionOptions(command: Command): Command {
  return command
    .option('--api-url <url>', 'AutoCrane API base URL (default: $AUTOCRANE_API_URL)', parseApiUrl)
    .option('--token <token>', 'bearer token (default: $AUTOCRANE_API_TOKEN)')
    .option('--json', 'print the API answer as JSON');
}

/** The API target, or a usage error (exit 2) when no URL is known. */
function targetOf(command: Command, options: ConnectionOptions, env: NodeJS.ProcessEnv): ApiTarget {
  const envUrl = env.AUTOCRANE_API_URL?.trim();
  let apiUrl = options.apiUrl;
  if (apiUrl === undefined && envUrl) {
    try {
      apiUrl = parseApiUrl(envUrl);
    } catch (err) {
      command.error(`error: AUTOCRANE_API_URL ${JSON.stringify(envUrl)}: ${(err as Error).message}`, { exitCode: 2, code: 'autocrane.usage' });
    }
  }
  if (apiUrl === undefined) {
    command.error('error: no API URL: pass --api-url or set AUTOCRANE_API_URL (source .autocrane/stack.env)', { exitCode: 2, code: 'autocrane.usage' });
  }
  const envToken = env.AUTOCRANE_API_TOKEN?.trim();
  return { apiUrl, token: options.token ?? (envToken ? envToken : undefined) };
}

async function report<T>(work: () => Promise<T>, print: (value: T) => string, json: boolean | undefined): Promise<void> {
  try {
    const value = await work();
    process.stdout.write(json === true ? `${JSON.stringify(value, null, 2)}\n` : print(value));
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    process.stderr.write(`autocrane: ${err.message}\n`);
    process.exitCode = 1;
  }
}

export function registerWatchdogCommand(program: Command, env: NodeJS.ProcessEnv = process.env): Command {
  const watchdog = program.command('watchdog').description('Post and read pod watchdog statuses through the AutoCrane API.');

  withConnectionOptions(
    watchdog
      .command('post')
      .description("Set a pod's watchdog status (status.autocrane.io/<name>) to <level>, stamped with the current time.")
      .argument('<namespace/pod>', 'the pod, e.g. default/web-0', parsePodRef)
      .argument('<name>', 'watchdog name (a Kubernetes qualified-name segment)', parseName)
      .argument('<level>', `one of ${WATCHDOG_LEVELS.join(', ')}`, parseLevel)
      .argument('[message]', 'one line of text', parseMessage, ''),
  ).action(async function (this: Command, ref: PodRef, name: string, level: WatchdogLevel, message: string) {
    const options = this.opts<ConnectionOptions>();
    const target = targetOf(this, options, env);
    await report(() => postWatchdog(target, ref, name, level, message), formatPosted, options.json);
  });

  withConnectionOptions(
    watchdog
      .command('get')
      .description("List a pod's watchdogs and their aggregate health.")
      .argument('<namespace/pod>', 'the pod, e.g. default/web-0', parsePodRef),
  ).action(async function (this: Command, ref: PodRef) {
    const options = this.opts<ConnectionOptions>();
    const target = targetOf(this, options, env);
    await report(() => getWatchdogs(target, ref), formatWatchdogTable, options.json);
  });

  return watchdog;
}

/**
 * What every CLI command that talks to the AutoCrane REST API shares: the --api-url,
 * --token and --json options (defaulting to AUTOCRANE_API_URL and AUTOCRANE_API_TOKEN, as
 * `source .autocrane/stack.env` sets them), the HTTP call with the API's JSON errors turned
 * into one readable line, and plain-text tables.
 */
import { InvalidArgumentError, type Command } from 'commander';

export function parseApiUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('Expected an http(s) URL, e.g. http://127.0.0.1:8080.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('Expected an http(s) URL.');
  return value;
}

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

export async function callApi<T>(target: ApiTarget, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<T> {
  const url = `${target.apiUrl.replace(/\/+$/, '')}${path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: globalThis.Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new ApiCallError(
      `cannot reach the AutoCrane API at ${target.apiUrl}: ${cause ?? (err instanceof Error ? err.message : String(err))}`,
    );
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

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export interface ConnectionOptions {
  apiUrl?: string;
  token?: string;
  json?: boolean;
}

export function withConnectionOptions(command: Command): Command {
  return command
    .option('--api-url <url>', 'AutoCrane API base URL (default: $AUTOCRANE_API_URL)', parseApiUrl)
    .option('--token <token>', 'bearer token (default: $AUTOCRANE_API_TOKEN)')
    .option('--json', 'print the API answer as JSON');
}

/** The API target, or a usage error (exit 2) when no URL is known. */
export function targetOf(command: Command, options: ConnectionOptions, env: NodeJS.ProcessEnv): ApiTarget {
  const envUrl = env.AUTOCRANE_API_URL?.trim();
  let apiUrl = options.apiUrl;
  if (apiUrl === undefined && envUrl) {
    try {
      apiUrl = parseApiUrl(envUrl);
    } catch (err) {
      command.error(`error: AUTOCRANE_API_URL ${JSON.stringify(envUrl)}: ${(err as Error).message}`, {
        exitCode: 2,
        code: 'autocrane.usage',
      });
    }
  }
  if (apiUrl === undefined) {
    command.error('error: no API URL: pass --api-url or set AUTOCRANE_API_URL (source .autocrane/stack.env)', {
      exitCode: 2,
      code: 'autocrane.usage',
    });
  }
  const envToken = env.AUTOCRANE_API_TOKEN?.trim();
  return { apiUrl, token: options.token ?? (envToken ? envToken : undefined) };
}

export async function report<T>(work: () => Promise<T>, print: (value: T) => string, json: boolean | undefined): Promise<void> {
  try {
    const value = await work();
    process.stdout.write(json === true ? `${JSON.stringify(value, null, 2)}\n` : print(value));
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    process.stderr.write(`autocrane: ${err.message}\n`);
    process.exitCode = 1;
  }
}

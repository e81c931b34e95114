/**
 * A small Kubernetes client over node:http(s), for the processes that run next to an
 * application in its pod and must stay small (the data deployer: at most 100 MB of RSS).
 * @kubernetes/client-node cannot be loaded for a few calls: even its KubeConfig imports the
 * whole generated API, about 60 MB of RSS before any request.
 *
 * It reads the same configuration as platform/kubernetes.ts's loadKubeConfig(): the
 * KUBECONFIG file (server, CA, client certificate and key or a bearer token, inline or as
 * files, relative to the kubeconfig's folder), else the pod's service account (token re-read
 * every minute, as projected tokens rotate), else ~/.kube/config. It does not run exec or
 * auth-provider plugins and does not go through proxies; such a kubeconfig is refused with a
 * message that says so. Requests are JSON; a watch is a streamed GET read as JSON lines.
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import yaml from 'js-yaml';
import { z } from 'zod';
import { ConfigError, type Config } from './config';
import { describeError } from './errors';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long a token read from a file is used before the file is read again. */
export const TOKEN_FILE_REFRESH_MS = 60_000;
/** Longest error body and longest watch line kept (a pod is at most ~1.5 MB). */
const MAX_ERROR_BODY = 64 * 1024;
const MAX_LINE = 16 * 2 ** 20;

/** How to reach and authenticate to the apiserver. */
export interface KubeAccess {
  /** Where it was read from, for messages. */
  source: string;
  /** Base URL, without a trailing slash. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** A bearer token, or the file holding it. */
  token?: string;
  tokenFile?: string;
  basic?: { username: string; password: string };
  /** `as`: the user to impersonate. */
  impersonate?: string;
}

const optionalText = z.string().optional();
const kubeconfigSchema = z.object({
  'current-context': optionalText,
  clusters: z
    .array(
      z.object({
        name: z.string(),
        cluster: z.object({
          server: z.string().min(1, { error: 'expected the apiserver URL' }),
          'certificate-authority-data': optionalText,
          'certificate-authority': optionalText,
          'insecure-skip-tls-verify': z.boolean().optional(),
          'tls-server-name': optionalText,
          'proxy-url': optionalText,
        }),
      }),
    )
    .nullish(),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: optionalText }) })).nullish(),
  users: z
    .array(
      z.object({
        name: z.string(),
        user: z
          .object({
            token: optionalText,
            tokenFile: optionalText,
            'token-file': optionalText,
            'client-certificate-data': optionalText,
            'client-certificate': optionalText,
            'client-key-data': optionalText,
            'client-key': optionalText,
            username: optionalText,
            password: optionalText,
            as: optionalText,
            exec: z.unknown().optional(),
            'auth-provider': z.unknown().optional(),
          })
          .nullish(),
      }),
    )
    .nullish(),
});

/**
 * The access a kubeconfig's current context gives. File paths in it are relative to `file`'s
 * folder; `readFile` reads them (CA, certificate, key, token file). Throws an Error naming
 * the field for anything missing, malformed or unsupported.
 */
export function parseKubeconfig(text: string, file: string, readFile: (path: string) => Buffer = readFileSync): KubeAccess {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new Error(`not YAML: ${describeError(err)}`, { cause: err });
  }
  const parsed = kubeconfigSchema.safeParse(doc);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`).join('; '));
  const config = parsed.data;
  const contextName = config['current-context'];
  if (!contextName) throw new Error('current-context is not set');
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`current-context "${contextName}" is not among its contexts`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster) throw new Error(`context "${contextName}" names cluster "${context.cluster}", which it does not define`);
  let user: NonNullable<NonNullable<typeof config.users>[number]['user']> = {};
  if (context.user) {
    const entry = config.users?.find((u) => u.name === context.user);
    if (!entry) throw new Error(`context "${contextName}" names user "${context.user}", which it does not define`);
    user = entry.user ?? {};
  }
  if (cluster['proxy-url']) throw new Error(`cluster "${context.cluster}": proxy-url is not supported by this client`);
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new Error(
      `user "${context.user}": exec and auth-provider credentials are not supported by this client; use a token or a client certificate`,
    );
  }
  const folder = dirname(resolve(file));
  const material = (what: string, data: string | undefined, path: string | undefined): Buffer | undefined => {
    if (data) return Buffer.from(data, 'base64');
    if (!path) return undefined;
    const absolute = resolve(folder, path);
    try {
      return readFile(absolute);
    } catch (err) {
      throw new Error(`${what} ${absolute}: ${describeError(err)}`, { cause: err });
    }
  };
  const access: KubeAccess = {
    source: file,
    server: parseServer(cluster.server),
    ca: material('certificate-authority', cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: material('client-certificate', user['client-certificate-data'], user['client-certificate']),
    key: material('client-key', user['client-key-data'], user['client-key']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: cluster['tls-server-name'],
    token: user.token,
    impersonate: user.as,
  };
  const tokenFile = user.tokenFile ?? user['token-file'];
  if (!access.token && tokenFile) {
    access.tokenFile = resolve(folder, tokenFile);
    readToken(access.tokenFile, readFile);
  }
  if (user.username !== undefined) access.basic = { username: user.username, password: user.password ?? '' };
  if ((access.cert === undefined) !== (access.key === undefined))
    throw new Error(`user "${context.user}": a client certificate needs its key and a key its certificate`);
  return access;
}

/** The pod's service account, as client-go's in-cluster configuration reads it. */
export function inClusterAccess(
  env: NodeJS.ProcessEnv = process.env,
  dir = SERVICE_ACCOUNT_DIR,
  readFile: (path: string) => Buffer = readFileSync,
): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST?.trim();
  const port = env.KUBERNETES_SERVICE_PORT?.trim() || '443';
  if (!host) throw new Error('KUBERNETES_SERVICE_HOST is not set');
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const tokenFile = `${dir}/token`;
  readToken(tokenFile, readFile);
  let ca: Buffer;
  try {
    ca = readFile(`${dir}/ca.crt`);
  } catch (err) {
    throw new Error(`service account CA ${dir}/ca.crt: ${describeError(err)}`, { cause: err });
  }
  return {
    source: 'in-cluster service account',
    server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    ca,
    tokenFile,
    insecureSkipTlsVerify: false,
  };
}

/**
 * KUBECONFIG when set; else the pod's service account when running in a cluster; else
 * ~/.kube/config (the precedence of loadKubeConfig). Throws a ConfigError on KUBECONFIG.
 */
export function loadKubeAccess(config: Pick<Config, 'kubernetes'>, env: NodeJS.ProcessEnv = process.env): KubeAccess {
  const { kubeconfigPath, inCluster } = config.kubernetes;
  const file = kubeconfigPath ?? (inCluster ? undefined : resolve(homedir(), '.kube', 'config'));
  try {
    if (file === undefined) return inClusterAccess(env);
    return parseKubeconfig(readFileSync(file, 'utf8'), file);
  } catch (err) {
    throw new ConfigError([
      { variable: 'KUBECONFIG', reason: `cannot load kubeconfig from ${file ?? 'in-cluster service account'}: ${describeError(err)}` },
    ]);
  }
}

function parseServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`server ${JSON.stringify(server)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`server ${JSON.stringify(server)}: expected an http(s) URL`);
  return server.replace(/\/+$/, '');
}

function readToken(file: string, readFile: (path: string) => Buffer): string {
  let token: string;
  try {
    token = readFile(file).toString('utf8').trim();
  } catch (err) {
    throw new Error(`token file ${file}: ${describeError(err)}`, { cause: err });
  }
  if (token === '') throw new Error(`token file ${file} is empty`);
  return token;
}

/** The apiserver answered with an error status; `message` carries its Status message. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly status: number,
    message: string,
    /** The Status's reason, e.g. NotFound, Forbidden, Expired. */
    readonly reason?: string,
  ) {
    super(message);
  }
}

export interface KubeRequest {
  method: 'GET' | 'PATCH' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** The whole request, body included, must finish within this. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export class KubeHttp {
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private cachedToken: { value: string; readAt: number } | undefined;

  constructor(
    readonly access: KubeAccess,
    private readonly readFile: (path: string) => Buffer = readFileSync,
    private readonly now: () => number = Date.now,
  ) {
    const secure = new URL(access.server).protocol === 'https:';
    this.transport = secure ? https : http;
    this.agent = secure
      ? new https.Agent({
          keepAlive: true,
          ca: access.ca,
          cert: access.cert,
          key: access.key,
          rejectUnauthorized: !access.insecureSkipTlsVerify,
          servername: access.tlsServerName,
        })
      : new http.Agent({ keepAlive: true });
  }

  /** A JSON request; resolves with the parsed answer, rejects with a KubeApiError for a non-2xx status. */
  async json<T>(request: KubeRequest): Promise<T> {
    const { response, where, signal, finish } = await this.open(request);
    try {
      const text = await readAll(response, Infinity, signal);
      try {
        return (text === '' ? {} : JSON.parse(text)) as T;
      } catch (err) {
        throw new Error(`${where}: the answer is not JSON`, { cause: err });
      }
    } catch (err) {
      throw finish(err);
    } finally {
      finish();
    }
  }

  /**
   * A streamed GET read as JSON lines (a watch): calls `onObject` with each line parsed;
   * resolves when the server ends the response, rejects on a failure or when `signal` aborts.
   */
  async stream(request: Omit<KubeRequest, 'method' | 'body' | 'contentType'>, onObject: (object: unknown) => void): Promise<void> {
    const { response, where, signal, finish } = await this.open({ ...request, method: 'GET' });
    try {
      response.setEncoding('utf8');
      let pending = '';
      for await (const chunk of response as AsyncIterable<string>) {
        pending += chunk;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          signal.throwIfAborted();
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line !== '') onObject(parseLine(line, where));
        }
        signal.throwIfAborted();
        if (pending.length > MAX_LINE) throw new Error(`${where}: a line longer than ${MAX_LINE} bytes`);
      }
      signal.throwIfAborted();
      if (pending.trim() !== '') onObject(parseLine(pending.trim(), where));
    } catch (err) {
      throw finish(err);
    } finally {
      finish();
    }
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.access.token ?? this.tokenFromFile();
    if (token) headers.authorization = `Bearer ${token}`;
    else if (this.access.basic)
      headers.authorization = `Basic ${Buffer.from(`${this.access.basic.username}:${this.access.basic.password}`).toString('base64')}`;
    if (this.access.impersonate) headers['impersonate-user'] = this.access.impersonate;
    return headers;
  }

  /** The token file's content, re-read after TOKEN_FILE_REFRESH_MS; the last good one while the file cannot be read. */
  private tokenFromFile(): string | undefined {
    const file = this.access.tokenFile;
    if (file === undefined) return undefined;
    const cached = this.cachedToken;
    if (cached && this.now() - cached.readAt < TOKEN_FILE_REFRESH_MS) return cached.value;
    try {
      this.cachedToken = { value: readToken(file, this.readFile), readAt: this.now() };
    } catch (err) {
      if (!cached) throw err;
    }
    return this.cachedToken?.value;
  }

  /**
   * Sends the request and waits for a 2xx response. `signal` aborts on the caller's abort or
   * the deadline; `finish(err?)` ends both and turns an abort into the error that says why.
   *
   * An abort destroys the request only while its response is incomplete: once the whole
   * response has arrived its keep-alive socket is back in the agent's pool, and destroying it
   * there would raise an error nobody listens to. Readers check `signal` between chunks.
   */
  private async open(
    request: KubeRequest,
  ): Promise<{ response: IncomingMessage; where: string; signal: AbortSignal; finish: (err?: unknown) => unknown }> {
    const url = new URL(this.access.server + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    const where = `${request.method} ${url.pathname}`;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`${where}: no answer within ${request.timeoutMs} ms`)), request.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, deadline.signal]) : deadline.signal;
    let req: http.ClientRequest | undefined;
    let response: IncomingMessage | undefined;
    const onAbort = () => {
      if (response?.complete !== true) req?.destroy(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const finish = (err?: unknown): unknown => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) return undefined;
      if (request.signal?.aborted) return request.signal.reason;
      if (deadline.signal.aborted) return deadline.signal.reason;
      return err instanceof KubeApiError ? err : new Error(`${where}: ${describeError(err)}`, { cause: err });
    };
    const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body), 'utf8');
    const headers = this.headers();
    if (payload) {
      headers['content-type'] = request.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    try {
      signal.throwIfAborted();
      response = await new Promise<IncomingMessage>((resolvePromise, reject) => {
        req = this.transport.request(url, { method: request.method, headers, agent: this.agent }, resolvePromise);
        req.on('error', reject);
        req.end(payload);
      });
      // Errors after this point (an abort, a reset) reach the reader through the response's iteration.
      response.on('error', () => undefined);
      const status = response.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        const text = await readAll(response, MAX_ERROR_BODY, signal).catch(() => '');
        let message = `${where} answered HTTP ${status}`;
        let reason: string | undefined;
        try {
          const body = JSON.parse(text) as { message?: unknown; reason?: unknown };
          if (typeof body.message === 'string') message = `${message}: ${body.message}`;
          if (typeof body.reason === 'string') reason = body.reason;
        } catch {
          // Not a Status object; keep the bare message.
        }
        throw new KubeApiError(status, message, reason);
      }
      return { response, where, signal, finish };
    } catch (err) {
      throw finish(err);
    }
  }
}

function parseLine(line: string, where: string): unknown {
  try {
    return JSON.parse(line);
  } catch (err) {
    throw new Error(`${where}: a line of the stream is not JSON`, { cause: err });
  }
}

/** The response body as text; at most `limit` characters are kept. */
async function readAll(response: IncomingMessage, limit: number, signal: AbortSignal): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response as AsyncIterable<string>) {
    signal.throwIfAborted();
    if (text.length < limit) text += chunk;
  }
  signal.throwIfAborted();
  return text.length > limit ? text.slice(0, limit) : text;
}

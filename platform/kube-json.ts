/**
 * Plain-JSON requests to the Kubernetes apiserver, authenticated as the kubeconfig says.
 * For objects AutoCrane copies and writes back whole (pod templates): client-node's typed
 * models would turn them into class instances with Dates, which must not leak into a
 * template written back, and its serializer is not exported. Errors are ApiExceptions with
 * the status and the apiserver's Status body, like the typed clients', so
 * kubernetesErrorStatus() and toActivityFailure() read them the same way.
 */
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

export type JsonObject = Record<string, unknown>;

export const CONTENT_TYPES = {
  json: 'application/json',
  mergePatch: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export interface KubeJsonRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The ApiException for an answer with error status `status`: its message quotes the apiserver's Status message. */
export function apiStatusError(where: string, status: number, text: string, headers: http.IncomingHttpHeaders): ApiException<string> {
  let message = `${where} answered HTTP ${status}`;
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') message = `${message}: ${body.message}`;
  } catch {
    // Not a Status object; keep the bare message.
  }
  return new ApiException(status, message, text, headers as Record<string, string>);
}

/**
 * How long an idle connection is kept for the next request: under the apiserver's own idle
 * timeout (90 s), so it is our side that closes it.
 */
export const IDLE_CONNECTION_MS = 30_000;

const keepAliveAgents = new WeakMap<KubeConfig, { material: string; agent: https.Agent }>();

/** A TLS option's value as text, for telling whether the material changed (a rotated certificate). */
const asText = (value: unknown): unknown =>
  Buffer.isBuffer(value) ? value.toString('base64') : Array.isArray(value) ? value.map(asText) : (value ?? null);

/**
 * Sets `options` up for a request to the apiserver of `kc`: its credentials as
 * applyToHTTPSOptions gives them, over one keep-alive agent per kubeconfig and TLS material.
 * applyToHTTPSOptions makes a new agent for every request, so every request opened a TLS
 * connection of its own, with a full handshake on both ends: during a rollout, TLS setup was
 * the worker's largest CPU cost after Temporal's own (bench/RESULTS.md, Rollout). A proxy's
 * agent is left as client-node made it.
 */
export async function applyKubeAccess(kc: KubeConfig, options: https.RequestOptions): Promise<void> {
  await kc.applyToHTTPSOptions(options);
  if (kc.getCurrentCluster()?.proxyUrl || !(options.agent instanceof https.Agent)) return;
  const access = {
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    pfx: options.pfx,
    passphrase: options.passphrase,
    rejectUnauthorized: options.rejectUnauthorized,
    servername: options.servername,
  };
  const material = createHash('sha256')
    .update(JSON.stringify(Object.values(access).map(asText)))
    .digest('hex');
  let cached = keepAliveAgents.get(kc);
  if (cached?.material !== material) {
    cached?.agent.destroy();
    // Built once: given the PEM material instead, every new connection would parse it again.
    const secureContext = tls.createSecureContext({
      ca: access.ca,
      cert: access.cert,
      key: access.key,
      pfx: access.pfx,
      passphrase: access.passphrase,
    });
    const agentOptions: https.AgentOptions = { secureContext, keepAlive: true, timeout: IDLE_CONNECTION_MS };
    if (access.rejectUnauthorized !== undefined) agentOptions.rejectUnauthorized = access.rejectUnauthorized;
    if (access.servername !== undefined) agentOptions.servername = access.servername;
    cached = { material, agent: new https.Agent(agentOptions) };
    keepAliveAgents.set(kc, cached);
  }
  options.agent = cached.agent;
}

/**
 * Whether a request failed only because the kept-alive connection it was sent on had just been
 * closed by the other end: nothing was answered, so it is sent again once on a new connection.
 * Not a POST: it creates, and if the apiserver did act on it, a second one would not be the
 * same request (AutoCrane's other writes, merge patches, guarded JSON patches, applies and
 * deletes, come out the same when repeated).
 */
export function isStaleConnection(req: http.ClientRequest, err: unknown, answered: boolean): boolean {
  const code = (err as { code?: string }).code;
  return !answered && req.reusedSocket && req.method !== 'POST' && (code === 'ECONNRESET' || code === 'EPIPE');
}

/** Longest error answer kept: a Status is small, and anything longer is cut. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** The URL of `path` on the apiserver of `kc`, with those of `query` that are set. */
export function kubeUrl(kc: KubeConfig, path: string, query: Record<string, string | number | boolean | undefined> = {}): URL {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
  const url = new URL(server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  return url;
}

const isSuccess = (response: http.IncomingMessage) => (response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300;

/** An error answer (its first 64 KiB) as the ApiException it stands for. */
function readErrorAnswer(response: http.IncomingMessage, where: string): Promise<ApiException<string>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      if (size < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    });
    response.on('end', () =>
      resolve(
        apiStatusError(
          where,
          response.statusCode ?? 0,
          Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY_BYTES),
          response.headers,
        ),
      ),
    );
    response.on('error', reject);
  });
}

interface Settle<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Sends one request to the apiserver and hands its answer to `onResponse`, which settles the
 * returned promise. What every request shares is here: one that takes longer than
 * `options.timeout` is destroyed with an error that says where, and one that failed on a
 * stale kept-alive connection before any answer is sent once more (isStaleConnection).
 */
function sendKubeRequest<T>(
  url: URL,
  options: https.RequestOptions,
  where: string,
  payload: Buffer | undefined,
  onResponse: (response: http.IncomingMessage, settle: Settle<T>, req: http.ClientRequest) => void,
): Promise<T> {
  const send = (retried: boolean) =>
    new Promise<T>((resolve, reject) => {
      let answered = false;
      const req = (url.protocol === 'http:' ? http : https).request(url, options, (response) => {
        answered = true;
        onResponse(response, { resolve, reject }, req);
      });
      req.on('timeout', () => req.destroy(new Error(`${where}: no answer within ${options.timeout} ms`)));
      req.on('error', (err) => {
        if (!retried && isStaleConnection(req, err, answered)) send(true).then(resolve, reject);
        else reject(err);
      });
      if (payload) req.write(payload);
      req.end();
    });
  return send(false);
}

export async function kubeJson<T = JsonObject>(kc: KubeConfig, request: KubeJsonRequest): Promise<T> {
  const url = kubeUrl(kc, request.path, request.query);
  const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body), 'utf8');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload) {
    headers['content-type'] = request.contentType ?? CONTENT_TYPES.json;
    headers['content-length'] = String(payload.length);
  }
  const options: https.RequestOptions = { method: request.method, headers, timeout: request.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  await applyKubeAccess(kc, options);
  const where = `${request.method} ${url.pathname}`;
  return sendKubeRequest<T>(url, options, where, payload, (response, { resolve, reject }) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', reject);
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!isSuccess(response)) {
        reject(apiStatusError(where, response.statusCode ?? 0, text, response.headers));
        return;
      }
      try {
        resolve((text === '' ? {} : JSON.parse(text)) as T);
      } catch (err) {
        reject(new Error(`${where}: the answer is not JSON`, { cause: err }));
      }
    });
  });
}

/**
 * A streamed GET whose answer, when it succeeds, goes to `onSuccess` (which settles the
 * returned promise), and which rejects with the ApiException of an error answer: the shape of
 * a paged LIST read as it arrives, and of a watch.
 */
export async function streamKube<T>(
  kc: KubeConfig,
  request: {
    path: string;
    query?: Record<string, string | number | boolean | undefined>;
    timeoutMs: number;
    signal?: AbortSignal;
    verb?: string;
  },
  onSuccess: (response: http.IncomingMessage, settle: Settle<T>, req: http.ClientRequest, where: string) => void,
): Promise<T> {
  const url = kubeUrl(kc, request.path, request.query);
  const options: https.RequestOptions = {
    method: 'GET',
    headers: { accept: 'application/json' },
    timeout: request.timeoutMs,
    ...(request.signal ? { signal: request.signal } : {}),
  };
  await applyKubeAccess(kc, options);
  const where = `${request.verb ?? 'GET'} ${url.pathname}`;
  return sendKubeRequest<T>(url, options, where, undefined, (response, settle, req) => {
    if (isSuccess(response)) onSuccess(response, settle, req, where);
    else readErrorAnswer(response, where).then(settle.reject, settle.reject);
  });
}

/** Longest watch line kept (a pod is at most ~1.5 MB). */
const MAX_WATCH_LINE = 16 * 2 ** 20;

/**
 * A watch of `path` (`watch=true` is added), over the same keep-alive agent as kubeJson: one
 * TLS handshake fewer per watch than client-node's Watch, which makes a new agent for each.
 * Resolves once the apiserver has answered 200, with a controller that ends the watch;
 * rejects, like kubeJson, when it answers an error or cannot be reached. Each line's event
 * goes to `onEvent`, as parsed; once the watch has started, `onEnd` is called once when it
 * ends, whatever ended it (the apiserver, an error, a line that is not JSON, or the controller).
 */
export async function kubeWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  onEvent: (type: string, object: JsonObject) => void,
  onEnd: (err?: unknown) => void,
): Promise<AbortController> {
  const controller = new AbortController();
  let ended = false;
  const end = (err?: unknown) => {
    if (ended) return;
    ended = true;
    onEnd(err);
  };
  // No request timeout: a watch may stay quiet for as long as nothing changes.
  const request = { path, query: { ...query, watch: 'true' }, timeoutMs: 0, signal: controller.signal, verb: 'WATCH' };
  return streamKube<AbortController>(kc, request, (response, { resolve }, req, where) => {
    resolve(controller);
    response.setEncoding('utf8');
    let pending = '';
    response.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      try {
        while (!ended && (newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line === '') continue;
          const event = JSON.parse(line) as { type?: unknown; object?: unknown };
          onEvent(String(event.type), (event.object ?? {}) as JsonObject);
        }
        if (pending.length > MAX_WATCH_LINE) throw new Error(`${where}: a line longer than ${MAX_WATCH_LINE} bytes`);
      } catch (err) {
        req.destroy();
        end(err instanceof SyntaxError ? new Error(`${where}: a line is not JSON`, { cause: err }) : err);
      }
    });
    response.on('end', () => end());
    response.on('error', (err) => end(err));
    response.on('close', () => end());
  });
}

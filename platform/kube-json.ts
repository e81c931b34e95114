/**
 * Plain-JSON requests to the Kubernetes apiserver, authenticated as the kubeconfig says.
 * For objects AutoCrane copies and writes back whole (pod templates): client-node's typed
 * models would turn them into class instances with Dates, which must not leak into a
 * template written back, and its serializer is not exported. Errors are ApiExceptions with
 * the status and the apiserver's Status body, like the typed clients', so
 * kubernetesErrorStatus() and toActivityFailure() read them the same way.
 */
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';

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

export async function kubeJson<T = JsonObject>(kc: KubeConfig, request: KubeJsonRequest): Promise<T> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
  const url = new URL(server.replace(/\/+$/, '') + request.path);
  for (const [key, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
  const payload = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body), 'utf8');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload) {
    headers['content-type'] = request.contentType ?? CONTENT_TYPES.json;
    headers['content-length'] = String(payload.length);
  }
  const options: https.RequestOptions = { method: request.method, headers, timeout: request.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  await kc.applyToHTTPSOptions(options);
  const transport = url.protocol === 'http:' ? http : https;
  const where = `${request.method} ${url.pathname}`;
  return new Promise<T>((resolve, reject) => {
    const req = transport.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        if (status < 200 || status >= 300) {
          reject(apiStatusError(where, status, text, response.headers));
          return;
        }
        try {
          resolve((text === '' ? {} : JSON.parse(text)) as T);
        } catch (err) {
          reject(new Error(`${where}: the answer is not JSON`, { cause: err }));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${where}: no answer within ${options.timeout} ms`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

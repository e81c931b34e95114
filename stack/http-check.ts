import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpCheckOptions {
  /** PEM of the CA to trust; when absent with https, the certificate is not verified (self-signed component ports). */
  ca?: Buffer;
  token?: string;
  timeoutMs?: number;
}

/** One GET used by readiness checks; resolves with the status and body, rejects on network errors. */
export function httpGet(url: string, options: HttpCheckOptions = {}): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = send(
      target,
      {
        method: 'GET',
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
        timeout: options.timeoutMs ?? 2000,
        ...(target.protocol === 'https:' ? { ca: options.ca, rejectUnauthorized: options.ca !== undefined } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Throws unless GET url answers 200. */
export async function expectOk(url: string, options: HttpCheckOptions = {}): Promise<string> {
  const { status, body } = await httpGet(url, options);
  if (status !== 200) throw new Error(`GET ${url} answered ${status}: ${body.slice(0, 200)}`);
  return body;
}

/**
 * Streams an archive to a file while hashing it: nothing is buffered beyond the stream's own
 * chunks, so memory stays flat whatever the size. The caller only sees a file whose SHA-256
 * matched; on any failure the partial file is removed.
 *
 * Over node:http(s), not fetch: fetch (undici) costs ~16 MB more of RSS to load, and its web
 * stream adds a buffer of its own before the file, both within the deployer's 100 MB of RSS.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeError } from '../platform/errors';
import { ActivationError } from './errors';
import { paceGc } from './gc-pacer';

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Fails when no byte arrives for this long (headers included). */
  idleTimeoutMs: number;
  /** Fails once more bytes than this arrive: a hash mismatch can only be found at the end. */
  maxBytes: number;
}

/** Downloads `url` to `file`; resolves with the byte count once the SHA-256 equals `sha256`. */
export async function downloadVerified(url: string, file: string, sha256: string, options: DownloadOptions): Promise<{ bytes: number }> {
  const idle = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new Error(`no data for ${options.idleTimeoutMs} ms`)), options.idleTimeoutMs);
  };
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    touch();
    let response: IncomingMessage;
    try {
      response = await get(url, signal);
    } catch (err) {
      if (err instanceof ActivationError) throw err;
      throw downloadError(url, err, options.signal, idle.signal);
    }
    const expectedLength = Number(response.headers['content-length'] ?? NaN);
    if (expectedLength > options.maxBytes) {
      response.destroy();
      throw new ActivationError('download', `GET ${url}: ${expectedLength} bytes exceed the limit of ${options.maxBytes}`);
    }
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        touch();
        bytes += chunk.length;
        if (bytes > options.maxBytes) {
          callback(new ActivationError('download', `GET ${url}: more than ${options.maxBytes} bytes`));
          return;
        }
        hash.update(chunk);
        paceGc(chunk.length);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(response, meter, createWriteStream(file), { signal });
    } catch (err) {
      if (err instanceof ActivationError) throw err;
      throw downloadError(url, err, options.signal, idle.signal, bytes);
    }
    if (Number.isFinite(expectedLength) && bytes !== expectedLength) {
      throw new ActivationError('download', `GET ${url}: truncated, ${bytes} of ${expectedLength} bytes`);
    }
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      throw new ActivationError(
        'hash-mismatch',
        `the archive from ${url} (${bytes} bytes) has SHA-256 ${actual}, the request names ${sha256}`,
      );
    }
    return { bytes };
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const MAX_REDIRECTS = 5;

/** GETs `url`, following redirects; resolves with a 2xx response whose body is unread. */
async function get(url: string, signal: AbortSignal): Promise<IncomingMessage> {
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    const transport = current.protocol === 'https:' ? https : current.protocol === 'http:' ? http : undefined;
    if (transport === undefined)
      throw new ActivationError('download', `GET ${url}: ${current.protocol} URLs are not supported (http or https)`);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      // No keep-alive (agent: false): one download per version, and an abort then never meets a pooled socket.
      transport.get(current, { signal, agent: false }, resolve).on('error', reject);
    });
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
      response.resume();
      if (redirects >= MAX_REDIRECTS) throw new ActivationError('download', `GET ${url}: more than ${MAX_REDIRECTS} redirects`);
      current = new URL(location, current);
      continue;
    }
    if (status < 200 || status >= 300) {
      response.resume();
      throw new ActivationError('download', `GET ${url} answered HTTP ${status}`);
    }
    // A body error (reset, abort) surfaces through the pipeline that reads it.
    response.on('error', () => undefined);
    return response;
  }
}

function downloadError(url: string, err: unknown, caller: AbortSignal | undefined, idle: AbortSignal, bytes?: number): unknown {
  // The caller's own abort (a superseding request, shutdown) is not a download failure.
  if (caller?.aborted) return caller.reason;
  const after = bytes === undefined ? '' : ` after ${bytes} bytes`;
  const why = idle.aborted ? describeError(idle.reason) : describeError(err);
  return new ActivationError('download', `GET ${url}${after}: ${why}`, { cause: err });
}

/**
 * Streams an archive to a file while hashing it: nothing is buffered beyond the stream's own
 * chunks, so memory stays flat whatever the size. The caller only sees a file whose SHA-256
 * matched; on any failure the partial file is removed.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { describeError } from '../platform/errors';
import { ActivationError } from './errors';

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
    let response: Response;
    try {
      response = await fetch(url, { signal, redirect: 'follow' });
    } catch (err) {
      throw downloadError(url, err, options.signal, idle.signal);
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw new ActivationError('download', `GET ${url} answered HTTP ${response.status}`);
    }
    const expectedLength = Number(response.headers.get('content-length') ?? NaN);
    if (expectedLength > options.maxBytes) {
      await response.body.cancel().catch(() => undefined);
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
        callback(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter, createWriteStream(file), { signal });
    } catch (err) {
      if (err instanceof ActivationError) throw err;
      throw downloadError(url, err, options.signal, idle.signal, bytes);
    }
    if (Number.isFinite(expectedLength) && bytes !== expectedLength) {
      throw new ActivationError('download', `GET ${url}: truncated, ${bytes} of ${expectedLength} bytes`);
    }
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      throw new ActivationError('hash-mismatch', `the archive from ${url} (${bytes} bytes) has SHA-256 ${actual}, the request names ${sha256}`);
    }
    return { bytes };
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function downloadError(url: string, err: unknown, caller: AbortSignal | undefined, idle: AbortSignal, bytes?: number): unknown {
  // The caller's own abort (a superseding request, shutdown) is not a download failure.
  if (caller?.aborted) return caller.reason;
  const after = bytes === undefined ? '' : ` after ${bytes} bytes`;
  const why = idle.aborted ? describeError(idle.reason) : describeError(err);
  return new ActivationError('download', `GET ${url}${after}: ${why}`, { cause: err });
}

/**
 * Checks an archive while it is stored: a pass-through stream that also feeds every byte to
 * gunzip and a tar parser and applies domain/data/data-archive-rules.ts to each entry header. It
 * fails (ArchiveRefusedError, naming the reason) as soon as a rule is broken or the data is
 * not a complete gzip-compressed tar, so a refused archive never finishes its put and is
 * never renamed into the store. Every error of the parsing side is caught here: a broken
 * archive is a refusal, never an exception nobody listens to.
 */
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import {
  ArchiveEntryRules,
  maxTarBytes,
  type ArchiveLimits,
  type ArchiveProblem,
  type RefusalReason,
} from '../domain/data/data-archive-rules';
import { describeError } from '../platform/errors';

export class ArchiveRefusedError extends Error {
  override readonly name = 'ArchiveRefusedError';
  constructor(
    readonly reason: RefusalReason,
    message: string,
    /** The origin's ref of the refused content, when known where it was refused. */
    readonly ref: string | null = null,
  ) {
    super(message);
  }

  get problem(): ArchiveProblem {
    return { reason: this.reason, message: this.message };
  }
}

/** An error of gunzip or of the tar parser as a refusal. */
export function refusalOf(err: unknown): ArchiveRefusedError {
  if (err instanceof ArchiveRefusedError) return err;
  const code = (err as { code?: unknown }).code;
  const text = describeError(err);
  if (code === 'Z_BUF_ERROR' || /unexpected end of (file|data)/i.test(text))
    return new ArchiveRefusedError('truncated', `the archive ends early: ${text}`);
  if (typeof code === 'string' && code.startsWith('Z_')) return new ArchiveRefusedError('corrupt-gzip', `not a gzip stream: ${text}`);
  return new ArchiveRefusedError('corrupt-tar', `not a valid tar: ${text}`);
}

/** A writable that counts bytes and fails past `max`. */
function byteCap(max: number, reason: RefusalReason, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > max) callback(new ArchiveRefusedError(reason, `${what} exceeds ${max} bytes`));
      else callback(null, chunk);
    },
  });
}

/**
 * A pass-through of the archive's bytes that fails when the archive breaks a rule or `limits`.
 * Backpressure reaches the source through the parsing side, so nothing is buffered beyond a
 * chunk or two.
 */
export function archiveInspector(limits: ArchiveLimits): Transform {
  const rules = new ArchiveEntryRules(limits);
  const gunzip = createGunzip();
  const parser = tarExtract();
  parser.on('entry', (header: Header, entry, next) => {
    const body = entry as unknown as Readable;
    // Destroying the parser destroys the entry stream, which then emits its error: heard here.
    body.on('error', () => undefined);
    const problem = rules.check(header);
    if (problem) {
      parser.destroy(new ArchiveRefusedError(problem.reason, problem.message));
      return;
    }
    body.on('end', () => next());
    body.resume();
  });
  const cap = byteCap(maxTarBytes(limits), 'too-many-bytes', 'the decompressed tar');
  // The pipeline reports the first error; later ones (a write after the failure) must not go unheard.
  for (const stream of [gunzip, cap, parser]) stream.on('error', () => undefined);
  let failure: ArchiveRefusedError | null = null;
  const parsed = pipeline(gunzip, cap, parser as unknown as Writable).then(
    () => null,
    (err: unknown) => (failure = refusalOf(err)),
  );
  let archiveBytes = 0;
  const inspector = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      archiveBytes += chunk.length;
      if (archiveBytes > limits.maxArchiveBytes) {
        callback(new ArchiveRefusedError('archive-too-large', `the archive exceeds ${limits.maxArchiveBytes} bytes`));
        return;
      }
      if (failure || gunzip.destroyed) {
        void parsed.then((refusal) => callback(refusal ?? new ArchiveRefusedError('corrupt-tar', 'the tar ended before the archive did')));
        return;
      }
      if (gunzip.write(chunk)) callback(null, chunk);
      else gunzip.once('drain', () => callback(null, chunk));
    },
    flush(callback) {
      gunzip.end();
      void parsed.then((refusal) => callback(refusal));
    },
    destroy(err, callback) {
      gunzip.destroy();
      callback(err);
    },
  });
  // A failure of the parsing side ends the pass-through at once (a pending drain never comes).
  void parsed.then((refusal) => {
    if (refusal && !inspector.destroyed) inspector.destroy(refusal);
  });
  return inspector;
}

/** `source` checked by an archiveInspector: fails with the source's error or the refusal. */
export function inspected(source: Readable, limits: ArchiveLimits): Readable {
  const inspector = archiveInspector(limits);
  source.on('error', (err) => inspector.destroy(err));
  // A refusal stops reading the source: release it (and whatever produces it) at once.
  inspector.once('close', () => source.destroy());
  return source.pipe(inspector);
}

/**
 * Reads archives only as their recorded SHA-256 says they are, so a blob altered on disk is
 * never served:
 *
 * - Before the first byte, a blob is hashed whole unless it was verified since its file last
 *   changed (same identity: inode, size, change times). The first request after a start or
 *   after any change to the file therefore reads it twice; a mismatch then answers an error
 *   before any status line was sent.
 * - A full body is hashed again while it streams, its last chunk held back until the hash
 *   matched; on a mismatch (damage the file's identity does not show) the response is cut
 *   short, so no client gets a complete body with the wrong bytes.
 * - A range is served only from a blob verified whole (as above), as a range alone cannot be.
 *
 * A mismatch quarantines the blob (BlobStore.quarantine) and is reported to `onMismatch`.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import type { ByteRange } from '../domain/data/data-repository';
import type { BlobStore } from './blob-store';

export class BlobIntegrityError extends Error {
  override readonly name = 'BlobIntegrityError';
  constructor(
    readonly sha256: string,
    message: string,
  ) {
    super(message);
  }
}

export type BlobState = { kind: 'present'; size: number; identity: string } | { kind: 'quarantined' } | { kind: 'missing' };

export class VerifiedBlobReader {
  /** sha256 → identity of the file when its bytes last hashed right. */
  private readonly verified = new Map<string, string>();
  private readonly checks = new Map<string, Promise<void>>();

  constructor(
    private readonly blobs: BlobStore,
    /** Called once per mismatch found, after the blob was quarantined. */
    private readonly onMismatch: (sha256: string, actual: string) => void,
  ) {}

  async state(sha256: string): Promise<BlobState> {
    const stored = await this.blobs.stat(sha256);
    if (stored) return { kind: 'present', ...stored };
    return (await this.blobs.quarantined(sha256)) ? { kind: 'quarantined' } : { kind: 'missing' };
  }

  /** Records a blob whose bytes were just hashed while written (a poll's put). */
  trust(sha256: string, identity: string): void {
    this.verified.set(sha256, identity);
  }

  /** The blob's bytes (or a range), opened only once verified; fails with BlobIntegrityError on a mismatch. */
  async open(sha256: string, identity: string, range?: ByteRange): Promise<Readable> {
    if (range !== undefined || this.verified.get(sha256) !== identity) await this.verifyWhole(sha256, identity);
    const body = await this.blobs.open(sha256, range);
    if (range !== undefined) return body;
    const checker = this.streamingCheck(sha256, identity);
    body.on('error', (err) => checker.destroy(err));
    checker.once('close', () => body.destroy());
    return body.pipe(checker);
  }

  private verifyWhole(sha256: string, identity: string): Promise<void> {
    const key = `${sha256}@${identity}`;
    let check = this.checks.get(key);
    if (!check) {
      check = (async () => {
        const hash = createHash('sha256');
        for await (const chunk of await this.blobs.open(sha256)) hash.update(chunk as Buffer);
        const actual = hash.digest('hex');
        if (actual !== sha256) throw await this.mismatch(sha256, actual);
        this.verified.set(sha256, identity);
      })().finally(() => this.checks.delete(key));
      this.checks.set(key, check);
    }
    return check;
  }

  private async mismatch(sha256: string, actual: string): Promise<BlobIntegrityError> {
    this.verified.delete(sha256);
    await this.blobs.quarantine(sha256);
    this.onMismatch(sha256, actual);
    return new BlobIntegrityError(sha256, `the stored archive ${sha256} hashes to ${actual}: quarantined, not served`);
  }

  private streamingCheck(sha256: string, identity: string): Transform {
    const hash = createHash('sha256');
    let held: Buffer | null = null;
    const mismatch = (actual: string) => this.mismatch(sha256, actual);
    const verified = () => this.verified.set(sha256, identity);
    return new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        const previous = held;
        held = chunk;
        callback(null, previous ?? undefined);
      },
      flush(callback) {
        const actual = hash.digest('hex');
        if (actual === sha256) {
          verified();
          callback(null, held ?? undefined);
          return;
        }
        mismatch(actual).then(
          (err) => callback(err),
          (err: unknown) => callback(err as Error),
        );
      },
    });
  }
}

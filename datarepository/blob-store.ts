/**
 * A content-addressed store of archives. The interface is what an object store could also
 * implement; FileBlobStore keeps them on disk as `<root>/blobs/sha256/<hex>`.
 *
 * A blob becomes visible only complete: it is written to `<root>/blobs/tmp/`, hashed while
 * written, flushed, and renamed into place under its hash. A crash leaves at most a file in
 * tmp/, which the next start removes. A blob found not to match its address when served is
 * moved to `<root>/blobs/quarantine/<hex>` (blob-verify.ts). Addresses are checked against SHA256_HEX before any
 * path is built from them, so no caller can name a file outside the store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SHA256_HEX } from '../domain/data/data-contract';
import type { ByteRange } from '../domain/data/data-repository';

export interface StoredBlob {
  sha256: string;
  size: number;
}

export interface BlobStore {
  /** Stores the stream's bytes; resolves once they are durable and visible under their hash. */
  put(content: Readable): Promise<StoredBlob>;
  /**
   * The blob's size and identity, or null when there is none. The identity changes whenever
   * the stored bytes may have (for a file: inode, size, modification and change times).
   */
  stat(sha256: string): Promise<{ size: number; identity: string } | null>;
  /** Its bytes (an inclusive range of them); fails like stat when there is none. */
  open(sha256: string, range?: ByteRange): Promise<Readable>;
  /** Removes it; no error when it is already gone. */
  delete(sha256: string): Promise<void>;
  list(): Promise<string[]>;
  /** Moves a blob whose bytes no longer match its address out of the store, kept for inspection. */
  quarantine(sha256: string): Promise<void>;
  /** Whether a blob of this address was quarantined (and not stored again since). */
  quarantined(sha256: string): Promise<boolean>;
}

export class InvalidBlobAddressError extends Error {
  override readonly name = 'InvalidBlobAddressError';
}

function checkAddress(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new InvalidBlobAddressError(`'${sha256}' is not a blob address (64 lower-case hex digits)`);
  return sha256;
}

/** fsync a folder so a rename into it survives a power loss. */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class FileBlobStore implements BlobStore {
  private readonly blobs: string;
  private readonly tmp: string;
  private readonly quarantineFolder: string;

  constructor(root: string) {
    this.blobs = join(root, 'blobs', 'sha256');
    this.tmp = join(root, 'blobs', 'tmp');
    this.quarantineFolder = join(root, 'blobs', 'quarantine');
  }

  /** Creates the folders and removes what a crashed put left in tmp/. Call once before use, before any put. */
  async prepare(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
    await mkdir(this.tmp, { recursive: true });
    await mkdir(this.blobs, { recursive: true });
    await mkdir(this.quarantineFolder, { recursive: true });
  }

  private path(sha256: string): string {
    return join(this.blobs, checkAddress(sha256));
  }

  async put(content: Readable): Promise<StoredBlob> {
    const temp = join(this.tmp, `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(content, meter, createWriteStream(temp, { flags: 'wx' }));
      const handle = await open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      const sha256 = hash.digest('hex');
      // Same content, same name: renaming over an existing blob replaces it with identical bytes.
      await rename(temp, this.path(sha256));
      await syncFolder(this.blobs);
      // Stored again with the right bytes: no longer quarantined (the damaged copy stays only for inspection).
      await rm(this.quarantinePath(sha256), { force: true });
      return { sha256, size };
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async stat(sha256: string): Promise<{ size: number; identity: string } | null> {
    try {
      const s = await stat(this.path(sha256), { bigint: true });
      return s.isFile() ? { size: Number(s.size), identity: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}` } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async open(sha256: string, range?: ByteRange): Promise<Readable> {
    const stream: ReadStream = createReadStream(this.path(sha256), range ? { start: range.start, end: range.end } : {});
    // Opening is asynchronous: wait for it so a missing blob is an error here, not mid-response.
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
    await rm(this.quarantinePath(sha256), { force: true });
  }

  private quarantinePath(sha256: string): string {
    return join(this.quarantineFolder, checkAddress(sha256));
  }

  async quarantine(sha256: string): Promise<void> {
    try {
      await rename(this.path(sha256), this.quarantinePath(sha256));
    } catch (err) {
      // Already moved by a concurrent request that found the same mismatch.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async quarantined(sha256: string): Promise<boolean> {
    return stat(this.quarantinePath(sha256)).then(
      () => true,
      () => false,
    );
  }

  async list(): Promise<string[]> {
    return (await readdir(this.blobs)).filter((name) => SHA256_HEX.test(name)).sort();
  }
}

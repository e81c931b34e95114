/**
 * Packs content as a gzip-compressed tar, streaming: one file at a time goes through
 * tar-stream and zlib, so memory stays flat whatever the size. The archive is a function of
 * the content only (sorted names, mtime 0, owner 0, modes reduced to 644/755), so packing the
 * same content twice gives the same bytes and the same SHA-256: a retried poll finds the
 * version it already stored instead of making another.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';

type PackHeader = Parameters<ReturnType<typeof pack>['entry']>[0];

export interface PackEntry {
  /** Archive path, `/`-separated, relative. */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  /** Absolute path of the content (files). */
  path?: string;
  size?: number;
  executable?: boolean;
  linkname?: string;
}

const EPOCH = new Date(0);

function header(entry: PackEntry): PackHeader {
  const mode = entry.type === 'file' && !entry.executable ? 0o644 : 0o755;
  const common = { name: entry.name, mode, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };
  if (entry.type === 'file') return { ...common, type: 'file', size: entry.size ?? 0 };
  if (entry.type === 'symlink') return { ...common, type: 'symlink', linkname: entry.linkname ?? '' };
  return { ...common, type: 'directory' };
}

/** A gzip-compressed tar of `entries`, in the order given. Errors (a file changed size or vanished) destroy the stream. */
export function packEntries(entries: readonly PackEntry[]): Readable {
  const tar = pack();
  const gzip = createGzip();
  tar.on('error', (err) => gzip.destroy(err));
  tar.pipe(gzip);
  // A consumer that stops reading (a refused archive) ends the packing too.
  gzip.once('close', () => tar.destroy());
  void (async () => {
    for (const entry of entries) {
      if (gzip.destroyed) return;
      if (entry.type === 'file') {
        await new Promise<void>((resolve, reject) => {
          const sink = tar.entry(header(entry), (err) => (err ? reject(err) : resolve()));
          pipeline(createReadStream(entry.path!), sink).catch(reject);
        });
      } else {
        await new Promise<void>((resolve, reject) => tar.entry(header(entry), (err) => (err ? reject(err) : resolve())));
      }
    }
    tar.finalize();
  })().catch((err: unknown) => gzip.destroy(err instanceof Error ? err : new Error(String(err))));
  return gzip;
}

/**
 * Every file, folder and symlink below `root` (not following links; sockets and devices are
 * left out), sorted by archive path, and a digest of them: names, types, modes, link targets
 * and file contents. The digest tells whether a folder changed without packing it.
 */
export async function walkFolder(
  root: string,
  exclude: (name: string) => boolean = () => false,
): Promise<{ entries: PackEntry[]; digest: string }> {
  const entries: PackEntry[] = [];
  async function visit(folder: string): Promise<void> {
    const names = (await readdir(folder)).sort();
    for (const name of names) {
      const path = join(folder, name);
      const archiveName = relative(root, path).split(sep).join('/');
      if (exclude(archiveName)) continue;
      const info = await lstat(path);
      if (info.isDirectory()) {
        entries.push({ name: `${archiveName}/`, type: 'directory' });
        await visit(path);
      } else if (info.isFile()) {
        entries.push({ name: archiveName, type: 'file', path, size: info.size, executable: (info.mode & 0o111) !== 0 });
      } else if (info.isSymbolicLink()) {
        entries.push({ name: archiveName, type: 'symlink', linkname: await readlink(path) });
      }
    }
  }
  await visit(root);
  const digest = createHash('sha256');
  for (const entry of entries) {
    digest.update(`${entry.type}\0${entry.name}\0${entry.executable ? 'x' : '-'}\0${entry.linkname ?? ''}\0`);
    if (entry.type === 'file') {
      const content = createHash('sha256');
      for await (const chunk of createReadStream(entry.path!)) content.update(chunk as Buffer);
      digest.update(content.digest());
    }
  }
  return { entries, digest: digest.digest('hex') };
}

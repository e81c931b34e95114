/**
 * Extracts a gzip-compressed tar into a folder, streaming entry by entry, under rules no
 * archive can get around: nothing lands outside the folder (absolute names, `..`, writes
 * through the archive's own symlinks, symlinks or hard links reaching out are refused),
 * only regular files, folders and links are created (device files and FIFOs are refused),
 * and the number of entries and the extracted bytes are capped (checked from each header
 * before its bytes are written).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Header } from 'tar-stream';
import { archiveEntryPath, symlinkTargetProblem, throughSymlinkProblem } from '../domain/data/data-deployer';
import { describeError } from '../platform/errors';
import { ActivationError } from './errors';
import { gcPacer } from './gc-pacer';

export interface ExtractLimits {
  /** Most entries (files, folders, links) an archive may hold. */
  maxEntries: number;
  /** Most bytes its regular files may add up to once extracted. */
  maxBytes: number;
}

export interface ExtractResult {
  entries: number;
  bytes: number;
}

/** Extracts `archive` into the existing, empty folder `root`. Throws ActivationError('archive') for a refused archive. */
export async function extractArchive(archive: string, root: string, limits: ExtractLimits, signal?: AbortSignal): Promise<ExtractResult> {
  const symlinks = new Set<string>();
  const files = new Set<string>();
  let entries = 0;
  let bytes = 0;
  const refuse = (problem: string) => new ActivationError('archive', problem);

  async function writeEntry(header: Header, body: Readable): Promise<void> {
    signal?.throwIfAborted();
    entries += 1;
    if (entries > limits.maxEntries) throw refuse(`more than ${limits.maxEntries} entries (--max-entries)`);
    // tar-stream consumes pax and GNU long-name headers itself and gives null for type flags it does not know.
    const type: string = header.type ?? 'unknown';
    const path = archiveEntryPath(header.name);
    if (!path.ok) throw refuse(path.problem);
    const { segments } = path;
    const key = segments.join('/');
    if (segments.length === 0) {
      if (type === 'directory') return;
      throw refuse(`'${header.name}': a ${type} entry naming the archive's root`);
    }
    const through = throughSymlinkProblem(segments, symlinks);
    if (through !== null) throw refuse(through);
    if (symlinks.has(key)) throw refuse(`'${key}': replaces the symlink of an earlier entry`);
    const target = join(root, ...segments);
    if (type !== 'directory') await mkdir(dirname(target), { recursive: true });
    // A later entry of the same name replaces the earlier one, as tar does.
    if (files.has(key)) await rm(target, { force: true });

    switch (type) {
      case 'file':
      case 'contiguous-file': {
        const size = header.size ?? 0;
        if (bytes + size > limits.maxBytes)
          throw refuse(`'${key}' (${size} bytes) takes the extracted size over ${limits.maxBytes} bytes (--max-extracted-bytes)`);
        bytes += size;
        // Owner read kept, group/other write and set-id bits dropped: data, not programs to trust.
        const mode = ((header.mode ?? 0o644) & 0o755) | 0o400;
        // 'wx': never follow or reuse whatever is at the path.
        await pipeline(body, createWriteStream(target, { flags: 'wx', mode }), { signal });
        files.add(key);
        return;
      }
      case 'directory':
        await mkdir(target, { recursive: true, mode: 0o755 });
        return;
      case 'symlink': {
        const linkname = header.linkname ?? '';
        const problem = symlinkTargetProblem(segments, linkname, symlinks);
        if (problem !== null) throw refuse(problem);
        await symlink(linkname, target);
        symlinks.add(key);
        return;
      }
      case 'link': {
        const linked = archiveEntryPath(header.linkname ?? '');
        if (!linked.ok) throw refuse(`hard link '${key}' -> ${linked.problem}`);
        const linkedKey = linked.segments.join('/');
        const problem = throughSymlinkProblem([...linked.segments, ''], symlinks);
        if (problem !== null) throw refuse(`hard link '${key}': ${problem}`);
        if (!files.has(linkedKey)) throw refuse(`hard link '${key}' -> '${header.linkname ?? ''}': not a file extracted before it`);
        await link(join(root, ...linked.segments), target);
        files.add(key);
        return;
      }
      case 'character-device':
      case 'block-device':
        throw refuse(`'${key}': a device file`);
      case 'fifo':
        throw refuse(`'${key}': a FIFO`);
      default:
        throw refuse(`'${key}': an entry of type ${type}`);
    }
  }

  const extractor = tarExtract();
  extractor.on('entry', (header, entryStream, next) => {
    // A streamx Readable: node's pipeline() and resume() work with it as with a node one.
    const body = entryStream as unknown as Readable;
    // An abort destroys the extractor and with it this stream, which then emits its error,
    // also when no pipeline holds it (before writeEntry pipes it, or after): unheard, that
    // error would end the process. The failure itself reaches the caller through the pipelines.
    body.on('error', () => undefined);
    writeEntry(header, body).then(
      () => {
        body.resume(); // a skipped entry's bytes (directories, pax headers) must still be read
        next();
      },
      (err: unknown) => {
        body.resume();
        next(err as Error);
      },
    );
  });
  try {
    await pipeline(createReadStream(archive), createGunzip(), gcPacer(), extractor, { signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof ActivationError) throw err;
    const code = (err as { code?: unknown }).code;
    // zlib and tar-stream errors mean the bytes are not a gzip-compressed tar.
    if (typeof code === 'string' && code.startsWith('Z_')) throw refuse(`not a gzip stream: ${describeError(err)}`);
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code))
      throw new ActivationError('filesystem', `extracting into ${root}: ${describeError(err)}`, { cause: err });
    throw refuse(`not a valid tar: ${describeError(err)}`);
  }
  return { entries, bytes };
}

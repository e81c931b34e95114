/**
 * What the data repository accepts as a version's archive, pure so it is tested entry by
 * entry: the same rules the data deployer extracts under (datadeployer/extract.ts), applied
 * before anything is stored, so an archive every pod would refuse is never a version. Also
 * how long a refused source waits before its refused content is fetched again.
 */
import { archiveEntryPath, symlinkTargetProblem, throughSymlinkProblem } from './data-deployer';

/** Why an archive was refused; the `reason` label of the refusal metric. */
export const REFUSAL_REASONS = [
  /** The gzip or tar data ends early. */
  'truncated',
  'corrupt-gzip',
  'corrupt-tar',
  /** An entry would land outside the archive's folder: absolute, `..`, through or to a link reaching out. */
  'unsafe-path',
  /** A device file, FIFO or a tar entry type we do not extract. */
  'unsupported-entry',
  'too-many-entries',
  /** The files add up to more bytes than allowed once extracted. */
  'too-many-bytes',
  /** The archive (or the downloaded file) itself is larger than allowed. */
  'archive-too-large',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface ArchiveLimits {
  /** Most bytes the archive itself (compressed) may have. */
  maxArchiveBytes: number;
  /** Most entries (files, folders, links). */
  maxEntries: number;
  /** Most bytes the regular files may add up to once extracted. */
  maxExtractedBytes: number;
}

export interface ArchiveProblem {
  reason: RefusalReason;
  message: string;
}

/** The fields of a tar header the rules read (tar-stream's Header has them). */
export interface EntryHeader {
  name: string;
  type?: string | null;
  size?: number;
  linkname?: string | null;
}

/**
 * The bytes a tar stream of an acceptable archive can decompress to: its files, a header and
 * padding per entry, and room for long-name and pax headers. Beyond that the gzip stream is
 * a bomb (endless zero blocks after the end, say), whatever its headers claim.
 */
export const maxTarBytes = (limits: ArchiveLimits): number => limits.maxExtractedBytes + (limits.maxEntries + 2) * 2048 + 2 ** 20;

/** Checks an archive's entries in order; stateful (links, files and counts seen so far), no I/O. */
export class ArchiveEntryRules {
  private readonly symlinks = new Set<string>();
  private readonly files = new Set<string>();
  entries = 0;
  bytes = 0;

  constructor(private readonly limits: ArchiveLimits) {}

  /** The problem with the next entry, or null when it may be extracted. */
  check(header: EntryHeader): ArchiveProblem | null {
    const unsafe = (message: string): ArchiveProblem => ({ reason: 'unsafe-path', message });
    this.entries += 1;
    if (this.entries > this.limits.maxEntries)
      return { reason: 'too-many-entries', message: `more than ${this.limits.maxEntries} entries` };
    const type = header.type ?? 'unknown';
    const path = archiveEntryPath(header.name);
    if (!path.ok) return unsafe(path.problem);
    const { segments } = path;
    const key = segments.join('/');
    if (segments.length === 0) return type === 'directory' ? null : unsafe(`'${header.name}': a ${type} entry naming the archive's root`);
    const through = throughSymlinkProblem(segments, this.symlinks);
    if (through !== null) return unsafe(through);
    if (this.symlinks.has(key)) return unsafe(`'${key}': replaces the symlink of an earlier entry`);
    switch (type) {
      case 'file':
      case 'contiguous-file': {
        const size = header.size ?? 0;
        if (this.bytes + size > this.limits.maxExtractedBytes) {
          return {
            reason: 'too-many-bytes',
            message: `'${key}' (${size} bytes) takes the extracted size over ${this.limits.maxExtractedBytes} bytes`,
          };
        }
        this.bytes += size;
        this.files.add(key);
        return null;
      }
      case 'directory':
        return null;
      case 'symlink': {
        const problem = symlinkTargetProblem(segments, header.linkname ?? '', this.symlinks);
        if (problem !== null) return unsafe(problem);
        this.symlinks.add(key);
        return null;
      }
      case 'link': {
        const linked = archiveEntryPath(header.linkname ?? '');
        if (!linked.ok) return unsafe(`hard link '${key}' -> ${linked.problem}`);
        const problem = throughSymlinkProblem([...linked.segments, ''], this.symlinks);
        if (problem !== null) return unsafe(`hard link '${key}': ${problem}`);
        if (!this.files.has(linked.segments.join('/')))
          return unsafe(`hard link '${key}' -> '${header.linkname ?? ''}': not a file of an earlier entry`);
        this.files.add(key);
        return null;
      }
      case 'character-device':
      case 'block-device':
        return { reason: 'unsupported-entry', message: `'${key}': a device file` };
      case 'fifo':
        return { reason: 'unsupported-entry', message: `'${key}': a FIFO` };
      default:
        return { reason: 'unsupported-entry', message: `'${key}': an entry of type ${type}` };
    }
  }
}

/**
 * The last refusal of a source's content. `ref` is the origin's ref of the refused content
 * (commit, ETag or Last-Modified, `sha256:` digest), or null when it was refused before one
 * was known.
 */
export interface Refusal {
  ref: string | null;
  reason: RefusalReason;
  message: string;
  /** RFC 3339: when it was refused last. */
  at: string;
  /** Consecutive refusals of this source. */
  count: number;
  /** RFC 3339: until then the refused content is not fetched again. */
  retryAt: string;
}

export interface RefusalBackoff {
  initialMs: number;
  maxMs: number;
}

/** The wait after the `count`th consecutive refusal: initial, doubled each time, capped. */
export function refusalWaitMs(count: number, backoff: RefusalBackoff): number {
  const doublings = Math.min(Math.max(0, count - 1), 40);
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** doublings);
}

/** The record of a new refusal, following `previous` (the source's last one, if any). */
export function nextRefusal(
  previous: Refusal | undefined,
  problem: ArchiveProblem & { ref: string | null },
  now: Date,
  backoff: RefusalBackoff,
): Refusal {
  const count = (previous?.count ?? 0) + 1;
  return {
    ref: problem.ref,
    reason: problem.reason,
    message: problem.message,
    at: now.toISOString(),
    count,
    retryAt: new Date(now.getTime() + refusalWaitMs(count, backoff)).toISOString(),
  };
}

/**
 * How a poll treats a source whose content was refused last:
 * - `fetch` compares with the newest stored version as usual (no refusal, or its wait is over);
 * - `compare-refused`: the origin is asked cheaply whether it still has the refused content
 *   (git's commit, an HTTP validator, a folder's digest) and only other content is fetched;
 * - `skip`: nothing tells the refused content apart without downloading it again (an HTTP
 *   source without ETag or Last-Modified), so the poll does not fetch until the wait is over.
 */
export type RefusalGate = { action: 'fetch' } | { action: 'compare-refused'; ref: string } | { action: 'skip'; until: string };

export function refusalGate(refusal: Refusal | undefined, kind: 'git' | 'http' | 'local', now: Date): RefusalGate {
  if (!refusal || now.getTime() >= Date.parse(refusal.retryAt)) return { action: 'fetch' };
  if (refusal.ref === null || (kind === 'http' && refusal.ref.startsWith('sha256:'))) return { action: 'skip', until: refusal.retryAt };
  return { action: 'compare-refused', ref: refusal.ref };
}

/**
 * The data repository's decisions, pure so they are tested exhaustively: which
 * versions a source keeps, which archives nobody references any more, and how an archive
 * request's Range and If-None-Match headers are answered.
 */
import type { DataVersion } from './data-contract';

/** A manifest entry as stored: the contract's version plus whether every namespace was told. */
export interface StoredVersion extends DataVersion {
  /**
   * Set once the version was announced to every watched namespace's data-rollout workflow. A
   * poll that stored a version but crashed before announcing it announces it on its retry.
   */
  announced: boolean;
}

export interface SourceManifest {
  source: string;
  /** Oldest first. */
  versions: StoredVersion[];
}

/** The contract's fields only, as served by GET /v1/sources/{name}/versions. */
export const publicVersion = (v: DataVersion): DataVersion => ({
  id: v.id,
  sha256: v.sha256,
  size: v.size,
  createdAt: v.createdAt,
  origin: { kind: v.origin.kind, ref: v.origin.ref },
});

/**
 * What to prune: the newest `keep` versions stay, and so do the pinned ones (a namespace's
 * known good version, or the one it is rolling out: pods may still have to download them,
 * whatever arrived since). `pinned: 'unknown'` (the pins could not be read) prunes nothing.
 * The rest are dropped, oldest first.
 */
export type PinnedVersions = ReadonlySet<string> | 'unknown';

export function planPrune<V extends DataVersion>(
  versions: readonly V[],
  keep: number,
  pinned: PinnedVersions = new Set(),
): { kept: V[]; dropped: V[] } {
  if (pinned === 'unknown') return { kept: [...versions], dropped: [] };
  const cut = Math.max(0, versions.length - Math.max(1, keep));
  const kept = versions.filter((v, i) => i >= cut || pinned.has(v.id));
  return { kept, dropped: versions.filter((v, i) => i < cut && !pinned.has(v.id)) };
}

/** The archives of `dropped` that no manifest (the pruned one included, as it will be written) still names. */
export function unreferencedBlobs(dropped: readonly DataVersion[], manifests: readonly { versions: readonly DataVersion[] }[]): string[] {
  const referenced = new Set(manifests.flatMap((m) => m.versions.map((v) => v.sha256)));
  return [...new Set(dropped.map((v) => v.sha256))].filter((sha) => !referenced.has(sha));
}

/** An inclusive byte range of a body of known size. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The answer to a `Range` header for a body of `size` bytes (RFC 9110 §14): `full` to send it
 * all (no header, another unit, several ranges, or a header we cannot read: ignoring Range is
 * always allowed), `partial` for one satisfiable range, `unsatisfiable` for 416.
 */
export type RangeAnswer = { kind: 'full' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

export function answerRange(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    // A suffix: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - length), end: size - 1 } };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start)) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Number(last);
  if (last !== '' && end < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end: Math.min(end, size - 1) } };
}

/** The strong ETag of an archive: its SHA-256, quoted. */
export const archiveEtag = (sha256: string): string => `"${sha256}"`;

/** Whether an If-None-Match header matches `etag` (weak comparison, as RFC 9110 §13.1.2 asks). */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}

/** Whether an If-Range header lets a Range apply: only the current strong ETag does (dates are not used here). */
export const ifRangeAllows = (header: string | undefined, etag: string): boolean => header === undefined || header.trim() === etag;

/**
 * The data deployer's pure decisions: which archive entries may be extracted
 * and where, what a source's status annotation says, and why init mode is still waiting.
 *
 * Pure: no I/O.
 */
import type { DataRequest, DataStatus } from './data-contract';

// ---------------------------------------------------------------------------
// Archive entry paths
// ---------------------------------------------------------------------------

export type PathCheck = { ok: true; segments: string[] } | { ok: false; problem: string };

/**
 * The segments of an archive entry's name, relative to the extraction root, or why it may
 * not be extracted: absolute names, `..` anywhere, NUL bytes and empty names are refused.
 * `./` prefixes and repeated or trailing slashes are harmless and dropped; the root itself
 * (`./`) has no segments.
 */
export function archiveEntryPath(name: string): PathCheck {
  if (name.includes('\0')) return { ok: false, problem: `'${name.replace(/\0/g, '\\0')}': a NUL byte in the name` };
  if (name.startsWith('/')) return { ok: false, problem: `'${name}': an absolute path` };
  if (/^[A-Za-z]:[\\/]/.test(name)) return { ok: false, problem: `'${name}': an absolute (drive) path` };
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { ok: false, problem: `'${name}': a '..' segment (path traversal)` };
  return { ok: true, segments };
}

/**
 * Why writing `segments` would go through a symlink the archive itself created (a later
 * entry `link/file` where `link -> elsewhere`), or null. Such writes are refused outright
 * rather than resolved, so no entry ever lands outside its folder through a link.
 */
export function throughSymlinkProblem(segments: readonly string[], symlinks: ReadonlySet<string>): string | null {
  for (let i = 1; i < segments.length; i++) {
    const prefix = segments.slice(0, i).join('/');
    if (symlinks.has(prefix)) return `'${segments.join('/')}': goes through the symlink '${prefix}'`;
  }
  return null;
}

/**
 * Why a symlink at `segments` pointing at `target` would reach outside the extraction root
 * (absolute target, or `..` climbing above it), or would resolve through another of the
 * archive's symlinks (whose own `..` could climb differently on disk than on paper); null
 * when it stays inside.
 */
export function symlinkTargetProblem(segments: readonly string[], target: string, symlinks: ReadonlySet<string>): string | null {
  const where = `'${segments.join('/')}' -> '${target}'`;
  if (target === '') return `${where}: an empty symlink target`;
  if (target.includes('\0')) return `${where}: a NUL byte in the symlink target`;
  if (target.startsWith('/') || /^[A-Za-z]:[\\/]/.test(target)) return `${where}: an absolute symlink target`;
  const resolved = segments.slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length === 0) return `${where}: the target escapes the archive's folder`;
      resolved.pop();
      continue;
    }
    resolved.push(part);
    if (symlinks.has(resolved.join('/'))) return `${where}: the target goes through the symlink '${resolved.join('/')}'`;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Status and init readiness
// ---------------------------------------------------------------------------

/** A version that is active in the drop folder. */
export interface ActiveVersion {
  version: string;
  sha256: string;
  /** RFC 3339: when the link was switched to it. */
  activatedAt: string;
}

/** Why the last activation of a source failed. */
export type FailureKind = 'request' | 'download' | 'hash-mismatch' | 'archive' | 'filesystem';

export interface ActivationFailure {
  /** The requested version ('' when the request named none readable). */
  version: string;
  kind: FailureKind;
  message: string;
  /** RFC 3339. */
  at: string;
}

/** What the deployer knows about one consumed source. */
export interface SourceState {
  /** The current request annotation: parsed, or why it could not be. */
  request?: { ok: true; value: DataRequest } | { ok: false; problem: string };
  active?: ActiveVersion;
  /** The last failure for the current request; cleared when it is activated or superseded. */
  failure?: ActivationFailure;
}

/** The status annotation of a source: what is active, and the last failure if any. */
export function dataStatusOf(state: Pick<SourceState, 'active' | 'failure'>): DataStatus {
  const status: DataStatus = {};
  if (state.active) {
    status.version = state.active.version;
    status.sha256 = state.active.sha256;
    status.activatedAt = state.active.activatedAt;
  }
  if (state.failure) {
    status.error = {
      version: state.failure.version,
      message: `${FAILURE_PREFIX[state.failure.kind]}${state.failure.message}`,
      at: state.failure.at,
    };
  }
  return status;
}

const FAILURE_PREFIX: Record<FailureKind, string> = {
  request: 'invalid request: ',
  download: 'download failed: ',
  'hash-mismatch': 'hash mismatch: ',
  archive: 'archive refused: ',
  filesystem: 'cannot write the drop folder: ',
};

/** Whether the source's requested version is the one active. */
export function isSatisfied(state: SourceState | undefined): boolean {
  const request = state?.request;
  return request?.ok === true && state?.active?.version === request.value.version && state.active.sha256 === request.value.sha256;
}

/** Why a source is not (yet) active at its requested version, or null when it is. */
export function missingReason(state: SourceState | undefined): string | null {
  if (isSatisfied(state)) return null;
  const request = state?.request;
  if (request === undefined) return 'no request yet';
  if (!request.ok) return `invalid request: ${request.problem}`;
  const failure = state?.failure;
  if (failure !== undefined && failure.version === request.value.version) return `${FAILURE_PREFIX[failure.kind]}${failure.message}`;
  return `version ${request.value.version} not active yet (activating)`;
}

/** Init mode's verdict over every consumed source: done, or each missing source and why. */
export function initReadiness(
  sources: readonly string[],
  states: ReadonlyMap<string, SourceState>,
): { done: true } | { done: false; missing: { source: string; reason: string }[] } {
  const missing = sources.flatMap((source) => {
    const reason = missingReason(states.get(source));
    return reason === null ? [] : [{ source, reason }];
  });
  return missing.length === 0 ? { done: true } : { done: false, missing };
}

/** The init-mode timeout message: one line per missing source. */
export function formatMissing(missing: readonly { source: string; reason: string }[]): string {
  return missing.map((m) => `${m.source}: ${m.reason}`).join('; ');
}

// ---------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------

/**
 * Delay before retrying a failed activation of the same request. An archive refused by
 * the extraction rules is refused again for the same bytes, so it is not retried (null);
 * download failures and hash mismatches may be transient (a proxy, a restarting
 * repository) and back off from 2 s to 5 minutes.
 */
export function retryDelayMs(kind: FailureKind, attempt: number): number | null {
  if (kind === 'archive' || kind === 'request') return null;
  return Math.min(2000 * 2 ** Math.max(0, attempt - 1), 5 * 60_000);
}

/**
 * The data repository: its sources, their manifests and the archive store. poll() finds a
 * source's current content, stores a new version when it changed and prunes the old ones.
 *
 * One process owns a store. Its polls and manifest updates run one at a time (a lock in the
 * process), so removing an archive no manifest names cannot race another source storing the
 * same bytes. Readers need no lock: manifests are replaced atomically, blobs appear complete,
 * and a blob deleted while being served stays readable through the open file.
 *
 * Every archive is checked as it is stored (archive-check.ts). One that breaks a rule is
 * refused: not stored, recorded (refusal(), the log, the refusal metric, the poll's result)
 * and not fetched again until its back-off is over (refusalGate). Archives are served only
 * through openArchive(), which verifies their SHA-256 (blob-verify.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { nextRefusal, refusalGate, type ArchiveLimits, type Refusal, type RefusalBackoff } from '../domain/data/data-archive-rules';
import { versionId } from '../domain/data/data-contract';
import {
  planPrune,
  unreferencedBlobs,
  type ByteRange,
  type PinnedVersions,
  type SourceManifest,
  type StoredVersion,
} from '../domain/data/data-repository';
import type { Logger } from '../platform/logger';
import { ArchiveRefusedError, inspected } from './archive-check';
import type { BlobStore } from './blob-store';
import { VerifiedBlobReader, type BlobState } from './blob-verify';
import { fetchSource, type FetchOutcome } from './fetch';
import type { ManifestStore } from './manifests';
import { createRepositoryMetrics, type RepositoryMetrics } from './metrics';
import type { DataSource } from './sources';

export interface DataRepositoryOptions {
  root: string;
  sources: readonly DataSource[];
  blobs: BlobStore;
  manifests: ManifestStore;
  /** Versions kept per source unless the source sets `keep`. */
  keepVersions: number;
  fetchTimeoutMs?: number;
  /** What an archive may hold (default DEFAULT_ARCHIVE_LIMITS). */
  limits?: ArchiveLimits;
  /** How long a refused source waits before its refused content is fetched again (default DEFAULT_REFUSAL_BACKOFF). */
  refusalBackoff?: RefusalBackoff;
  metrics?: RepositoryMetrics;
  logger: Logger;
  now?: () => Date;
}

export interface PollResult {
  source: string;
  /** The version this poll stored, or null when the content was already the newest version. */
  created: StoredVersion | null;
  /** Versions pruned by this poll, and the archives deleted with them. */
  pruned: string[];
  deletedBlobs: string[];
  /** Stored versions not yet announced to every namespace, oldest first. */
  unannounced: StoredVersion[];
  /** The source's content was refused, by this poll or by an earlier one whose back-off is not over. */
  refused: Refusal | null;
}

const DEFAULT_FETCH_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxArchiveBytes: 10 * 2 ** 30,
  maxEntries: 100_000,
  maxExtractedBytes: 10 * 2 ** 30,
};
export const DEFAULT_REFUSAL_BACKOFF: RefusalBackoff = { initialMs: 60_000, maxMs: 3_600_000 };

export class DataRepository {
  private readonly byName: ReadonlyMap<string, DataSource>;
  private queue: Promise<unknown> = Promise.resolve();
  /** Per source, its last refusal; forgotten on restart (the next poll then fetches once again). */
  private readonly refusals = new Map<string, Refusal>();
  private readonly metrics: RepositoryMetrics;
  private readonly reader: VerifiedBlobReader;
  /** sha256 → the source it was last served for, to label the integrity metric. */
  private readonly servedFor = new Map<string, string>();

  constructor(private readonly options: DataRepositoryOptions) {
    this.byName = new Map(options.sources.map((s) => [s.name, s]));
    this.metrics = options.metrics ?? createRepositoryMetrics();
    this.reader = new VerifiedBlobReader(options.blobs, (sha256, actual) => {
      const source = this.servedFor.get(sha256) ?? 'unknown';
      this.metrics.integrityFailures.inc({ source });
      options.logger.error(
        { source, sha256, actual },
        'stored archive does not match its SHA-256: quarantined, not served; the next poll stores it again if it is the newest version and its origin still has it',
      );
    });
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  /** The source's last refusal, while it stands (until content is stored or found unchanged after it). */
  refusal(name: string): Refusal | undefined {
    return this.refusals.get(name);
  }

  /** Whether a version's archive can be served: present (size, identity), quarantined or missing (pruned). */
  archiveState(version: StoredVersion): Promise<BlobState> {
    return this.reader.state(version.sha256);
  }

  /** The archive's bytes (or a range), verified against its SHA-256 (blob-verify.ts); BlobIntegrityError when they do not match. */
  openArchive(source: string, version: StoredVersion, identity: string, range?: ByteRange): Promise<Readable> {
    this.servedFor.set(version.sha256, source);
    return this.reader.open(version.sha256, identity, range);
  }

  get blobs(): BlobStore {
    return this.options.blobs;
  }

  get sources(): readonly DataSource[] {
    return this.options.sources;
  }

  source(name: string): DataSource | undefined {
    return this.byName.get(name);
  }

  manifest(name: string): Promise<SourceManifest> {
    return this.options.manifests.read(name);
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * `pinned` tells, when a new version is stored, which versions must survive pruning (see
   * planPrune; 'unknown' prunes nothing). It is asked only then, as it may be slow.
   */
  poll(name: string, signal?: AbortSignal, pinned: () => Promise<PinnedVersions> = async () => new Set()): Promise<PollResult> {
    const source = this.byName.get(name);
    if (!source) return Promise.reject(new Error(`no data source named '${name}' is configured`));
    return this.exclusive(() => this.pollLocked(source, signal, pinned));
  }

  private async pollLocked(
    source: DataSource,
    signal: AbortSignal | undefined,
    pinned: () => Promise<PinnedVersions>,
  ): Promise<PollResult> {
    const { manifests, blobs, logger } = this.options;
    const manifest = await manifests.read(source.name);
    const latest = manifest.versions.at(-1);
    const refusal = this.refusals.get(source.name);
    const unchanged = (refused: Refusal | null): PollResult => ({
      source: source.name,
      created: null,
      pruned: [],
      deletedBlobs: [],
      unannounced: manifest.versions.filter((v) => !v.announced),
      refused,
    });
    const gate = refusalGate(refusal, source.kind, this.now());
    if (gate.action === 'skip') {
      logger.debug(
        { source: source.name, until: gate.until },
        'refused content, no validator to compare: not fetched until the back-off is over',
      );
      return unchanged(refusal ?? null);
    }
    // The newest version's archive was quarantined: fetch it whatever the ref says, so the put stores it again.
    const latestMissing = latest !== undefined && (await blobs.stat(latest.sha256)) === null;
    const cacheDir = join(this.options.root, 'cache', source.name);
    await mkdir(cacheDir, { recursive: true });
    const limits = this.options.limits ?? DEFAULT_ARCHIVE_LIMITS;
    let outcome: FetchOutcome;
    try {
      outcome = await fetchSource(source, {
        cacheDir,
        latestRef: gate.action === 'compare-refused' ? gate.ref : latestMissing ? undefined : latest?.origin.ref,
        signal,
        timeoutMs: this.options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
        maxDownloadBytes: limits.maxArchiveBytes,
      });
    } catch (err) {
      if (err instanceof ArchiveRefusedError) return { ...unchanged(null), refused: this.refuse(source, err, err.ref) };
      throw err;
    }
    if (!outcome.changed) {
      // Still the refused content; or, once the wait is over, the newest stored version again.
      if (gate.action === 'compare-refused') return unchanged(refusal ?? null);
      this.refusals.delete(source.name);
      return unchanged(null);
    }

    let blob;
    try {
      blob = await blobs.put(inspected(outcome.archive(), limits));
    } catch (err) {
      if (err instanceof ArchiveRefusedError) return { ...unchanged(null), refused: this.refuse(source, err, outcome.ref) };
      throw err;
    }
    this.refusals.delete(source.name);
    const identity = (await blobs.stat(blob.sha256))?.identity;
    if (identity !== undefined) this.reader.trust(blob.sha256, identity);
    if (latest?.sha256 === blob.sha256) {
      logger.debug(
        { source: source.name, ref: outcome.ref, sha256: blob.sha256 },
        latestMissing ? 'quarantined archive stored again' : 'new origin ref, same content: no new version',
      );
      return unchanged(null);
    }
    const createdAt = this.now();
    const created: StoredVersion = {
      id: versionId(createdAt, blob.sha256),
      sha256: blob.sha256,
      size: blob.size,
      createdAt: createdAt.toISOString(),
      origin: { kind: source.kind, ref: outcome.ref },
      announced: false,
    };
    const { kept, dropped } = planPrune([...manifest.versions, created], source.keep ?? this.options.keepVersions, await pinned());
    const next = { source: source.name, versions: kept };
    await manifests.write(next);

    const others = await Promise.all(this.options.sources.filter((s) => s.name !== source.name).map((s) => manifests.read(s.name)));
    const deletedBlobs = unreferencedBlobs(dropped, [next, ...others]);
    for (const sha256 of deletedBlobs) await blobs.delete(sha256);
    logger.info(
      {
        source: source.name,
        version: created.id,
        sha256: created.sha256,
        size: created.size,
        origin: created.origin,
        pruned: dropped.map((v) => v.id),
      },
      'new data version stored',
    );
    return {
      source: source.name,
      created,
      pruned: dropped.map((v) => v.id),
      deletedBlobs,
      unannounced: kept.filter((v) => !v.announced),
      refused: null,
    };
  }

  /** Records a refusal of the source's content: not stored, counted, logged, and backed off. */
  private refuse(source: DataSource, err: ArchiveRefusedError, ref: string | null): Refusal {
    const refusal = nextRefusal(
      this.refusals.get(source.name),
      { reason: err.reason, message: err.message, ref },
      this.now(),
      this.options.refusalBackoff ?? DEFAULT_REFUSAL_BACKOFF,
    );
    this.refusals.set(source.name, refusal);
    this.metrics.refused.inc({ source: source.name, reason: refusal.reason });
    this.options.logger.warn(
      { source: source.name, reason: refusal.reason, ref, problem: refusal.message, count: refusal.count, retryAt: refusal.retryAt },
      'data version refused: not stored',
    );
    return refusal;
  }

  /**
   * Deletes the archives no configured source's manifest names: what a poll stored before
   * crashing ahead of its manifest write. Call at start, before polling.
   */
  removeOrphans(): Promise<string[]> {
    return this.exclusive(async () => {
      const manifests = await Promise.all(this.options.sources.map((s) => this.options.manifests.read(s.name)));
      const referenced = new Set(manifests.flatMap((m) => m.versions.map((v) => v.sha256)));
      const orphans = (await this.options.blobs.list()).filter((sha) => !referenced.has(sha));
      for (const sha256 of orphans) await this.options.blobs.delete(sha256);
      return orphans;
    });
  }

  /** Records that these versions were announced to every namespace. */
  markAnnounced(name: string, ids: readonly string[]): Promise<void> {
    return this.exclusive(async () => {
      const manifest = await this.options.manifests.read(name);
      const wanted = new Set(ids);
      if (!manifest.versions.some((v) => wanted.has(v.id) && !v.announced)) return;
      await this.options.manifests.write({
        ...manifest,
        versions: manifest.versions.map((v) => (wanted.has(v.id) ? { ...v, announced: true } : v)),
      });
    });
  }
}

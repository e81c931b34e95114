/**
 * The data repository: its sources, their manifests and the archive store. poll() finds a
 * source's current content, stores a new version when it changed and prunes the old ones.
 *
 * One process owns a store. Its polls and manifest updates run one at a time (a lock in the
 * process), so removing an archive no manifest names cannot race another source storing the
 * same bytes. Readers need no lock: manifests are replaced atomically, blobs appear complete,
 * and a blob deleted while being served stays readable through the open file.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { versionId } from '../domain/data-contract';
import { planPrune, unreferencedBlobs, type PinnedVersions, type SourceManifest, type StoredVersion } from '../domain/data-repository';
import type { Logger } from '../platform/logger';
import type { BlobStore } from './blob-store';
import { fetchSource, type FetchOutcome } from './fetch';
import type { ManifestStore } from './manifests';
import type { DataSource } from './sources';

export interface DataRepositoryOptions {
  root: string;
  sources: readonly DataSource[];
  blobs: BlobStore;
  manifests: ManifestStore;
  /** Versions kept per source unless the source sets `keep`. */
  keepVersions: number;
  fetchTimeoutMs?: number;
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
}

const DEFAULT_FETCH_TIMEOUT_MS = 10 * 60_000;

export class DataRepository {
  private readonly byName: ReadonlyMap<string, DataSource>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: DataRepositoryOptions) {
    this.byName = new Map(options.sources.map((s) => [s.name, s]));
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

  private async pollLocked(source: DataSource, signal: AbortSignal | undefined, pinned: () => Promise<PinnedVersions>): Promise<PollResult> {
    const { manifests, blobs, logger } = this.options;
    const manifest = await manifests.read(source.name);
    const latest = manifest.versions.at(-1);
    const cacheDir = join(this.options.root, 'cache', source.name);
    await mkdir(cacheDir, { recursive: true });
    const outcome: FetchOutcome = await fetchSource(source, {
      cacheDir,
      latestRef: latest?.origin.ref,
      signal,
      timeoutMs: this.options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    });
    const unchanged = (): PollResult => ({ source: source.name, created: null, pruned: [], deletedBlobs: [], unannounced: manifest.versions.filter((v) => !v.announced) });
    if (!outcome.changed) return unchanged();

    const blob = await blobs.put(outcome.archive());
    if (latest?.sha256 === blob.sha256) {
      logger.debug({ source: source.name, ref: outcome.ref, sha256: blob.sha256 }, 'new origin ref, same content: no new version');
      return unchanged();
    }
    const createdAt = (this.options.now ?? (() => new Date()))();
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
      { source: source.name, version: created.id, sha256: created.sha256, size: created.size, origin: created.origin, pruned: dropped.map((v) => v.id) },
      'new data version stored',
    );
    return { source: source.name, created, pruned: dropped.map((v) => v.id), deletedBlobs, unannounced: kept.filter((v) => !v.announced) };
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
      await this.options.manifests.write({ ...manifest, versions: manifest.versions.map((v) => (wanted.has(v.id) ? { ...v, announced: true } : v)) });
    });
  }
}

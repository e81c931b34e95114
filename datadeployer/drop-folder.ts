/**
 * The layout of a pod's drop folder, and the only code that changes it:
 *
 *   <location>/<source>                               symlink -> .autocrane/versions/<source>/<version>
 *   <location>/.autocrane/versions/<source>/<version>/ the extracted archive, complete or absent
 *   <location>/.autocrane/versions/<source>/<version>.json  {version, sha256}
 *   <location>/.autocrane/tmp/                        downloads, extractions and links in progress
 *
 * Every step that an application could observe is a rename(): an extracted folder appears
 * whole, and `<location>/<source>` changes from one complete version to another in one
 * step. The link's target is relative, so the application's container may mount the
 * volume at another path than the deployer's. The disk is the truth: after a crash, what
 * is active is what the link names, and tmp/ holds only leftovers (cleared at start).
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHA256_HEX, VERSION_ID } from '../domain/data/data-contract';
import type { ActiveVersion } from '../domain/data/data-deployer';
import { describeError } from '../platform/errors';
import { ActivationError } from './errors';

const INTERNAL = '.autocrane';

const errorCode = (err: unknown) => (err as { code?: unknown } | null)?.code;

export class DropFolder {
  readonly tmp: string;
  constructor(readonly location: string) {
    this.tmp = join(location, INTERNAL, 'tmp');
  }

  versionsDir = (source: string) => join(this.location, INTERNAL, 'versions', source);
  versionDir = (source: string, version: string) => join(this.versionsDir(source), version);
  private metaFile = (source: string, version: string) => join(this.versionsDir(source), `${version}.json`);
  linkPath = (source: string) => join(this.location, source);
  private linkTarget = (source: string, version: string) => `${INTERNAL}/versions/${source}/${version}`;

  /** A fresh name in tmp/ for `what`. */
  tmpPath(what: string): string {
    return join(this.tmp, `${what}-${randomBytes(4).toString('hex')}`);
  }

  /** Creates the internal folders and removes whatever a previous run left in tmp/ (a killed download starts over). */
  async prepare(): Promise<void> {
    try {
      await rm(this.tmp, { recursive: true, force: true });
      await mkdir(this.tmp, { recursive: true });
    } catch (err) {
      throw new ActivationError('filesystem', `preparing ${this.tmp}: ${describeError(err)}`, { cause: err });
    }
  }

  /** What `<location>/<source>` points at, or undefined when there is no link yet. */
  async readActive(source: string): Promise<ActiveVersion | undefined> {
    const link = this.linkPath(source);
    let target: string;
    try {
      target = await readlink(link);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      if (errorCode(err) === 'EINVAL')
        throw new ActivationError('filesystem', `${link} is not a symlink; the data deployer manages that name (remove it)`);
      throw new ActivationError('filesystem', `reading ${link}: ${describeError(err)}`, { cause: err });
    }
    const version = target.slice(this.linkTarget(source, '').length);
    if (!target.startsWith(this.linkTarget(source, '')) || !VERSION_ID.test(version)) {
      throw new ActivationError('filesystem', `${link} points at '${target}', not at a version the data deployer extracted`);
    }
    const sha256 = await this.readSha256(source, version);
    if (sha256 === undefined)
      throw new ActivationError('filesystem', `${link} points at ${version}, whose ${version}.json is missing or unreadable`);
    // The link is created just before it is renamed into place, so its own mtime is the switch time.
    const activatedAt = (await lstat(link)).mtime.toISOString();
    return { version, sha256, activatedAt };
  }

  private async readSha256(source: string, version: string): Promise<string | undefined> {
    try {
      const meta = JSON.parse(await readFile(this.metaFile(source, version), 'utf8')) as { sha256?: unknown };
      return typeof meta.sha256 === 'string' && SHA256_HEX.test(meta.sha256) ? meta.sha256 : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `version` with that hash is extracted, whole (its folder only ever appears by rename). */
  async hasVersion(source: string, version: string, sha256: string): Promise<boolean> {
    if ((await this.readSha256(source, version)) !== sha256) return false;
    return lstat(this.versionDir(source, version)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  /**
   * Fills a temporary folder with `fill`, then renames it to the version's folder. The
   * metadata is written first, so a folder never exists without it; a crash in between
   * leaves a metadata file that hasVersion ignores and the next install replaces.
   */
  async install(source: string, version: string, sha256: string, fill: (dir: string) => Promise<unknown>): Promise<void> {
    const staging = this.tmpPath(`extract-${source}-${version}`);
    try {
      await mkdir(staging);
      await fill(staging);
      await mkdir(this.versionsDir(source), { recursive: true });
      const metaTmp = this.tmpPath(`meta-${source}`);
      await writeFile(metaTmp, `${JSON.stringify({ version, sha256 })}\n`);
      await rename(metaTmp, this.metaFile(source, version));
      // Left by an install whose metadata said another hash (never the active one: that one matched).
      await rm(this.versionDir(source, version), { recursive: true, force: true });
      await rename(staging, this.versionDir(source, version));
    } catch (err) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      if (err instanceof ActivationError || (err instanceof Error && err.name === 'AbortError')) throw err;
      throw new ActivationError('filesystem', `installing ${source} ${version}: ${describeError(err)}`, { cause: err });
    }
  }

  /** Points `<location>/<source>` at `version` in one rename(); returns what it pointed at before. */
  async switchTo(source: string, version: string): Promise<string | undefined> {
    const previous = await this.readActive(source).then(
      (a) => a?.version,
      () => undefined,
    );
    const link = this.linkPath(source);
    const staged = this.tmpPath(`link-${source}`);
    try {
      await symlink(this.linkTarget(source, version), staged);
      await rename(staged, link);
    } catch (err) {
      await rm(staged, { force: true }).catch(() => undefined);
      const hint =
        errorCode(err) === 'EISDIR' || errorCode(err) === 'ENOTEMPTY'
          ? ' (it is a folder, not a link the data deployer made: remove it)'
          : '';
      throw new ActivationError('filesystem', `switching ${link} to ${version}: ${describeError(err)}${hint}`, { cause: err });
    }
    return previous;
  }

  /** Removes every version of `source` but `keep` (folders and metadata). */
  async prune(source: string, keep: readonly string[]): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.versionsDir(source));
    } catch {
      return [];
    }
    const removed = new Set<string>();
    for (const name of names) {
      const version = name.endsWith('.json') ? name.slice(0, -'.json'.length) : name;
      if (keep.includes(version)) continue;
      await rm(join(this.versionsDir(source), name), { recursive: true, force: true });
      removed.add(version);
    }
    return [...removed];
  }
}

/**
 * Per-source manifests, `<root>/manifests/<source>.json`, each `{source, versions}` (oldest
 * first). A manifest is replaced atomically: written to a temporary file in the same folder,
 * flushed, renamed over the old one and the folder flushed, so a reader (or a restart after a
 * crash) sees the old manifest or the new one, never a mix.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sourceNameError } from '../domain/data/data-contract';
import type { SourceManifest } from '../domain/data/data-repository';
import { syncFolder } from './blob-store';

export class ManifestStore {
  readonly folder: string;

  constructor(root: string) {
    this.folder = join(root, 'manifests');
  }

  /** Creates the folder and removes temporary files an interrupted write left. */
  async prepare(): Promise<void> {
    await mkdir(this.folder, { recursive: true });
    for (const name of await readdir(this.folder)) if (name.endsWith('.tmp')) await rm(join(this.folder, name), { force: true });
  }

  private path(source: string): string {
    const problem = sourceNameError(source);
    if (problem) throw new Error(problem);
    return join(this.folder, `${source}.json`);
  }

  /** The source's manifest; an empty one when it has none yet. */
  async read(source: string): Promise<SourceManifest> {
    let text: string;
    try {
      text = await readFile(this.path(source), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { source, versions: [] };
      throw err;
    }
    try {
      const manifest = JSON.parse(text) as SourceManifest;
      if (manifest.source !== source || !Array.isArray(manifest.versions))
        throw new Error(`expected {"source": "${source}", "versions": [...]}`);
      return manifest;
    } catch (err) {
      throw new Error(`the manifest ${this.path(source)} is unreadable: ${(err as Error).message}`);
    }
  }

  async write(manifest: SourceManifest): Promise<void> {
    const target = this.path(manifest.source);
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncFolder(this.folder);
  }
}

/**
 * Finds a source's current content and packs it, one function per kind. Each is told the ref
 * of the newest stored version and answers `unchanged` when its origin still has it, without
 * packing anything.
 *
 * - git: a shallow fetch (depth 1) of the ref into a bare cache repository through the git
 *   CLI; the ref is the commit; the archive is `git archive` of its tree (no .git), gzipped.
 * - http: a conditional GET (If-None-Match with the stored ETag, else If-Modified-Since with
 *   the stored Last-Modified) streamed to a cache file; the ref is the ETag, else the
 *   Last-Modified, else `sha256:<hex>` of the body. A URL whose path ends in .tar.gz or .tgz
 *   is taken as the archive itself (checked to be a readable gzip tar, then stored byte for
 *   byte); any other file is packed alone into an archive under its URL's last path segment.
 * - local: a folder walked and digested; the ref is `sha256:<digest>`.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { describeError } from '../platform/errors';
import { ArchiveRefusedError } from './archive-check';
import { packEntries, walkFolder } from './pack';
import type { DataSource, GitSource, HttpSource, LocalSource } from './sources';

export type FetchOutcome = { changed: false; ref: string } | { changed: true; ref: string; archive: () => Readable };

export interface FetchContext {
  /** A folder of this source's own for caches (created by the caller). */
  cacheDir: string;
  /** The origin ref of the newest stored version, if any. */
  latestRef: string | undefined;
  signal?: AbortSignal;
  /** Git commands and HTTP requests fail after this long. */
  timeoutMs: number;
  /** An HTTP body larger than this is refused (ArchiveRefusedError 'archive-too-large') as it arrives. */
  maxDownloadBytes: number;
}

/** The source cannot be fetched for a reason a retry will not change (a bad URL answers 404, a non-archive .tar.gz). */
export class SourceFetchError extends Error {
  override readonly name = 'SourceFetchError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function fetchSource(source: DataSource, context: FetchContext): Promise<FetchOutcome> {
  switch (source.kind) {
    case 'git':
      return fetchGit(source, context);
    case 'http':
      return fetchHttp(source, context);
    case 'local':
      return fetchLocal(source, context);
  }
}

const execFileAsync = promisify(execFile);
// No credential prompt can hang a poll; no user or system config changes what runs.
const GIT_ENV = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' };

async function git(args: string[], cwd: string, context: FetchContext): Promise<string> {
  try {
    const { stdout } = await execFileAsync('git', args, {
      cwd,
      env: GIT_ENV,
      timeout: context.timeoutMs,
      signal: context.signal,
      maxBuffer: 1 << 20,
    });
    return stdout.trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new SourceFetchError(`git ${args[0]} failed: ${stderr || describeError(err)}`, true, { cause: err });
  }
}

async function fetchGit(source: GitSource, context: FetchContext): Promise<FetchOutcome> {
  const repo = join(context.cacheDir, 'git');
  if (!existsSync(join(repo, 'HEAD'))) {
    await mkdir(repo, { recursive: true });
    await git(['init', '--bare', '--quiet'], repo, context);
  }
  // `--` keeps a URL starting with '-' from being read as an option.
  await git(['fetch', '--depth=1', '--no-tags', '--quiet', '--', source.url, source.ref ?? 'HEAD'], repo, context);
  const commit = await git(['rev-parse', '--verify', 'FETCH_HEAD^{commit}'], repo, context);
  if (commit === context.latestRef) return { changed: false, ref: commit };
  return { changed: true, ref: commit, archive: () => gitArchive(repo, commit) };
}

/** `git archive` of the commit's tree, gzipped; a failing git destroys the stream with its stderr. */
function gitArchive(repo: string, commit: string): Readable {
  const child = spawn('git', ['archive', '--format=tar', commit], { cwd: repo, env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-2000)));
  const gzip = createGzip();
  child.stdout.pipe(gzip);
  // The archive is complete only once git has exited 0, whatever it wrote before.
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new SourceFetchError(`git archive ${commit} exited with ${code}: ${stderr.trim()}`, true)),
    );
  });
  gzip.pipe(out, { end: false });
  // A consumer that stops reading (a refused archive) must not leave git blocked on a full pipe.
  out.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  Promise.all([exited, new Promise<void>((resolve, reject) => gzip.once('end', resolve).once('error', reject))]).then(
    () => out.end(),
    (err: unknown) => {
      child.kill();
      out.destroy(err as Error);
    },
  );
  return out;
}

const isArchiveUrl = (url: URL) => /\.(tar\.gz|tgz)$/i.test(url.pathname);

async function fetchHttp(source: HttpSource, context: FetchContext): Promise<FetchOutcome> {
  const url = new URL(source.url);
  const headers: Record<string, string> = {};
  const latest = context.latestRef;
  if (latest !== undefined && /^(W\/)?"/.test(latest)) headers['if-none-match'] = latest;
  else if (latest !== undefined && !latest.startsWith('sha256:') && !Number.isNaN(Date.parse(latest)))
    headers['if-modified-since'] = latest;

  const signal = AbortSignal.any([AbortSignal.timeout(context.timeoutMs), ...(context.signal ? [context.signal] : [])]);
  let response: Response;
  try {
    response = await fetch(url, { headers, signal, redirect: 'follow' });
  } catch (err) {
    throw new SourceFetchError(`GET ${source.url}: ${describeError(err)}`, true, { cause: err });
  }
  if (response.status === 304) return { changed: false, ref: latest ?? '' };
  if (!response.ok || response.body === null) {
    await response.body?.cancel().catch(() => undefined);
    // 4xx other than throttling will answer the same next time; the schedule polls again anyway.
    const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
    throw new SourceFetchError(`GET ${source.url} answered HTTP ${response.status}`, retryable);
  }
  const download = join(context.cacheDir, 'download');
  const partial = `${download}.partial`;
  const validator = response.headers.get('etag') ?? response.headers.get('last-modified');
  const tooLarge = () =>
    new ArchiveRefusedError('archive-too-large', `GET ${source.url}: the body exceeds ${context.maxDownloadBytes} bytes`, validator);
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > context.maxDownloadBytes) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const hash = createHash('sha256');
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > context.maxDownloadBytes) return callback(tooLarge());
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter, createWriteStream(partial), { signal });
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof ArchiveRefusedError) throw err;
    throw new SourceFetchError(`GET ${source.url}: the body broke off: ${describeError(err)}`, true, { cause: err });
  }
  await rename(partial, download);
  const ref = validator ?? `sha256:${hash.digest('hex')}`;
  if (ref === latest) return { changed: false, ref };

  if (isArchiveUrl(url)) {
    // Checked as it is stored (archive-check.ts), like every kind's archive.
    return { changed: true, ref, archive: () => createReadStream(download) };
  }
  const name = decodeURIComponent(url.pathname.split('/').pop() ?? '') || 'data';
  if (name.includes('/') || name === '.' || name === '..')
    throw new SourceFetchError(`GET ${source.url}: cannot name a file '${name}'`, false);
  const { size } = await stat(download);
  return { changed: true, ref, archive: () => packEntries([{ name, type: 'file', path: download, size }]) };
}

async function fetchLocal(source: LocalSource, context: FetchContext): Promise<FetchOutcome> {
  const info = await stat(source.path).catch(() => null);
  if (!info?.isDirectory()) throw new SourceFetchError(`${source.path} is not a folder`, true);
  const { entries, digest } = await walkFolder(source.path);
  const ref = `sha256:${digest}`;
  if (ref === context.latestRef) return { changed: false, ref };
  return { changed: true, ref, archive: () => packEntries(entries) };
}

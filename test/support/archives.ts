import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

export interface ArchiveEntry {
  header: Partial<Header> & Pick<Header, 'name'>;
  content?: string | Buffer;
}

/** A gzip-compressed tar of `entries`, written exactly as given (malicious ones included). */
export async function makeArchive(entries: readonly ArchiveEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    tar.on('end', resolve);
    tar.on('error', reject);
  });
  for (const { header, content } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      const isFile = header.type === undefined || header.type === 'file' || header.type === 'contiguous-file';
      if (isFile) tar.entry(header, content ?? '', done);
      else tar.entry(header, done);
    });
  }
  tar.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

/** Files (name → content) as an archive. */
export const filesArchive = (files: Record<string, string>) =>
  makeArchive(Object.entries(files).map(([name, content]) => ({ header: { name }, content })));

export const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export async function writeArchive(path: string, entries: readonly ArchiveEntry[]): Promise<string> {
  await writeFile(path, await makeArchive(entries));
  return path;
}

export interface ArchiveServer {
  /** Base URL, e.g. http://127.0.0.1:1234. */
  url: string;
  /** Serves `body` at `path`; `bytesPerSecond` throttles it (0 or absent: full speed). */
  put(path: string, body: Buffer, options?: { bytesPerSecond?: number; truncateAt?: number }): string;
  /** GETs received per path. */
  hits: Map<string, number>;
  /** Body bytes sent, all paths. */
  bytesSent(): number;
  close(): Promise<void>;
}

/** A small local HTTP server for archives; throttled paths send 16 KiB chunks at the given rate. */
export async function serveArchives(): Promise<ArchiveServer> {
  const { createServer } = await import('node:http');
  const files = new Map<string, { body: Buffer; bytesPerSecond?: number; truncateAt?: number }>();
  const hits = new Map<string, number>();
  let sent = 0;
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const file = files.get(path);
    if (!file) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.setHeader('Content-Length', file.body.length);
    const end = file.truncateAt ?? file.body.length;
    if (!file.bytesPerSecond) {
      sent += end;
      if (end < file.body.length) {
        res.write(file.body.subarray(0, end), () => res.destroy());
        return;
      }
      res.end(file.body);
      return;
    }
    const chunk = 16 * 1024;
    let offset = 0;
    const timer = setInterval(
      () => {
        if (offset >= end) {
          clearInterval(timer);
          if (end < file.body.length) res.destroy();
          else res.end();
          return;
        }
        const piece = file.body.subarray(offset, Math.min(end, offset + chunk));
        offset += piece.length;
        sent += piece.length;
        res.write(piece);
      },
      (chunk / file.bytesPerSecond) * 1000,
    );
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    put(path, body, options = {}) {
      files.set(path, { body, ...options });
      return `${url}${path}`;
    },
    hits,
    bytesSent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface BodyServer {
  url: string;
  /** Path → body, with an ETag that answers If-None-Match with 304. */
  bodies: Map<string, { body: Buffer; etag?: string }>;
  /** Every request, in order. */
  requests: { path: string; ifNoneMatch?: string }[];
  close(): Promise<void>;
}

/** A local HTTP origin for http data sources: the bodies set, 404 for others, conditional GETs by ETag. */
export async function serveBodies(bodies: BodyServer['bodies'] = new Map(), requests: BodyServer['requests'] = []): Promise<BodyServer> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', ifNoneMatch: req.headers['if-none-match'] });
    const entry = bodies.get(req.url ?? '');
    if (!entry) return void res.writeHead(404).end();
    if (entry.etag && req.headers['if-none-match'] === entry.etag) return void res.writeHead(304).end();
    res.writeHead(200, entry.etag ? { etag: entry.etag } : {}).end(entry.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** serveBodies() for the enclosing describe block (started before its tests, closed after). */
export function bodyServerForTests(): Pick<BodyServer, 'bodies' | 'requests'> & { url(): string } {
  const bodies: BodyServer['bodies'] = new Map();
  const requests: BodyServer['requests'] = [];
  let server: BodyServer | undefined;
  beforeAll(async () => {
    server = await serveBodies(bodies, requests);
  });
  afterAll(() => server?.close());
  return { bodies, requests, url: () => server!.url };
}

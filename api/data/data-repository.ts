/**
 * The data repository's routes:
 *
 *   GET /v1/sources                                      the sources, their newest version and standing refusal
 *   GET /v1/sources/{name}/versions                      the manifest: {source, versions: [{id, sha256, size, createdAt, origin}]}, oldest first
 *   GET /v1/sources/{name}/versions/{id}/archive         the archive (application/gzip), streamed from disk
 *   GET /openapi.json                                    these routes' OpenAPI document (openapi-data-repository.ts)
 *
 * The archive has a strong ETag (its quoted SHA-256): If-None-Match answers 304. One
 * `Range: bytes=` range answers 206 with Content-Range, 416 when it starts past the end;
 * several ranges get the whole archive. The store is reached only through the manifest: a
 * name or ID is checked against the contract's rules (400) and looked up (404) before anything
 * touches the disk, so no request names a path. An archive whose bytes do not match its
 * SHA-256 is never served: 503 (blob-verify.ts).
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express, { Router, type Express } from 'express';
import { Counter, type Registry } from 'prom-client';
import { answerRange, archiveEtag, ifRangeAllows, noneMatchHits, publicVersion } from '../../domain/data/data-repository';
import { BlobIntegrityError } from '../../datarepository/blob-verify';
import type { DataRepository } from '../../datarepository/repository';
import { METRICS_PREFIX } from '../../platform/metrics';
import type { Logger } from '../../platform/logger';
import { methodNotAllowed, optionsNotServed } from '../allowed-methods';
import { errorHandler, HttpError, notFound } from '../http-errors';
import { ArchiveParamsSchema, SourceParamsSchema, type SourceListBody, type ManifestBody } from './data-repository-schemas';
import { dataRepositoryDocument } from './openapi-data-repository';
import { parseInput } from '../routes';

export interface DataRepositoryMetrics {
  bytesServed: Counter<'source'>;
}

export function createDataRepositoryMetrics(registry: Registry): DataRepositoryMetrics {
  return {
    bytesServed: new Counter({
      name: `${METRICS_PREFIX}data_repository_bytes_served_total`,
      help: 'Archive bytes written to clients, by source (ranges count what they sent).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
  };
}

export interface DataRepositoryRouterDeps {
  repository: DataRepository;
  metrics: DataRepositoryMetrics;
  logger: Logger;
}

const quarantined = (name: string, id: string) =>
  new HttpError(
    503,
    `the archive of '${name}' version '${id}' failed its SHA-256 check and was quarantined; the next poll stores it again if it is the newest version and its origin still has it`,
  );

const PATH = { where: 'path', expected: 'a path', fields: 'name, id' };

function checkedSource(repository: DataRepository, name: string): string {
  if (!repository.source(name)) throw new HttpError(404, `no data source named '${name}'`);
  return name;
}

export function createDataRepositoryRouter(deps: DataRepositoryRouterDeps): Router {
  const { repository, metrics, logger } = deps;
  const router = Router();

  router.get('/v1/sources', async (_req, res) => {
    const sources = await Promise.all(
      repository.sources.map(async (source) => {
        const { versions } = await repository.manifest(source.name);
        const latest = versions.at(-1);
        return {
          name: source.name,
          kind: source.kind,
          versions: versions.length,
          latest: latest ? publicVersion(latest) : null,
          refused: repository.refusal(source.name) ?? null,
        };
      }),
    );
    res.json({ sources } satisfies SourceListBody);
  });

  router.get('/v1/sources/:name/versions', async (req, res) => {
    const name = checkedSource(repository, parseInput(SourceParamsSchema, req.params, PATH).name);
    const { versions } = await repository.manifest(name);
    res.json({ source: name, versions: versions.map(publicVersion) } satisfies ManifestBody);
  });

  router.get('/v1/sources/:name/versions/:id/archive', async (req, res) => {
    const params = parseInput(ArchiveParamsSchema, req.params, PATH);
    const name = checkedSource(repository, params.name);
    const id = params.id;
    const version = (await repository.manifest(name)).versions.find((v) => v.id === id);
    if (!version) throw new HttpError(404, `source '${name}' has no version '${id}'`);
    const stored = await repository.archiveState(version);
    if (stored.kind === 'missing') throw new HttpError(404, `the archive of '${name}' version '${id}' was pruned`);
    if (stored.kind === 'quarantined') throw quarantined(name, id);

    const etag = archiveEtag(version.sha256);
    const cacheHeaders = { ETag: etag, 'Accept-Ranges': 'bytes', 'Cache-Control': 'public, max-age=31536000, immutable' };
    if (noneMatchHits(req.get('if-none-match'), etag)) {
      res.set(cacheHeaders).status(304).end();
      return;
    }
    const answer = ifRangeAllows(req.get('if-range'), etag) ? answerRange(req.get('range'), stored.size) : ({ kind: 'full' } as const);
    if (answer.kind === 'unsatisfiable') {
      res.set('Content-Range', `bytes */${stored.size}`);
      throw new HttpError(416, `range ${req.get('range')} is outside the archive's ${stored.size} bytes`);
    }
    const range = answer.kind === 'partial' ? answer.range : undefined;
    // Verified before any header is sent (blob-verify.ts): a mismatch answers 503, never the bytes.
    let body: Readable | undefined;
    if (req.method !== 'HEAD') {
      try {
        body = await repository.openArchive(name, version, stored.identity, range);
      } catch (err) {
        if (err instanceof BlobIntegrityError) throw quarantined(name, id);
        throw err;
      }
    }
    res
      .set(cacheHeaders)
      .status(range ? 206 : 200)
      .type('application/gzip');
    res.set('Content-Length', String(range ? range.end - range.start + 1 : stored.size));
    if (range) res.set('Content-Range', `bytes ${range.start}-${range.end}/${stored.size}`);
    if (!body) {
      res.end();
      return;
    }
    const served = metrics.bytesServed.labels({ source: name });
    body.on('data', (chunk: Buffer) => served.inc(chunk.length));
    try {
      await pipeline(body, res);
    } catch (err) {
      // The client went away, the disk failed mid-body, or the bytes failed their hash (cut short, logged by the repository).
      logger.debug({ err, source: name, version: id }, 'archive response ended early');
    }
  });

  return router;
}

export interface DataRepositoryAppDeps extends Omit<DataRepositoryRouterDeps, 'metrics'> {
  registry: Registry;
}

/** The data repository's HTTP server: its routes, /healthz and /metrics. */
export function createDataRepositoryApp(deps: DataRepositoryAppDeps): Express {
  const logger = deps.logger.child({ component: 'http' });
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(optionsNotServed(app));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(dataRepositoryDocument());
  });
  app.use(createDataRepositoryRouter({ repository: deps.repository, metrics: createDataRepositoryMetrics(deps.registry), logger }));
  app.use(methodNotAllowed(app));
  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

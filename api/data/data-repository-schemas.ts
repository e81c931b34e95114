/**
 * The data repository's inputs and answers as zod schemas: the routes (data-repository.ts)
 * parse their path with them, and its OpenAPI document (openapi-data-repository.ts) is
 * generated from them. The answers are checked against the domain's interfaces at compile
 * time, both ways, so the document cannot drift from what is served.
 */
import { z } from 'zod';
import { sourceName, versionIdString } from '../../domain/shared/checked-string';
import { REFUSAL_REASONS, type Refusal } from '../../domain/data/data-archive-rules';
import { SHA256_HEX, type DataVersion } from '../../domain/data/data-contract';
import type { Same } from '../openapi-common';

export const SourceParamsSchema = z.object({ name: sourceName() });
export const ArchiveParamsSchema = SourceParamsSchema.extend({ id: versionIdString() });

const KindSchema = z.enum(['git', 'http', 'local']);
const time = (what: string) => z.string().meta({ description: `${what}, RFC 3339.` });

export const DataVersionSchema = z
  .object({
    id: versionIdString(),
    sha256: z.string().regex(SHA256_HEX).meta({ description: "The archive's SHA-256, lower-case hex." }),
    size: z.number().int().min(0).meta({ description: "The archive's size in bytes." }),
    createdAt: time('When the repository stored it'),
    origin: z.object({
      kind: KindSchema,
      ref: z.string().meta({ description: "The git commit, the URL's ETag or Last-Modified, the folder's digest." }),
    }),
  })
  .meta({ id: 'DataVersion' });

export const RefusalSchema = z
  .object({
    ref: z.string().nullable().meta({ description: "The origin's ref of the refused content, when it has one." }),
    reason: z.enum(REFUSAL_REASONS),
    message: z.string().meta({ description: 'What is wrong with the archive, and where.' }),
    at: time('When it was refused last'),
    count: z.number().int().min(1).meta({ description: 'Consecutive refusals of this source.' }),
    retryAt: time('Until then the refused content is not fetched again'),
  })
  .meta({
    id: 'Refusal',
    description: "The source's newest content was refused (not stored); it stands until content is stored or found unchanged after it.",
  });

export const SourceListSchema = z
  .object({
    sources: z.array(
      z.object({
        name: z.string(),
        kind: KindSchema,
        versions: z.number().int().min(0).meta({ description: 'How many versions are stored.' }),
        latest: DataVersionSchema.nullable(),
        refused: RefusalSchema.nullable(),
      }),
    ),
  })
  .meta({ id: 'SourceList' });

export const ManifestSchema = z
  .object({ source: z.string(), versions: z.array(DataVersionSchema).meta({ description: 'Oldest first.' }) })
  .meta({ id: 'Manifest' });

export type SourceListBody = z.infer<typeof SourceListSchema>;
export type ManifestBody = z.infer<typeof ManifestSchema>;

const _schemasMatch: [Same<z.infer<typeof DataVersionSchema>, DataVersion>, Same<z.infer<typeof RefusalSchema>, Refusal>] = [true, true];
void _schemasMatch;

/**
 * The data sources, declared in the JSON file named by AUTOCRANE_DATA_SOURCES_FILE:
 *
 *   [
 *     {"name": "prices", "kind": "git", "url": "https://example.com/prices.git", "ref": "main", "keep": 5},
 *     {"name": "geo", "kind": "http", "url": "https://example.com/geo.tar.gz"},
 *     {"name": "demo", "kind": "local", "path": "./demo-data"}
 *   ]
 *
 * Validated once at start; a mistake names the entry and the field. Unknown fields are refused
 * so a typo (`refs`, `kepp`) is not silently ignored.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { sourceNameError } from '../domain/data/data-contract';

const sourceName = z.string().superRefine((name, ctx) => {
  const problem = sourceNameError(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const keep = z.number().int().min(1).max(1000, { error: 'expected an integer from 1 to 1000' }).optional();

const gitSource = z.strictObject({
  name: sourceName,
  kind: z.literal('git'),
  /** Anything `git fetch` accepts: https://, ssh://, file:// or a local path. */
  url: z.string({ error: 'expected a git repository URL or path' }).trim().min(1, { error: 'expected a git repository URL or path' }),
  /** A branch, tag or other ref of the remote; default: its HEAD. */
  ref: z
    .string()
    // Not starting with '-' (an option to git) and without '..' (a range).
    .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+$/, {
      error: 'expected a branch, tag or ref name (letters, digits, . _ / -, not starting with -)',
    })
    .optional(),
  keep,
});
const httpSource = z.strictObject({
  name: sourceName,
  kind: z.literal('http'),
  url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
  keep,
});
const localSource = z.strictObject({
  name: sourceName,
  kind: z.literal('local'),
  /** A folder; relative to the sources file's folder. */
  path: z.string({ error: 'expected a folder path' }).trim().min(1, { error: 'expected a folder path' }),
  keep,
});

const sourceSchema = z.discriminatedUnion('kind', [gitSource, httpSource, localSource], {
  error: "kind: expected 'git', 'http' or 'local'",
});
const sourcesSchema = z.array(sourceSchema);

export type DataSource = z.infer<typeof sourceSchema>;
export type GitSource = z.infer<typeof gitSource>;
export type HttpSource = z.infer<typeof httpSource>;
export type LocalSource = z.infer<typeof localSource>;

export class DataSourcesError extends Error {
  override readonly name = 'DataSourcesError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`Invalid data sources in ${file}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/** Parses the sources file's text; relative local paths are resolved against `baseDir`. */
export function parseDataSources(text: string, file: string, baseDir: string): DataSource[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataSourcesError(file, [`not JSON: ${(err as Error).message}`]);
  }
  const parsed = sourcesSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const [index, ...field] = issue.path;
      if (index === undefined) return `expected a JSON array of sources: ${issue.message}`;
      const entry = Array.isArray(json) ? (json[index as number] as { name?: unknown } | undefined) : undefined;
      const named = typeof entry?.name === 'string' ? ` ('${entry.name}')` : '';
      const where = field.length > 0 ? `${field.join('.')}: ` : '';
      return `sources[${String(index)}]${named}: ${where}${issue.message}`;
    });
    throw new DataSourcesError(file, problems);
  }
  const seen = new Map<string, number>();
  const problems: string[] = [];
  parsed.data.forEach((source, index) => {
    const first = seen.get(source.name);
    if (first !== undefined) problems.push(`sources[${index}] ('${source.name}'): name: already used by sources[${first}]`);
    else seen.set(source.name, index);
  });
  if (problems.length > 0) throw new DataSourcesError(file, problems);
  return parsed.data.map((source) => (source.kind === 'local' ? { ...source, path: resolve(baseDir, source.path) } : source));
}

export function loadDataSources(file: string): DataSource[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataSourcesError(file, [`cannot read it: ${(err as Error).message}`]);
  }
  return parseDataSources(text, file, dirname(resolve(file)));
}

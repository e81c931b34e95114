/** Runs schemathesis (test/fuzz/schemathesis.sh installs it once, cached) against a served API. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The `st` command, installed on first use into ~/.cache/autocrane (about 30 s). */
export async function schemathesisCommand(): Promise<string> {
  const { stdout } = await run('bash', [path.join(__dirname, '..', 'fuzz', 'schemathesis.sh')], { timeout: 5 * 60_000 });
  return stdout.trim();
}

export interface FuzzOutcome {
  exitCode: number;
  output: string;
  /** How many answers had each status code (from the run's HAR report). */
  statuses: Record<string, number>;
}

/**
 * Real identifiers for the fuzzer: each named parameter (`path.namespace`, `body.target.name`)
 * takes one of its values with the given probability and is generated as usual otherwise, so
 * calls reach objects that exist while the paths and bodies are still fuzzed.
 */
export interface FuzzSeeds {
  values: Record<string, readonly (string | number)[]>;
  probability: number;
}

/** schemathesis.toml for the seeds: one dictionary per parameter, bound to it. */
export function seedsConfig(seeds: FuzzSeeds): string {
  const q = (s: string) => JSON.stringify(s);
  const entries = Object.entries(seeds.values).map(([parameter, values], i) => ({ parameter, dictionary: `seed${i}`, values }));
  return [
    ...entries.flatMap((e) => [
      `[dictionaries.${e.dictionary}]`,
      `values = [${e.values.map((v) => (typeof v === 'number' ? String(v) : q(v))).join(', ')}]`,
      '',
    ]),
    '[parameters]',
    ...entries.map((e) => `${q(e.parameter)} = { dictionary = ${q(e.dictionary)}, probability = ${seeds.probability} }`),
    '',
  ].join('\n');
}

/** The status-code counts of a HAR file. */
function harStatuses(file: string): Record<string, number> {
  if (!existsSync(file)) return {};
  const har = JSON.parse(readFileSync(file, 'utf8')) as { log?: { entries?: { response?: { status?: number } }[] } };
  const counts: Record<string, number> = {};
  for (const entry of har.log?.entries ?? []) {
    const code = String(entry.response?.status ?? 'none');
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

/**
 * A property-based run over every operation of `baseUrl`/openapi.json (with `token` as bearer when given): no 5xx, and every
 * status, Content-Type, header and body as the document says. Bounded by `maxSeconds`.
 */
export async function fuzzApi(
  st: string,
  baseUrl: string,
  token: string | undefined,
  options: { maxExamples: number; maxSeconds: number; seed: number; seeds?: FuzzSeeds },
): Promise<FuzzOutcome> {
  const dir = mkdtempSync(path.join(tmpdir(), 'autocrane-fuzz-'));
  const har = path.join(dir, 'run.har');
  const config = path.join(dir, 'schemathesis.toml');
  writeFileSync(config, options.seeds === undefined ? '' : seedsConfig(options.seeds));
  const args = [
    '--config-file',
    config,
    'run',
    `${baseUrl}/openapi.json`,
    '--url',
    baseUrl,
    ...(token === undefined ? [] : ['--header', `Authorization: Bearer ${token}`]),
    '--checks',
    'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method',
    '--phases',
    'examples,coverage,fuzzing',
    '--max-examples',
    String(options.maxExamples),
    '--max-time',
    String(options.maxSeconds),
    '--seed',
    String(options.seed),
    // One worker: hypothesis's lambda descriptions break across threads on CPython 3.11
    // ("AST constructor recursion depth mismatch").
    '--workers',
    '1',
    '--request-timeout',
    '20',
    '--continue-on-failure',
    '--report',
    'har',
    '--report-har-path',
    har,
  ];
  try {
    const { stdout, stderr } = await run(st, args, {
      timeout: (options.maxSeconds + 120) * 1000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: '1' },
    });
    return { exitCode: 0, output: stdout + stderr, statuses: harStatuses(har) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return {
      exitCode: typeof e.code === 'number' ? e.code : -1,
      output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}`,
      statuses: harStatuses(har),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

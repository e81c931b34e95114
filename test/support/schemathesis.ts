/** Runs schemathesis (test/fuzz/schemathesis.sh installs it once, cached) against a served API. */
import { execFile } from 'node:child_process';
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
}

/**
 * A property-based run over every operation of `baseUrl`/openapi.json (with `token` as bearer when given): no 5xx, and every
 * status, Content-Type, header and body as the document says. Bounded by `maxSeconds`.
 */
export async function fuzzApi(st: string, baseUrl: string, token: string | undefined, options: { maxExamples: number; maxSeconds: number; seed: number }): Promise<FuzzOutcome> {
  const args = [
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
  ];
  try {
    const { stdout, stderr } = await run(st, args, { timeout: (options.maxSeconds + 120) * 1000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });
    return { exitCode: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { exitCode: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
  }
}

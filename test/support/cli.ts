/** The real `autocrane` CLI run in the test process, its output captured. */
import { createProgram } from '../../cli/main';

export interface CliSession {
  /** Everything written to stdout and stderr so far (an in-process worker logs to stderr too). */
  out: string[];
  err: string[];
  /** Runs `autocrane <args> --api-url <url> --token <token>`, answering what it wrote to stdout during this run. */
  run(...args: string[]): Promise<string>;
}

/** Runs the CLI against `apiUrl` within `use`; the output and process.exitCode are given back however `use` ends. */
export async function runCli<T>(apiUrl: string, token: string, use: (cli: CliSession) => Promise<T>): Promise<T> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  const exitCode = process.exitCode;
  try {
    return await use({
      out,
      err,
      async run(...args) {
        const from = out.length;
        await createProgram().parseAsync(['node', 'autocrane', ...args, '--api-url', apiUrl, '--token', token]);
        return out.slice(from).join('');
      },
    });
  } finally {
    process.exitCode = exitCode;
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

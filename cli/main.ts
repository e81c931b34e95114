#!/usr/bin/env node
/**
 * The `autocrane` command line. Each mode lives in its own module under cli/ and exports a
 * `register…Command(program)` function; this file only registers them and maps commander's
 * outcomes to exit statuses: 0 for --help, 2 for a usage error (unknown command or flag, bad
 * value), 1 when a command itself fails.
 *
 * Modes are loaded lazily: a run of one mode imports only that mode's module graph, so a
 * sidecar (data-deployer, watchdog-healthz) does not carry the Temporal runtime or the others'
 * libraries in its memory. Every mode is loaded when no mode is named (--help, `help`, no
 * arguments, an unknown command), so the help lists them all, in the order below.
 */
import { Command, CommanderError, type OutputConfiguration, type ParseOptions } from 'commander';

/** Exit status for a usage error, as for a configuration error (see exitOnConfigError). */
export const USAGE_EXIT_CODE = 2;

type Register = (program: Command) => Command;

/** Every mode: its command name and how to import its registration. */
export const COMMANDS: readonly { name: string; load: () => Promise<Register> }[] = [
  { name: 'test-workload', load: async () => (await import('./test-workload')).registerTestWorkloadCommand },
  { name: 'watchdog', load: async () => (await import('./watchdog')).registerWatchdogCommand },
  { name: 'watchdog-healthz', load: async () => (await import('./watchdog-healthz')).registerWatchdogHealthzCommand },
  { name: 'repair', load: async () => (await import('./repair')).registerRepairCommand },
  { name: 'rollout', load: async () => (await import('./rollout')).registerRolloutCommand },
  { name: 'data-deployer', load: async () => (await import('./data-deployer')).registerDataDeployerCommand },
  { name: 'data', load: async () => (await import('./data-rollout')).registerDataRolloutCommand },
  { name: 'data-repository', load: async () => (await import('./data-repository')).registerDataRepositoryCommand },
];

/** The words after `node main.js` (or all of them with from: 'user'); other conventions load every mode. */
const userArgs = (argv: readonly string[], options?: ParseOptions): readonly string[] => (options?.from === 'user' ? argv : argv.slice(2));

/** The program; it registers the modes it needs when parsed, so use parseAsync (parse cannot import). */
class AutocraneProgram extends Command {
  private registered = false;

  override async parseAsync(argv?: readonly string[], options?: ParseOptions): Promise<this> {
    if (!this.registered) {
      this.registered = true;
      const first = userArgs(argv ?? process.argv, options)[0];
      const named = COMMANDS.filter((c) => c.name === first);
      const registers = await Promise.all((named.length > 0 ? named : COMMANDS).map((c) => c.load()));
      for (const register of registers) register(this);
    }
    return super.parseAsync(argv, options);
  }

  override parse(): this {
    throw new Error('autocrane: the program imports its modes when parsed; call parseAsync()');
  }
}

/**
 * The program; its subcommands are registered on parseAsync. Subcommands must be added with
 * `program.command(...)` (not `addCommand`) so they inherit exitOverride and `output`.
 * `output` exists for tests.
 */
export function createProgram(output?: OutputConfiguration): Command {
  const program = new AutocraneProgram('autocrane')
    .description('Safe, watchdog-gated rollouts and repairs of container services on Kubernetes.')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  if (output) program.configureOutput(output);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed the message (or the help).
      process.exitCode = err.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
      return;
    }
    // Commands report their own failures; this is a bug, so keep the stack.
    process.stderr.write(`autocrane: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();

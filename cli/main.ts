#!/usr/bin/env node
/**
 * The `autocrane` command line. Each mode lives in its own module under cli/ and exports a
 * `register…Command(program)` function; this file only registers them and maps commander's
 * outcomes to exit statuses: 0 for --help, 2 for a usage error (unknown command or flag, bad
 * value), 1 when a command itself fails.
 */
import { Command, CommanderError, type OutputConfiguration } from 'commander';
import { registerDataDeployerCommand } from './data-deployer';
import { registerDataRolloutCommand } from './data-rollout';
import { registerDataRepositoryCommand } from './data-repository';
import { registerRepairCommand } from './repair';
import { registerRolloutCommand } from './rollout';
import { registerTestWorkloadCommand } from './test-workload';
import { registerWatchdogCommand } from './watchdog';
import { registerWatchdogHealthzCommand } from './watchdog-healthz';

/** Exit status for a usage error, as for a configuration error (see exitOnConfigError). */
export const USAGE_EXIT_CODE = 2;

/**
 * The program with every subcommand registered. Subcommands must be added with
 * `program.command(...)` (not `addCommand`) so they inherit exitOverride and `output`.
 * `output` exists for tests.
 */
export function createProgram(output?: OutputConfiguration): Command {
  const program = new Command('autocrane')
    .description('Safe, watchdog-gated rollouts and repairs of container services on Kubernetes.')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  if (output) program.configureOutput(output);

  registerTestWorkloadCommand(program);
  registerWatchdogCommand(program);
  registerWatchdogHealthzCommand(program);
  registerRepairCommand(program);
  registerRolloutCommand(program);
  registerDataDeployerCommand(program);
  registerDataRolloutCommand(program);
  registerDataRepositoryCommand(program);
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

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { down, status, up } from '../../stack/stack';
import { readState, REPO_ROOT, StackState, UpOptions } from '../../stack/stack-state';

/**
 * Each test tier runs its own stack in its own state folder, started fresh by Jest's
 * globalSetup and stopped by its globalTeardown, so tests never touch a developer's
 * running stack and never see objects left over from an earlier run.
 */
export type Tier = 'workflow' | 'integration';

export const tierStateDir = (tier: Tier) => join(REPO_ROOT, '.autocrane', 'test', tier);

export async function startTierStack(tier: Tier, options: Omit<UpOptions, 'stateDir'>): Promise<void> {
  const stateDir = tierStateDir(tier);
  await down({ stateDir, log: () => undefined });
  rmSync(stateDir, { recursive: true, force: true });
  const log = (line: string) => process.stderr.write(`[${tier} stack] ${line}\n`);
  log('starting');
  await up({ ...options, stateDir, ui: false, log });
}

export async function stopTierStack(tier: Tier): Promise<void> {
  const stateDir = tierStateDir(tier);
  // A component that died during the run explains many failures: show its log first.
  for (const component of status(stateDir)) {
    if (!component.running) {
      process.stderr.write(
        `[${tier} stack] ${component.name} died during the tests. Last lines of ${component.log}:\n${component.logTail}\n`,
      );
    }
  }
  await down({ stateDir, log: () => undefined });
}

/** The running tier stack, for tests. */
export function tierStack(tier: Tier): StackState {
  const state = readState(tierStateDir(tier));
  if (!state) throw new Error(`the ${tier} test stack is not running (jest globalSetup starts it)`);
  return state;
}

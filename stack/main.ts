#!/usr/bin/env node
import { Command } from 'commander';
import { down, status, up } from './stack';
import { DEFAULT_STATE_DIR, envFile } from './stack-state';

/**
 * `stack up|down|status`: the local stack on 127.0.0.1. `up` returns once every
 * component is ready and leaves them running in the background.
 */
const program = new Command('stack')
  .description('AutoCrane local stack: Temporal dev server + sandbox Kubernetes control plane with kwok nodes')
  .option('--state-dir <dir>', 'state folder (data, keys, logs, stack.env)', DEFAULT_STATE_DIR);

program
  .command('up')
  .description('start the stack in the background; returns when every component is ready')
  .option('--headless', 'no Temporal Web UI')
  .option('--service', 'also start the AutoCrane worker and API (from dist/)')
  .option('--temporal-only', 'start only the Temporal dev server')
  .action(async (opts: { headless?: boolean; service?: boolean; temporalOnly?: boolean }) => {
    const stateDir: string = program.opts().stateDir;
    const state = await up({ stateDir, ui: !opts.headless, service: !!opts.service, kubernetes: !opts.temporalOnly });
    const lines = [
      `Temporal:     ${state.temporalAddress} (namespace ${state.temporalNamespace})`,
      ...(state.temporalUiUrl ? [`Temporal UI:  ${state.temporalUiUrl}`] : []),
      ...(state.kubeconfig ? [`Kubeconfig:   ${state.kubeconfig}   (kubectl --kubeconfig ${state.kubeconfig} get nodes)`] : []),
      ...(state.apiUrl ? [`API:          ${state.apiUrl}`, `API token:    ${state.apiToken}`] : []),
      `Environment:  source ${envFile(stateDir)}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  });

program
  .command('down')
  .description('stop every process the stack started (data is kept)')
  .action(async () => down({ stateDir: program.opts().stateDir }));

program
  .command('status')
  .description('list the stack processes; a dead one is shown with the tail of its log')
  .action(() => {
    const components = status(program.opts().stateDir);
    if (components.length === 0) {
      process.stdout.write('the stack is not running\n');
      return;
    }
    let allRunning = true;
    for (const c of components) {
      process.stdout.write(`${c.name.padEnd(24)} ${c.running ? 'running' : 'DEAD   '} pid ${c.pid}  ${c.log}\n`);
      if (c.logTail) {
        allRunning = false;
        process.stdout.write(c.logTail.replace(/^/gm, '    | ') + '\n');
      }
    }
    process.exitCode = allRunning ? 0 : 1;
  });

program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`stack: ${error.message}\n`);
  process.exit(1);
});

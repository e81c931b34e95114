#!/usr/bin/env node
/**
 * `node dist/demo/main.js [run]`: the rollout demo against a running stack, found through the
 * environment that `source .autocrane/stack.env` sets (`make run` does this). `stop` ends the
 * demo's background test workload (`make down` does this).
 */
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { KubeConfig } from '@kubernetes/client-node';
import { parseApiUrl } from '../cli/api-client';
import { DEFAULT_STATE_DIR } from '../stack/stack-state';
import { ensureBackgroundWorkload, stopBackgroundWorkload } from './background-workload';
import { runRolloutDemo } from './rollout-demo';

const demoDir = () => join(process.env.AUTOCRANE_STATE_DIR || DEFAULT_STATE_DIR, 'demo');

function wholeNumber(min: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`Expected a whole number of at least ${min}.`);
    return n;
  };
}

function required(name: string): string {
  const value = process.env[name]?.trim();
  if (!value) throw new Error(`${name} is not set: run \`make run\`, or \`source .autocrane/stack.env\` with the stack up`);
  return value;
}

interface RunOptions {
  namespace: string;
  replicas: number;
  bakeSeconds: number;
  failingBakeSeconds: number;
}

async function run(options: RunOptions): Promise<void> {
  const api = { apiUrl: parseApiUrl(required('AUTOCRANE_API_URL')), token: required('AUTOCRANE_API_TOKEN') };
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(required('KUBECONFIG'));
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const workload = await ensureBackgroundWorkload(demoDir());
  print('');
  print('AutoCrane demo: a 3-stage rollout whose new version fails its watchdog in stage 2, and the automatic rollback.');
  print(
    `Test workload: ${workload.url} (pid ${workload.pid}, ${workload.reused ? 'kept from an earlier demo' : 'started'}; log ${workload.log}; stopped by make down)`,
  );
  print('');
  const { status } = await runRolloutDemo({
    api,
    kubeConfig,
    namespace: options.namespace,
    replicas: options.replicas,
    workload,
    bakeSeconds: options.bakeSeconds,
    failingStageBakeSeconds: options.failingBakeSeconds,
    print,
  });
  if (status.state !== 'RolledBack') {
    process.stderr.write(`demo: expected the rollout to end RolledBack, it ended ${status.state}\n`);
    process.exitCode = 1;
  }
}

const program = new Command('rollout-demo').description('AutoCrane rollout demo on the running local stack');

program
  .command('run', { isDefault: true })
  .description('deploy the sample app, roll out a failing version 2 through the REST API and show the rollback')
  .option('--namespace <name>', 'namespace of the sample app (the worker must probe it)', 'default')
  .option('--replicas <n>', 'replicas of the sample app', wholeNumber(2), 6)
  .option('--bake-seconds <s>', 'bake of stages 1 and 3', wholeNumber(0), 5)
  .option('--failing-bake-seconds <s>', 'bake of stage 2, during which version 2 fails (longer than a probe interval)', wholeNumber(1), 120)
  .action((options: RunOptions) => run(options));

program
  .command('stop')
  .description("stop the demo's background test workload")
  .action(async () => {
    process.stdout.write(`${await stopBackgroundWorkload(demoDir())}\n`);
  });

program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`demo: ${error.message}\n`);
  process.exit(1);
});

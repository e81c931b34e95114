/**
 * Bundles the workflow code at build time (dist/workflow-bundle.js), so the worker does not
 * run webpack at every start: that costs seconds and well over 100 MB of peak memory.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { WORKFLOW_BUNDLE_PATH } from './worker-factory';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  writeFileSync(WORKFLOW_BUNDLE_PATH, code);
  process.stdout.write(`workflow bundle written to ${WORKFLOW_BUNDLE_PATH} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}

main().catch((err) => {
  process.stderr.write(`bundling workflows failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

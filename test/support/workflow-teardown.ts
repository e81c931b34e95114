import { stopTierStack } from './stacks';

export default async function workflowTeardown(): Promise<void> {
  await stopTierStack('workflow');
}

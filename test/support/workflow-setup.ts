import { startTierStack } from './stacks';

export default async function workflowSetup(): Promise<void> {
  await startTierStack('workflow', { kubernetes: false });
}

import { startProbeAnswerer } from './probe-answerer';
import { startTierStack } from './stacks';

export default async function integrationSetup(): Promise<void> {
  await startTierStack('integration', { kubernetes: true });
  await startProbeAnswerer();
}

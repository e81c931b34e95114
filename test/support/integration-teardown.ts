import { stopProbeAnswerer } from './probe-answerer';
import { stopTierStack } from './stacks';

export default async function integrationTeardown(): Promise<void> {
  await stopProbeAnswerer();
  await stopTierStack('integration');
}

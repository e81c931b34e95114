import { stopTierStack } from './stacks';

export default async function integrationTeardown(): Promise<void> {
  await stopTierStack('integration');
}

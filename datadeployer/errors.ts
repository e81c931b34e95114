import type { FailureKind } from '../domain/data/data-deployer';

/** An activation that failed for a reason worth reporting in the source's status. */
export class ActivationError extends Error {
  override readonly name = 'ActivationError';
  constructor(
    readonly kind: FailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

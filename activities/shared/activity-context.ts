/**
 * What every long-running activity (rollouts, data rollouts) does with its Temporal context:
 * sleep so that a cancellation ends the sleep, stop before a write once cancelled, heartbeat,
 * and turn what it throws into the ApplicationFailure Temporal acts on. Each works outside an
 * activity too (tools, tests), where there is no context.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { describeError } from '../../platform/errors';
import { toActivityFailure } from './kubernetes-errors';

/** The running activity's context; undefined when called outside an activity (tools, tests). */
export function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Sleeps; inside an activity, a cancellation ends the sleep with CancelledFailure. */
export async function sleep(ms: number): Promise<void> {
  const context = currentContext();
  if (context) await context.sleep(ms);
  else await new Promise((r) => setTimeout(r, ms));
}

/** Heartbeats with `details` (the API shows a rollout's as live counts); nothing outside an activity. */
export function heartbeat(details: object): void {
  currentContext()?.heartbeat(details);
}

/**
 * Throws the activity's CancelledFailure once its cancellation has arrived. Called before every
 * write: the workflow waits for a cancelled activity to stop before it goes on (to roll back,
 * say), and a wait that happens to be settled already would not notice the cancellation itself.
 */
export function stopIfCancelled(): void {
  currentContext()?.cancellationSignal.throwIfAborted();
}

export const nonRetryable = (type: string, message: string): ApplicationFailure =>
  ApplicationFailure.create({ type, message, nonRetryable: true });

/**
 * Runs an activity's body: an ApplicationFailure or a cancellation goes out as it is, anything
 * else becomes the failure of `action` (toActivityFailure). With `refusedAs`, a request the
 * apiserver refuses as invalid (422) fails for good under that type: a retry would be refused too.
 */
export async function guard<T>(action: string, fn: () => Promise<T>, { refusedAs }: { refusedAs?: string } = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    if (err instanceof Error && err.name === 'CancelledFailure') throw err;
    if (refusedAs !== undefined && (err as { code?: number }).code === 422)
      throw nonRetryable(refusedAs, `${action}: the apiserver refused it: ${describeError(err)}`);
    throw toActivityFailure(err, action);
  }
}

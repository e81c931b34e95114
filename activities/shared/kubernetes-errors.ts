/**
 * Turns a failed Kubernetes API call into the ApplicationFailure Temporal acts on: requests
 * that cannot succeed by repetition (bad credentials, missing permission, missing object) stop
 * the retries; anything else (5xx, throttling, network) is retried by the activity's policy.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ApiException } from '@kubernetes/client-node';
import { describeError } from '../../platform/errors';
import { isRequestTimeout } from '../../platform/kubernetes';

const NOT_RETRYABLE_STATUSES = new Set([401, 403, 404]);

export const KUBERNETES_API_ERROR = 'KubernetesApiError';
export const KUBERNETES_UNREACHABLE = 'KubernetesUnreachable';

/** The apiserver's own explanation: the `message` of the Status object it answers errors with. */
function statusMessage(body: unknown): string | undefined {
  try {
    const status: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    if (status && typeof status === 'object' && 'message' in status && typeof status.message === 'string') {
      return status.message;
    }
  } catch {
    // Not a Status object (e.g. a proxy's HTML page): the HTTP code alone has to do.
  }
  return undefined;
}

/** `action` says what was attempted, e.g. "list nodes", and heads the failure's message. */
export function toActivityFailure(err: unknown, action: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ApiException) {
    const status = err.code;
    const explanation = statusMessage(err.body) ?? err.message.split('\n', 1)[0] ?? '';
    return ApplicationFailure.create({
      message: `${action}: apiserver answered HTTP ${status}: ${explanation}`,
      type: KUBERNETES_API_ERROR,
      nonRetryable: NOT_RETRYABLE_STATUSES.has(status),
      details: [{ action, status }],
      cause: err,
    });
  }
  return ApplicationFailure.create({
    message: `${action}: ${isRequestTimeout(err) ? 'apiserver did not answer before the request timeout' : describeError(err)}`,
    type: KUBERNETES_UNREACHABLE,
    nonRetryable: false,
    details: [{ action }],
    cause: err instanceof Error ? err : undefined,
  });
}

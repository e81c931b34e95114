/**
 * Bounds on what the watchdog API lets callers write onto one pod: a number of watchdogs and
 * a total size of their status annotations. They keep one caller from filling a pod's
 * annotations up to the apiserver's 256 KiB limit, where every later write to the pod (the
 * prober's included) would be refused. Checked against the annotations the write is computed
 * from, before the apiserver is asked.
 *
 * Pure: safe to import from workflows.
 */
import { STATUS_ANNOTATION_PREFIX } from '../shared/keys';
import { statusAnnotationKey } from './watchdog-status';

export interface WatchdogCaps {
  /** Watchdogs (status annotations) a pod may carry. */
  maxWatchdogsPerPod: number;
  /** Total bytes (UTF-8 keys and values) of a pod's status annotations. */
  maxStatusBytesPerPod: number;
}

export interface WatchdogCapViolation {
  /** 409: the pod holds too many watchdogs already (a state the caller can change); 422: this value does not fit. */
  status: 409 | 422;
  field: 'name' | 'message';
  message: string;
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Why writing `value` as watchdog `name` would break a cap, or null when it fits. */
export function checkWatchdogCaps(
  annotations: Readonly<Record<string, string>>,
  name: string,
  value: string,
  caps: WatchdogCaps,
): WatchdogCapViolation | null {
  const key = statusAnnotationKey(name);
  let count = 0;
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    if (!k.startsWith(STATUS_ANNOTATION_PREFIX) || k === key) continue;
    count++;
    total += bytes(k) + bytes(v);
  }
  if (count + 1 > caps.maxWatchdogsPerPod) {
    return {
      status: 409,
      field: 'name',
      message: `the pod already has ${count} watchdogs, the most allowed per pod (${caps.maxWatchdogsPerPod}); write to one of them instead`,
    };
  }
  const after = total + bytes(key) + bytes(value);
  if (after > caps.maxStatusBytesPerPod) {
    return {
      status: 422,
      field: 'message',
      message: `the pod's watchdog statuses would take ${after} bytes, over the ${caps.maxStatusBytesPerPod} allowed per pod (${total} used by the others); write a shorter message`,
    };
  }
  return null;
}

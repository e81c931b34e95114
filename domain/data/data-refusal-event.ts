/**
 * The Kubernetes Event that tells a namespace its data source's archive was refused by the data
 * repository: which refusals are worth one, its deterministic name and its message.
 */
import type { Refusal } from './data-archive-rules';

/**
 * True when `after` was made by this poll, false when the poll only repeated the source's
 * standing refusal during its back-off (or nothing was refused). `before` is the source's
 * refusal as the repository held it when the poll began: each new refusal counts one more or
 * carries a later time, a repeated one is the same record.
 */
export function isNewRefusal(before: Refusal | undefined, after: Refusal | null | undefined): boolean {
  if (!after) return false;
  if (!before) return true;
  return before.count !== after.count || before.at !== after.at;
}

/**
 * One Event per (source, ref, reason) in a namespace: its name is derived from them, so a
 * repeated refusal of the same content for the same reason finds the Event (409 AlreadyExists)
 * and raises its count instead of making another. The hash keeps the name a DNS subdomain of
 * bounded length whatever the ref holds (`sha256:`, quotes of an ETag, dates). It only has to be
 * stable and tell apart the few refusals of one source, so 64-bit FNV-1a does (no Node crypto
 * in domain/).
 */
export function dataArchiveRefusedEventName(source: string, ref: string | null, reason: Refusal['reason']): string {
  const digest = fnv1a64Hex(JSON.stringify([source, ref, reason]));
  const suffix = `.archive-refused.${digest}`;
  const prefix = `autocrane-data-${source}`
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .slice(0, 253 - suffix.length)
    .replace(/[-.]+$/, '');
  return `${prefix}${suffix}`;
}

/** The Event's message: source, refused ref (or that none was known yet), reason and the check's words. */
export function dataArchiveRefusedMessage(source: string, refusal: Pick<Refusal, 'ref' | 'reason' | 'message' | 'retryAt'>): string {
  const ref = refusal.ref === null ? 'content whose ref was not known yet' : `ref ${refusal.ref}`;
  return `data repository refused ${ref} of data source '${source}' (${refusal.reason}): ${refusal.message}; not stored, not announced; fetched again after ${refusal.retryAt}`;
}

function fnv1a64Hex(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

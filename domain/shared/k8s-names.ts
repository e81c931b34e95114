/**
 * Kubernetes' syntax rules for annotation/label keys and label values, as the API
 * server enforces them (apimachinery `IsQualifiedName`, `IsValidLabelValue`).
 * Checking them here lets us refuse bad input with a clear message instead of a 422.
 *
 * Pure: no I/O, safe to import from workflows.
 */

/** Longest name part of a qualified name (`prefix/name`), and longest label value. */
export const QUALIFIED_NAME_MAX_LENGTH = 63;
/** Longest prefix (a DNS-1123 subdomain) of a qualified name. */
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A syntax rule as JSON Schema can state it (pattern and lengths), so the API's OpenAPI
 * document shows the very rule its validation applies (checked-string.ts turns one into zod).
 */
export interface StringRule {
  pattern: RegExp;
  minLength: number;
  maxLength?: number;
}

export const DNS1123_LABEL_RULE: StringRule = { pattern: DNS1123_LABEL, minLength: 1, maxLength: QUALIFIED_NAME_MAX_LENGTH };
export const DNS1123_SUBDOMAIN_RULE: StringRule = {
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  minLength: 1,
  maxLength: DNS1123_SUBDOMAIN_MAX_LENGTH,
};
export const QUALIFIED_NAME_PART_RULE: StringRule = { pattern: NAME_PART, minLength: 1, maxLength: QUALIFIED_NAME_MAX_LENGTH };

/**
 * Why `name` is not a valid name part of a qualified name (the part after the `/`
 * of an annotation key), or null if it is: 1..63 characters, alphanumeric at both
 * ends, `-`, `_`, `.` or alphanumerics inside.
 */
export function qualifiedNamePartError(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > QUALIFIED_NAME_MAX_LENGTH) {
    return `must be at most ${QUALIFIED_NAME_MAX_LENGTH} characters (got ${name.length})`;
  }
  if (!NAME_PART.test(name)) {
    return "must consist of letters, digits, '-', '_' or '.', and begin and end with a letter or digit";
  }
  return null;
}

/** Why `name` is not a DNS-1123 label (a namespace name: lowercase, ≤63 chars), or null. */
export function dns1123LabelError(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > QUALIFIED_NAME_MAX_LENGTH) return `must be at most ${QUALIFIED_NAME_MAX_LENGTH} characters (got ${name.length})`;
  if (!DNS1123_LABEL.test(name)) return "must be lowercase letters, digits and '-', beginning and ending with a letter or digit";
  return null;
}

/** Why `prefix` is not a DNS-1123 subdomain (lowercase, dot-separated labels, ≤253 chars), or null. */
export function dns1123SubdomainError(prefix: string): string | null {
  if (prefix.length === 0) return 'must not be empty';
  if (prefix.length > DNS1123_SUBDOMAIN_MAX_LENGTH) {
    return `must be at most ${DNS1123_SUBDOMAIN_MAX_LENGTH} characters (got ${prefix.length})`;
  }
  if (!prefix.split('.').every((label) => DNS1123_LABEL.test(label))) {
    return "must be lowercase letters, digits, '-' and '.', each dot-separated part beginning and ending with a letter or digit";
  }
  return null;
}

/**
 * Why `key` is not a valid annotation or label key (`[prefix/]name`), or null if it is.
 */
export function qualifiedNameError(key: string): string | null {
  const parts = key.split('/');
  if (parts.length > 2) return `'${key}' must contain at most one '/'`;
  const [first, second] = parts;
  if (second === undefined) {
    const nameError = qualifiedNamePartError(first ?? '');
    return nameError === null ? null : `name part of '${key}' ${nameError}`;
  }
  const prefixError = dns1123SubdomainError(first ?? '');
  if (prefixError !== null) return `prefix of '${key}' ${prefixError}`;
  const nameError = qualifiedNamePartError(second);
  return nameError === null ? null : `name part of '${key}' ${nameError}`;
}

/**
 * Why `value` is not a valid label value, or null: empty, or up to 63 characters,
 * alphanumeric at both ends, `-`, `_`, `.` or alphanumerics inside.
 */
export function labelValueError(value: string): string | null {
  if (value.length === 0) return null;
  const error = qualifiedNamePartError(value);
  return error === null ? null : `label value '${value}' ${error}`;
}

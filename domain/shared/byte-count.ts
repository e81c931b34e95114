/** Byte counts as operators write them (10Gi, 500M, 1024), for flags and environment variables alike. */
const BYTE_UNITS: Record<string, number> = { '': 1, k: 1e3, ki: 2 ** 10, m: 1e6, mi: 2 ** 20, g: 1e9, gi: 2 ** 30, t: 1e12, ti: 2 ** 40 };

export const BYTE_COUNT_EXPECTED = 'expected a byte count of at least 1, e.g. 500Mi or 10Gi';

/** A whole number with an optional unit (k, M, G, T or Ki, Mi, Gi, Ti), at least 1; null when it is not one. */
export function byteCount(value: string): number | null {
  const match = /^(\d+)\s*([kKmMgGtT]i?)?[bB]?$/.exec(value.trim());
  const n = match ? Number(match[1]) * (BYTE_UNITS[(match[2] ?? '').toLowerCase()] ?? NaN) : NaN;
  return Number.isSafeInteger(n) && n >= 1 ? n : null;
}

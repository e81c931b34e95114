/**
 * The two duration syntaxes rollout-operator's keys use, parsed exactly as its Go code parses
 * them, so a value that works there works here and one it refuses is refused here:
 *  - Go's time.ParseDuration (`grafana.com/min-time-between-zones-downscale`): an optional
 *    sign, then one or more decimal numbers each with a unit (ns, us, µs, μs, ms, s, m, h),
 *    e.g. `12h`, `1h30m`, `1.5h`, `-2m`; `0` alone is allowed; no unit otherwise is an error.
 *  - Prometheus' model.ParseDuration (`grafana.com/rollout-delayed-downscale`): whole
 *    numbers with the units y (365 days), w, d, h, m, s, ms, each at most once and in that
 *    order, e.g. `1d12h`, `90m`; `0` alone is allowed; no sign, no fraction.
 *
 * Both return milliseconds (a Go value may carry fractions of one) or a message saying what is
 * wrong. Pure: safe to import from workflows.
 */

export type DurationResult = { ms: number } | { error: string };

const GO_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's largest duration (int64 nanoseconds), about 292 years. */
const GO_MAX_MS = 9_223_372_036_854.775;

const GO_TERM = /^(\d*)(?:\.(\d*))?([^\d.]*)/;

/** Go's time.ParseDuration. */
export function parseGoDuration(text: string): DurationResult {
  const bad = (why: string): DurationResult => ({ error: `invalid Go duration '${text}': ${why}` });
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return { ms: 0 };
  if (rest === '') return bad('empty');
  let total = 0;
  while (rest !== '') {
    const m = GO_TERM.exec(rest)!;
    const [whole, intPart = '', fracPart, unit = ''] = m;
    if (intPart === '' && (fracPart === undefined || fracPart === '')) return bad('expected a number');
    if (unit === '') return bad(`missing unit after '${intPart}${fracPart === undefined ? '' : `.${fracPart}`}'`);
    const unitMs = GO_UNITS_MS[unit];
    if (unitMs === undefined) return bad(`unknown unit '${unit}' (expected ns, us, ms, s, m or h)`);
    total += Number(`${intPart === '' ? '0' : intPart}.${fracPart ?? ''}0`) * unitMs;
    rest = rest.slice(whole.length);
  }
  if (total > GO_MAX_MS) return bad('out of range');
  return { ms: sign * total };
}

const PROMETHEUS_DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const PROMETHEUS_UNITS_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1];

/** Prometheus' model.ParseDuration. */
export function parsePrometheusDuration(text: string): DurationResult {
  if (text === '') return { error: 'empty duration' };
  if (text === '0') return { ms: 0 };
  const m = PROMETHEUS_DURATION.exec(text);
  if (m === null) {
    return { error: `invalid duration '${text}': expected whole numbers with units y, w, d, h, m, s, ms in that order (e.g. 1d12h)` };
  }
  let total = 0;
  PROMETHEUS_UNITS_MS.forEach((unitMs, i) => {
    const value = m[i + 1];
    if (value !== undefined) total += Number(value) * unitMs;
  });
  return { ms: total };
}

/** A duration for people: `12h`, `1h30m`, `45s`, `250ms`. */
export function formatDuration(ms: number): string {
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let seconds = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  if (seconds > 0 || parts.length === 0) parts.push(`${seconds}s`);
  return parts.join('');
}

/**
 * One watchdog status value: `status.autocrane.io/<name>: <level>/<time>/<message>`.
 *
 * Names, levels, messages and times, and the formatting and parsing of the value.
 * Writing is strict (what we write always parses back to the same record); reading is
 * tolerant (anything found on a pod, including AutoCrane's own values, yields a record
 * and never throws).
 *
 * Pure: no I/O, no clock (time is passed in), safe to import from workflows.
 */
import { STATUS_ANNOTATION_PREFIX } from '../shared/keys';
import { qualifiedNameError, qualifiedNamePartError } from '../shared/k8s-names';

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/**
 * Why `name` cannot name a watchdog, or null if it can. The name becomes the name part
 * of `status.autocrane.io/<name>` (and of `probe.autocrane.io/<name>`), so it follows
 * Kubernetes' qualified-name rules: 1..63 characters, letters/digits at both ends,
 * letters, digits, '-', '_' and '.' inside. The full status key is checked as well.
 */
export function validateWatchdogName(name: string): string | null {
  const partError = qualifiedNamePartError(name);
  if (partError !== null) return `watchdog name '${name}' ${partError}`;
  const keyError = qualifiedNameError(`${STATUS_ANNOTATION_PREFIX}${name}`);
  return keyError === null ? null : `watchdog name '${name}' gives an invalid annotation key: ${keyError}`;
}

/** The status annotation key of watchdog `name`; throws RangeError if the name is invalid. */
export function statusAnnotationKey(name: string): string {
  const error = validateWatchdogName(name);
  if (error !== null) throw new RangeError(error);
  return `${STATUS_ANNOTATION_PREFIX}${name}`;
}

// ---------------------------------------------------------------------------
// Levels
// ---------------------------------------------------------------------------

/** The levels a watchdog may report, least to most severe. */
export const WATCHDOG_LEVELS = ['info', 'warning', 'error'] as const;
export type WatchdogLevel = (typeof WATCHDOG_LEVELS)[number];
/** A level as read back from a pod: one of ours, or 'unknown' when the value was not understood. */
export type ReadLevel = WatchdogLevel | 'unknown';

export function isWatchdogLevel(value: string): value is WatchdogLevel {
  return (WATCHDOG_LEVELS as readonly string[]).includes(value);
}

/**
 * The level named by `text`, case-insensitively ('Warning' → 'warning'), as AutoCrane's
 * post-watchdog accepted it; undefined for anything else.
 */
export function parseWatchdogLevel(text: string): WatchdogLevel | undefined {
  const lowered = text.toLowerCase();
  return isWatchdogLevel(lowered) ? lowered : undefined;
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/** Longest watchdog message, in Unicode code points. */
export const MAX_WATCHDOG_MESSAGE_LENGTH = 1024;

const CONTROL_CHARACTER = /\p{Cc}/u;
/** A run of control characters with the whitespace around it (e.g. '\\n    at ' in a stack trace). */
const CONTROL_RUNS = /\s*\p{Cc}[\p{Cc}\s]*/gu;
// In a `u` regex a well-formed surrogate pair is one code point, so \p{Cs} matches only lone halves.
const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;

function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * Why `message` cannot be written as a watchdog message, or null if it can: at most
 * MAX_WATCHDOG_MESSAGE_LENGTH code points, no control characters (newlines and tabs
 * included: the value is shown on one line by kubectl and the API), no lone surrogates.
 * Empty messages are allowed. '/' is allowed (the parser keeps it).
 */
export function validateWatchdogMessage(message: string): string | null {
  const length = codePointLength(message);
  if (length > MAX_WATCHDOG_MESSAGE_LENGTH) {
    return `watchdog message must be at most ${MAX_WATCHDOG_MESSAGE_LENGTH} characters (got ${length})`;
  }
  if (CONTROL_CHARACTER.test(message)) return 'watchdog message must not contain control characters (such as newlines)';
  if (LONE_SURROGATE.test(message)) return 'watchdog message must be well-formed Unicode';
  return null;
}

/**
 * Turns arbitrary text (e.g. a probe's error) into a valid watchdog message: each run of
 * control characters, with the whitespace around it, becomes one space; lone surrogates
 * become U+FFFD; the ends are trimmed; text longer than the limit is cut to
 * MAX_WATCHDOG_MESSAGE_LENGTH code points, the last being '…'.
 * The result always passes validateWatchdogMessage.
 */
export function sanitizeWatchdogMessage(text: string): string {
  const cleaned = text.replace(CONTROL_RUNS, ' ').replace(LONE_SURROGATES, '\uFFFD').trim();
  const codePoints = Array.from(cleaned);
  if (codePoints.length <= MAX_WATCHDOG_MESSAGE_LENGTH) return cleaned;
  return `${codePoints.slice(0, MAX_WATCHDOG_MESSAGE_LENGTH - 1).join('')}…`;
}

/** Longest message of a shortened status: what is written when the whole one would not fit on the pod. */
export const SHORT_STATUS_MESSAGE_LENGTH = 64;

/**
 * A status value (`<level>/<time>/<message>`) with its message cut to `maxLength` code points
 * (the last being '…'), for a pod whose annotations have no room for the whole message; the
 * level and time, which decisions read, are kept. A value without a message part is returned as is.
 */
export function shortenStatusValue(value: string, maxLength = SHORT_STATUS_MESSAGE_LENGTH): string {
  const firstSlash = value.indexOf('/');
  const secondSlash = firstSlash < 0 ? -1 : value.indexOf('/', firstSlash + 1);
  if (secondSlash < 0) return value;
  const message = Array.from(value.slice(secondSlash + 1));
  if (message.length <= maxLength) return value;
  return `${value.slice(0, secondSlash + 1)}${message.slice(0, Math.max(0, maxLength - 1)).join('')}…`;
}

// ---------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------

/**
 * `time` as RFC 3339 UTC to the second, e.g. 2026-11-22T04:55:35Z (milliseconds are dropped,
 * not rounded). Throws RangeError for an invalid Date or a year outside 0000..9999.
 */
export function formatStatusTime(time: Date): string {
  const ms = time.getTime();
  if (Number.isNaN(ms)) throw new RangeError('watchdog status time is an invalid Date');
  const year = time.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`watchdog status time ${year} is outside years 0000..9999`);
  // toISOString is YYYY-MM-DDTHH:mm:ss.sssZ for these years.
  return `${time.toISOString().slice(0, 19)}Z`;
}

const TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?$/;

/**
 * Parses an RFC 3339 date-time (`Z` or `±hh:mm` offset, optional fraction, 'T'/'t', 'Z'/'z').
 * Also accepts AutoCrane's own timestamps, which are UTC but carry no offset
 * (.NET's "s" format, e.g. 2021-03-01T12:34:56): a missing offset means UTC.
 * Returns undefined for anything else, including impossible dates (Feb 30) and leap
 * seconds (:60, which Date cannot represent).
 */
export function parseStatusTime(text: string): Date | undefined {
  const m = TIME_PATTERN.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, fraction, , sign, offH, offM] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const millis = fraction === undefined ? 0 : Number(fraction.padEnd(3, '0').slice(0, 3));
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return undefined;
  }
  if (sign !== undefined) {
    const offsetHours = Number(offH);
    const offsetMinutes = Number(offM);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    const offset = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
    return new Date(date.getTime() - offset * 60_000);
  }
  return date;
}

// ---------------------------------------------------------------------------
// Status values
// ---------------------------------------------------------------------------

export interface WatchdogStatus {
  level: WatchdogLevel;
  time: Date;
  message: string;
}

/**
 * `<level>/<RFC3339 UTC>/<message>`, e.g. `error/2026-11-22T04:55:35Z/HTTP 500`.
 * Throws RangeError if the level is not one of WATCHDOG_LEVELS (lowercase), the time is
 * invalid, or the message fails validateWatchdogMessage, so that every value we write
 * parses back to the same level, second and message.
 */
export function formatStatus(status: WatchdogStatus): string {
  if (!isWatchdogLevel(status.level)) {
    throw new RangeError(`watchdog level '${String(status.level)}' is not one of ${WATCHDOG_LEVELS.join(', ')}`);
  }
  const messageError = validateWatchdogMessage(status.message);
  if (messageError !== null) throw new RangeError(messageError);
  return `${status.level}/${formatStatusTime(status.time)}/${status.message}`;
}

/** A status value as read from a pod. Never thrown away: `raw` is the value as found. */
export interface ParsedStatus {
  /**
   * The level, lowercased; 'unknown' when the level is not info/warning/error or the
   * time could not be parsed (then `problem` says why).
   */
  level: ReadLevel;
  /**
   * The text before the first '/', lowercased, whatever it is ('' when the value has no
   * '/' or begins with one). This is what health aggregation and the prober's "already in
   * error" test look at, exactly as AutoCrane did: a value whose level says error counts as
   * an error even if its time is garbled.
   */
  declaredLevel: string;
  /** Present only when the time parsed. */
  time?: Date;
  /**
   * Everything after the second '/' (slashes included) when the time parsed; otherwise
   * everything after the first '/' (AutoCrane's reading), or '' when there is no '/'.
   */
  message: string;
  raw: string;
  /** Why `level` is 'unknown'; absent when the value was fully understood. */
  problem?: string;
}

/**
 * Parses a status value; never throws. The RFC 3339 time contains no '/', so the value
 * is split at its first two '/' and the message keeps any further ones. The level is
 * lowercased (AutoCrane wrote lowercase, but users may have posted 'Error').
 */
export function parseStatus(raw: string): ParsedStatus {
  const firstSlash = raw.indexOf('/');
  if (firstSlash < 0) {
    return { level: 'unknown', declaredLevel: '', message: '', raw, problem: "not of the form '<level>/<time>/<message>'" };
  }
  const declaredLevel = raw.slice(0, firstSlash).toLowerCase();
  const rest = raw.slice(firstSlash + 1);
  const secondSlash = rest.indexOf('/');
  const timeText = secondSlash < 0 ? rest : rest.slice(0, secondSlash);
  const time = parseStatusTime(timeText);

  const problems: string[] = [];
  const level = parseWatchdogLevel(declaredLevel);
  if (level === undefined) problems.push(`unknown level '${raw.slice(0, firstSlash)}'`);
  if (time === undefined) problems.push(`unparsable time '${timeText}'`);

  const message = time === undefined ? rest : secondSlash < 0 ? '' : rest.slice(secondSlash + 1);
  const parsed: ParsedStatus = { level: level ?? 'unknown', declaredLevel, message, raw };
  if (time !== undefined) parsed.time = time;
  if (problems.length > 0) {
    parsed.level = 'unknown';
    parsed.problem = problems.join('; ');
  }
  return parsed;
}

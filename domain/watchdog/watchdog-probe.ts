/**
 * Probe declarations (`probe.autocrane.io/<name>: POD_IP:<port>/<path>`), which pods the
 * prober probes, and what it writes after a probe.
 *
 * Pure: no I/O, no clock (time is passed in), safe to import from workflows.
 */
import { PROBE_ANNOTATION_PREFIX } from '../shared/keys';
import { formatStatus, sanitizeWatchdogMessage, validateWatchdogName, type ParsedStatus } from './watchdog-status';

// ---------------------------------------------------------------------------
// Probe targets
// ---------------------------------------------------------------------------

/** The literal host of a probe declaration, replaced by the pod's IP at probe time. */
export const POD_IP_PLACEHOLDER = 'POD_IP';

export interface ProbeTarget {
  port: number;
  /** Begins with '/', includes the query string if any; already URL-safe. */
  path: string;
}

export type ProbeTargetParse = ({ ok: true } & ProbeTarget) | { ok: false; reason: string };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** RFC 3986 pchar plus '/' and '?' (path and query), '%' checked separately. */
const PATH_AND_QUERY = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;

function refuse(value: string, why: string): ProbeTargetParse {
  return { ok: false, reason: `probe target '${value}' refused: ${why}` };
}

/**
 * Parses a probe declaration value: `POD_IP:<port><path>` where the path begins with '/'
 * and may have several segments and a query string (AutoCrane took one segment only).
 *
 * - Surrounding whitespace is ignored (YAML block scalars leave a trailing newline).
 * - An `http://` prefix is tolerated (AutoCrane's unanchored pattern matched it); any other
 *   scheme is refused, since probes are plain HTTP.
 * - The host must be exactly `POD_IP` (case-sensitive): a fixed IP or name would probe
 *   something other than the pod, so it is refused with a reason the prober records.
 * - Port: decimal 1..65535. Path: required (`/` alone is fine), URL characters only
 *   (non-ASCII and spaces must be percent-encoded), no `#fragment` (never sent to a server).
 */
export function parseProbeTarget(value: string): ProbeTargetParse {
  let rest = value.trim();
  if (rest.length === 0) return refuse(value, 'empty value, expected POD_IP:<port>/<path>');

  const scheme = SCHEME.exec(rest);
  if (scheme !== null) {
    if (scheme[1]?.toLowerCase() !== 'http') return refuse(value, `scheme '${scheme[1]}' is not supported, probes use plain http`);
    rest = rest.slice(scheme[0].length);
  }

  let hostEnd: number;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    hostEnd = close < 0 ? rest.length : close + 1;
  } else {
    const stop = rest.search(/[:/?#]/);
    hostEnd = stop < 0 ? rest.length : stop;
  }
  const host = rest.slice(0, hostEnd);
  if (host !== POD_IP_PLACEHOLDER) {
    return refuse(
      value,
      host.length === 0
        ? `missing host, expected ${POD_IP_PLACEHOLDER}:<port>/<path>`
        : `host must be the literal ${POD_IP_PLACEHOLDER} (replaced by the pod's IP), not '${host}'`,
    );
  }
  rest = rest.slice(hostEnd);

  if (!rest.startsWith(':')) return refuse(value, `missing port, expected ${POD_IP_PLACEHOLDER}:<port>/<path>`);
  const portEnd = rest.search(/[/?#]/);
  const portText = rest.slice(1, portEnd < 0 ? rest.length : portEnd);
  if (!/^\d+$/.test(portText)) return refuse(value, `port '${portText}' is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) return refuse(value, `port ${portText} is outside 1..65535`);

  const path = portEnd < 0 ? '' : rest.slice(portEnd);
  if (!path.startsWith('/')) return refuse(value, `missing path after the port, e.g. ${POD_IP_PLACEHOLDER}:${port}/healthz`);
  if (path.includes('#')) return refuse(value, 'a #fragment is not allowed (it is never sent to the server)');
  if (!PATH_AND_QUERY.test(path)) {
    return refuse(value, 'the path may contain only URL characters (percent-encode spaces and non-ASCII)');
  }
  if (BAD_PERCENT.test(path)) return refuse(value, "'%' in the path must start a %XX escape");
  return { ok: true, port, path };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const ZONE_ID = /^[A-Za-z0-9._~-]+$/;

/** Whether `text` is an IPv6 address (RFC 4291 text form, optional IPv4 tail and %zone). */
function isIPv6(text: string): boolean {
  const [address = '', zone, ...extra] = text.split('%');
  if (extra.length > 0 || (zone !== undefined && !ZONE_ID.test(zone))) return false;
  let groupsText = address;
  let tailGroups = 0;
  const lastColon = address.lastIndexOf(':');
  if (lastColon < 0) return false;
  const tail = address.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!IPV4.test(tail)) return false;
    groupsText = address.slice(0, lastColon + 1);
    if (!groupsText.endsWith('::')) groupsText = groupsText.slice(0, -1);
    tailGroups = 2;
  }
  const halves = groupsText.split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((h) => (h === '' ? [] : h.split(':')));
  if (!groups.every((g) => g.every((group) => HEX_GROUP.test(group)))) return false;
  const count = groups.reduce((n, g) => n + g.length, tailGroups);
  return halves.length === 2 ? count <= 7 : count === 8;
}

/**
 * The URL to GET for `target` on a pod with IP `podIP`, e.g. http://10.1.2.3:8080/healthz?x=1.
 * IPv6 addresses are bracketed (http://[fd00::5]:8080/...); a zone id's '%' is encoded.
 * Throws RangeError if `podIP` is not an IP literal (e.g. empty, when the pod has no IP yet).
 */
export function probeUrl(podIP: string, target: ProbeTarget): string {
  const ip = podIP.startsWith('[') && podIP.endsWith(']') ? podIP.slice(1, -1) : podIP;
  let host: string;
  if (IPV4.test(ip)) host = ip;
  else if (isIPv6(ip)) host = `[${ip.replace('%', '%25')}]`;
  else throw new RangeError(`pod IP '${podIP}' is not an IP address`);
  return `http://${host}:${target.port}${target.path}`;
}

export type ProbeDeclaration = { name: string; ok: true; target: ProbeTarget } | { name: string; ok: false; reason: string };

/**
 * Every `probe.autocrane.io/<name>` annotation, sorted by name (code-unit order, so the
 * same pod always gives the same list): with its target, or with the reason it is refused
 * (invalid watchdog name or invalid target). Other annotations are ignored.
 */
export function listProbes(annotations: Readonly<Record<string, string>> | null | undefined): ProbeDeclaration[] {
  const probes: ProbeDeclaration[] = [];
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(PROBE_ANNOTATION_PREFIX)) continue;
    const name = key.slice(PROBE_ANNOTATION_PREFIX.length);
    const nameError = validateWatchdogName(name);
    if (nameError !== null) {
      probes.push({ name, ok: false, reason: nameError });
      continue;
    }
    const parsed = parseProbeTarget(value);
    probes.push(
      parsed.ok ? { name, ok: true, target: { port: parsed.port, path: parsed.path } } : { name, ok: false, reason: parsed.reason },
    );
  }
  return probes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------------------
// Which pods are probed
// ---------------------------------------------------------------------------

/** The parts of a pod's status that decide whether it is probed. */
export interface ProbeEligibilityPod {
  phase?: string;
  containerStatuses?: ReadonlyArray<{ ready: boolean }>;
}

export interface ProbeEligibilityOptions {
  /** Probe pods that are not Running or not fully ready too (default false, AutoCrane's behaviour). */
  probeNotReadyPods: boolean;
}

/**
 * Whether the prober should probe this pod.
 * - Default (AutoCrane): only Running pods whose containers are all ready. A pod that reports
 *   no container statuses yet is not known to be ready, so it is not probed.
 * - probeNotReadyPods: any pod except a terminated one (Succeeded / Failed): nothing there can
 *   answer, and writing errors on a finished pod would only make it a pointless eviction target.
 * The caller still needs a pod IP to build the URL (probeUrl refuses an empty one).
 */
export function isProbeEligible(pod: ProbeEligibilityPod, options: ProbeEligibilityOptions): boolean {
  if (options.probeNotReadyPods) return pod.phase !== 'Succeeded' && pod.phase !== 'Failed';
  if (pod.phase !== 'Running') return false;
  const statuses = pod.containerStatuses ?? [];
  return statuses.length > 0 && statuses.every((c) => c.ready === true);
}

// ---------------------------------------------------------------------------
// What the prober writes
// ---------------------------------------------------------------------------

export interface ProbeResult {
  healthy: boolean;
  /** Why the probe failed (e.g. "HTTP 500", "timeout after 5s"); ignored when healthy. */
  message: string;
}

/** Message written when a passing probe clears an error (AutoCrane's wording). */
export const ERROR_CLEARED_MESSAGE = 'error cleared';
/** Message written when a failing probe gave no reason. */
export const PROBE_FAILED_MESSAGE = 'probe failed';

/**
 * The new status value the prober writes after a probe, or null to write nothing.
 * Writes happen only on a transition, like AutoCrane:
 *  - probe fails, status not already error → `error/<now>/<reason>`;
 *  - probe passes, status is error → `info/<now>/error cleared`;
 *  - otherwise null. In particular a failing probe whose reason changed while the status is
 *    already error is not rewritten: the time keeps saying when the error began, and pods
 *    are not patched on every probe (no churn, no resourceVersion conflicts).
 * "Is error" reads the declared level (case-insensitive), as the health label does, so a
 * passing probe also clears an `Error/...` or an error whose time is garbled. A missing or
 * unreadable status counts as not error. The reason is sanitised into a valid message
 * (one line, bounded length). Throws RangeError only if `now` is an invalid Date.
 */
export function decideProbeWrite(current: ParsedStatus | undefined, result: ProbeResult, now: Date): string | null {
  const isError = current?.declaredLevel === 'error';
  if (!result.healthy && !isError) {
    const reason = sanitizeWatchdogMessage(result.message);
    return formatStatus({ level: 'error', time: now, message: reason.length > 0 ? reason : PROBE_FAILED_MESSAGE });
  }
  if (result.healthy && isError) {
    return formatStatus({ level: 'info', time: now, message: ERROR_CLEARED_MESSAGE });
  }
  return null;
}

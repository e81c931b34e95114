/**
 * The data deployment contract: what the data repository publishes, what the
 * orchestrator asks of a pod, and what the pod's data deployer reports. The keys are
 * AutoCrane's (domain/shared/keys.ts); the values are small JSON documents, parsed here once and
 * refused with a message that says what is wrong.
 *
 *   request.data.autocrane.io/<source>: {"version":"<id>","sha256":"<64 hex>","url":"<archive URL>"}
 *   status.data.autocrane.io/<source>:  {"version":"<id>","sha256":"<64 hex>","activatedAt":"<RFC 3339>"}
 *                                       (+ "error": {"version","message","at"} when the last request failed;
 *                                        version/sha256/activatedAt then still describe what is active, or are
 *                                        absent when nothing is)
 *
 * Pure: safe to import from workflows.
 */
import {
  DATA_DEPS_ANNOTATION,
  DATA_LOCATION_ANNOTATION,
  DATA_REQUEST_ANNOTATION_PREFIX,
  DATA_SOURCES_ANNOTATION,
  DATA_STATUS_ANNOTATION_PREFIX,
} from '../shared/keys';
import { dns1123LabelError } from '../shared/k8s-names';

/** A source name: a DNS label (it is an annotation key segment and a folder name). */
export function sourceNameError(name: string): string | null {
  const problem = dns1123LabelError(name);
  return problem === null ? null : `'${name}' is not a source name: ${problem}`;
}

/**
 * A version ID: `<UTC time, yyyymmddThhmmssZ>-<first 12 hex of the archive's SHA-256>`, so IDs
 * sort by creation time and name their content.
 */
export const VERSION_ID = /^\d{8}T\d{6}Z-[0-9a-f]{12}$/;
export const SHA256_HEX = /^[0-9a-f]{64}$/;

export function versionId(createdAt: Date, sha256: string): string {
  const stamp = createdAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${sha256.slice(0, 12)}`;
}

export const versionIdError = (id: string): string | null =>
  VERSION_ID.test(id) ? null : `'${id}' is not a version ID (expected yyyymmddThhmmssZ-<12 hex>)`;

/** One version of a source in the repository's manifest. */
export interface DataVersion {
  id: string;
  /** Lower-case hex SHA-256 of the archive (a gzip-compressed tar). */
  sha256: string;
  size: number;
  /** RFC 3339. */
  createdAt: string;
  /** Where it came from: the git commit, the URL's ETag or Last-Modified, the folder's digest. */
  origin: { kind: 'git' | 'http' | 'local'; ref: string };
}

export interface DataRequest {
  version: string;
  sha256: string;
  url: string;
}

export interface DataStatus {
  version?: string;
  sha256?: string;
  activatedAt?: string;
  error?: { version: string; message: string; at: string };
}

export const dataRequestKey = (source: string) => `${DATA_REQUEST_ANNOTATION_PREFIX}${source}`;
export const dataStatusKey = (source: string) => `${DATA_STATUS_ANNOTATION_PREFIX}${source}`;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(text: string, what: string): Parsed<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `${what} is not JSON: ${(err as Error).message}` };
  }
  return isObject(value) ? { ok: true, value } : { ok: false, problem: `${what} is not a JSON object` };
}

export function parseDataRequest(text: string): Parsed<DataRequest> {
  const json = parseJson(text, 'the data request');
  if (!json.ok) return json;
  const { version, sha256, url } = json.value;
  if (typeof version !== 'string' || versionIdError(version))
    return { ok: false, problem: `version: ${typeof version === 'string' ? versionIdError(version) : 'required'}` };
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) return { ok: false, problem: 'sha256: expected 64 lower-case hex digits' };
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) return { ok: false, problem: 'url: expected an http(s) URL' };
  return { ok: true, value: { version, sha256, url } };
}

export const formatDataRequest = (request: DataRequest): string =>
  JSON.stringify({ version: request.version, sha256: request.sha256, url: request.url });

export function parseDataStatus(text: string): Parsed<DataStatus> {
  const json = parseJson(text, 'the data status');
  if (!json.ok) return json;
  const { version, sha256, activatedAt, error } = json.value;
  const status: DataStatus = {};
  if (version !== undefined) {
    if (typeof version !== 'string' || versionIdError(version)) return { ok: false, problem: 'version: not a version ID' };
    status.version = version;
  }
  if (sha256 !== undefined) {
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) return { ok: false, problem: 'sha256: expected 64 lower-case hex digits' };
    status.sha256 = sha256;
  }
  if (activatedAt !== undefined) {
    if (typeof activatedAt !== 'string' || Number.isNaN(Date.parse(activatedAt)))
      return { ok: false, problem: 'activatedAt: expected an RFC 3339 time' };
    status.activatedAt = activatedAt;
  }
  if (error !== undefined) {
    if (!isObject(error) || typeof error.version !== 'string' || typeof error.message !== 'string' || typeof error.at !== 'string') {
      return { ok: false, problem: 'error: expected {version, message, at}' };
    }
    status.error = { version: error.version, message: error.message, at: error.at };
  }
  return { ok: true, value: status };
}

export const formatDataStatus = (status: DataStatus): string => JSON.stringify(status);

/** Whether `status` acknowledges `request`: that exact version and hash is active. */
export const acknowledges = (status: DataStatus | undefined, request: Pick<DataRequest, 'version' | 'sha256'>): boolean =>
  status?.version === request.version && status.sha256 === request.sha256;

/** A comma list annotation (`store.autocrane.io/data`, `.../deps`): trimmed, empties dropped, de-duplicated. */
export function parseSourceList(text: string | undefined): string[] {
  if (text === undefined) return [];
  return [
    ...new Set(
      text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
}

/** What a pod declares about data. */
export interface PodDataDeclaration {
  location: string | null;
  consumes: string[];
  vouchesFor: string[];
}

export function podDataDeclaration(annotations: Readonly<Record<string, string>> | undefined): PodDataDeclaration {
  return {
    location: annotations?.[DATA_LOCATION_ANNOTATION] ?? null,
    consumes: parseSourceList(annotations?.[DATA_SOURCES_ANNOTATION]),
    vouchesFor: parseSourceList(annotations?.[DATA_DEPS_ANNOTATION]),
  };
}

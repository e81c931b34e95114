/**
 * Applying a rollout's change to a pod template, comparing templates, and hashing them.
 *
 * Templates are plain JSON objects as the Kubernetes API returns them
 * (`{metadata?, spec: {containers, initContainers?, …}}`); inputs are never modified.
 *
 * Choices (docs/rollouts.md):
 *  - images and env edits apply to `containers` and `initContainers` alike (native sidecars
 *    are init containers); Kubernetes requires container names to be unique across both, so a
 *    name always means one container. Names found in neither are an error naming them all.
 *  - Setting a variable replaces its first entry in place (a `valueFrom` becomes a plain
 *    `value`) and drops later entries of the same name; a new variable is appended, so it may
 *    refer to earlier ones with $(VAR). null removes every entry of that name; removing a
 *    variable that is not there is not an error.
 *  - templatesEqual ignores key order and empty values (null, {}, [] and absent are the same),
 *    as the API server drops or adds these freely; it does not know Kubernetes' defaults, so
 *    compare templates that both come back from the API.
 *
 * Pure: no I/O, safe to import from workflows.
 */
import { formatIssuePath, type RolloutChange } from './rollout-spec';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type PodTemplate = Record<string, unknown>;

interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  [key: string]: unknown;
}

interface EnvVar {
  name: string;
  value?: string;
  [key: string]: unknown;
}

export type TemplateChangeResult =
  { ok: true; template: PodTemplate; changed: boolean } | { ok: false; error: string; unknownContainers: string[] };

const CONTAINER_LISTS = ['containers', 'initContainers'] as const;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A deep copy of JSON data (structuredClone is not available in every workflow sandbox). */
const copyJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The containers and init containers of a template, in that order (live objects of `template`). */
function containersOf(template: PodTemplate): Container[] {
  const spec = template.spec;
  if (!isObject(spec)) return [];
  return CONTAINER_LISTS.flatMap((list) => {
    const items = spec[list];
    return Array.isArray(items) ? items.filter((c): c is Container => isObject(c) && typeof c.name === 'string') : [];
  });
}

/** Names of the containers and init containers of a template. */
export function containerNames(template: PodTemplate): string[] {
  return containersOf(template).map((c) => c.name);
}

function setEnv(container: Container, edits: Record<string, string | null>): void {
  let env: EnvVar[] = Array.isArray(container.env) ? container.env : [];
  for (const [name, value] of Object.entries(edits)) {
    if (value === null) {
      env = env.filter((entry) => entry.name !== name);
      continue;
    }
    const first = env.findIndex((entry) => entry.name === name);
    if (first < 0) {
      env.push({ name, value });
    } else {
      env = env.filter((entry, index) => entry.name !== name || index === first);
      env[first] = { name, value };
    }
  }
  if (env.length === 0) delete container.env;
  else container.env = env;
}

/**
 * The template with `change` applied. A whole-template change returns that template (a copy).
 * Fails, changing nothing, when the change names containers the template does not have.
 * `changed` is false when the result is templatesEqual to the input.
 */
export function applyTemplateChange(template: PodTemplate, change: RolloutChange): TemplateChangeResult {
  if (change.template !== undefined) {
    const replacement = copyJson(change.template) as PodTemplate;
    return { ok: true, template: replacement, changed: !templatesEqual(template, replacement) };
  }
  const result = copyJson(template);
  const byName = new Map(containersOf(result).map((c) => [c.name, c]));
  const named = [...Object.keys(change.images ?? {}), ...Object.keys(change.env ?? {})];
  const unknown = [...new Set(named.filter((name) => !byName.has(name)))].sort();
  if (unknown.length > 0) {
    const known = [...byName.keys()];
    const list = unknown.map((n) => `'${n}'`).join(', ');
    return {
      ok: false,
      error: `the pod template has no container ${list} (it has ${known.length === 0 ? 'none' : known.map((n) => `'${n}'`).join(', ')})`,
      unknownContainers: unknown,
    };
  }
  for (const [name, image] of Object.entries(change.images ?? {})) byName.get(name)!.image = image;
  for (const [name, edits] of Object.entries(change.env ?? {})) setEnv(byName.get(name)!, edits);
  return { ok: true, template: result, changed: !templatesEqual(template, result) };
}

/**
 * Label keys of `matchLabels` that the template's labels do not carry with the same value:
 * a template that fails here would be refused by the API server (or orphan its pods).
 */
export function selectorMismatches(template: PodTemplate, matchLabels: Readonly<Record<string, string>>): string[] {
  const metadata = template.metadata;
  const labels = isObject(metadata) && isObject(metadata.labels) ? metadata.labels : {};
  return Object.entries(matchLabels)
    .filter(([key, value]) => labels[key] !== value)
    .map(([key, value]) => `${key}=${value}`);
}

// ---------------------------------------------------------------------------
// Comparison and hashing
// ---------------------------------------------------------------------------

const isEmpty = (value: unknown): boolean =>
  value === null ||
  value === undefined ||
  (Array.isArray(value) && value.length === 0) ||
  (isObject(value) && Object.keys(value).length === 0);

/** `value` with object keys sorted and empty values (null, {}, []) dropped from objects, recursively. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const normalized = normalize(value[key]);
    if (!isEmpty(normalized)) out[key] = normalized;
  }
  return out;
}

/** JSON of `value` with sorted keys and without empty values: equal for templatesEqual templates. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalize(value)) ?? 'null';
}

/** Whether two templates are the same up to key order and empty values. */
export function templatesEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** UTF-8 bytes of a string (TextEncoder is not available in every workflow sandbox). */
function utf8(text: string): number[] {
  const bytes: number[] = [];
  for (const char of text) {
    let cp = char.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // a lone surrogate, as TextEncoder encodes it
    if (cp < 0x80) bytes.push(cp);
    else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return bytes;
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** FNV-1a, 64 bits, of a string's UTF-8 bytes, as 16 lowercase hex digits. */
export function fnv1a64(text: string): string {
  let hash = FNV64_OFFSET;
  for (const byte of utf8(text)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV64_PRIME) & MASK64;
  }
  return hash.toString(16).padStart(16, '0');
}

/** Length of templateHash: 40 bits, plenty to tell one workload's versions apart. */
export const TEMPLATE_HASH_LENGTH = 10;

/**
 * A short, stable hash of a template for labels and names: the first 10 hex digits of
 * FNV-1a 64 over canonicalJson. templatesEqual templates hash alike, on any machine.
 */
export function templateHash(template: unknown): string {
  return fnv1a64(canonicalJson(template)).slice(0, TEMPLATE_HASH_LENGTH);
}

/** Why a change cannot be rolled out, at the spec's field path. */
export interface ChangeProblem {
  field: string;
  message: string;
}

/**
 * The change applied to a workload's live template, or every reason it cannot be rolled out:
 * unknown containers (one problem per field naming one), a change that alters nothing, a new
 * template its selector would not match. prepareRollout and the API's start judge a change by
 * this one function; `what` names the workload in the messages ("Deployment shop/web").
 */
export function checkTemplateChange(
  template: PodTemplate,
  matchLabels: Record<string, string>,
  change: RolloutChange,
  what: string,
): { ok: true; template: PodTemplate } | { ok: false; problems: ChangeProblem[] } {
  const changed = applyTemplateChange(template, change);
  if (!changed.ok) {
    const problems = changed.unknownContainers.flatMap((name) =>
      (['images', 'env'] as const)
        .filter((part) => change[part]?.[name] !== undefined)
        .map((part) => ({ field: formatIssuePath(['change', part, name]), message: `${what}: ${changed.error}` })),
    );
    return { ok: false, problems };
  }
  if (!changed.changed)
    return { ok: false, problems: [{ field: 'change', message: `the change leaves the pod template of ${what} as it is` }] };
  const mismatched = selectorMismatches(changed.template, matchLabels);
  if (mismatched.length > 0) {
    const field = change.template === undefined ? 'change' : 'change.template.metadata.labels';
    return {
      ok: false,
      problems: [
        { field, message: `the new template lacks the selector's labels ${mismatched.join(', ')}: its pods would not belong to ${what}` },
      ],
    };
  }
  return { ok: true, template: changed.template };
}

/**
 * The rollout spec a `rollout start` sends: read from a file (-f, JSON or YAML) or built from
 * flags (--target, --image, --env, --stage, --approval and the gate options), then checked with
 * the API's own parser so every problem is reported at once, with its field path.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { dns1123LabelError, dns1123SubdomainError } from '../domain/shared/k8s-names';
import {
  envVarNameError,
  imageReferenceError,
  NO_DATA_POLICIES,
  parseRolloutSpec,
  ROLLBACK_POLICIES,
  WORKLOAD_KINDS,
  type RolloutSpecInput,
  type RolloutTarget,
  type WorkloadKind,
} from '../domain/rollout/rollout-spec';
import { parseDuration, parseNamespace } from './options';

// ---------------------------------------------------------------------------
// Flag parsers (each throws InvalidArgumentError: a usage error, exit 2)
// ---------------------------------------------------------------------------

const KIND_NAMES: Record<string, WorkloadKind> = {
  deployment: 'Deployment',
  deploy: 'Deployment',
  statefulset: 'StatefulSet',
  sts: 'StatefulSet',
};

/** `shop/Deployment/web` (kind in any case, or deploy/sts). */
export function parseTarget(value: string): RolloutTarget {
  const parts = value.split('/');
  const kind = KIND_NAMES[(parts[1] ?? '').toLowerCase()];
  if (parts.length !== 3 || kind === undefined)
    throw new InvalidArgumentError(
      `Expected <namespace>/<Kind>/<name> with Kind one of ${WORKLOAD_KINDS.join(', ')}, e.g. shop/Deployment/web.`,
    );
  const [namespace, , name] = parts as [string, string, string];
  parseNamespace(namespace);
  const nameProblem = dns1123SubdomainError(name);
  if (nameProblem !== null) throw new InvalidArgumentError(`'${name}' is not a workload name: ${nameProblem}.`);
  return { namespace, kind, name };
}

const containerName = (name: string): string => {
  const problem = dns1123LabelError(name);
  if (problem !== null) throw new InvalidArgumentError(`'${name}' is not a container name: ${problem}.`);
  return name;
};

/** `web=shop/web:2`. */
export function parseImage(value: string): [container: string, image: string] {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('Expected <container>=<image>, e.g. web=registry.example/shop/web:2.');
  const image = value.slice(at + 1);
  const problem = imageReferenceError(image);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return [containerName(value.slice(0, at)), image];
}

/** `web:LOG_LEVEL=debug` sets, `web:LOG_LEVEL-` removes. */
export function parseEnv(value: string): [container: string, name: string, value: string | null] {
  const match = /^([^:]+):([^=]+?)(?:=(.*)|(-))$/s.exec(value);
  if (match === null)
    throw new InvalidArgumentError('Expected <container>:<NAME>=<value> to set a variable or <container>:<NAME>- to remove it.');
  const [, container, name, text] = match as unknown as [string, string, string, string | undefined];
  const problem = envVarNameError(name);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return [containerName(container), name, text ?? null];
}

/** `1:600:rollback`: stage number (from 1), approval timeout, action on timeout (proceed or rollback). */
export function parseApproval(value: string): { stage: number; timeoutSeconds: number; onTimeout: 'proceed' | 'rollback' } {
  const match = /^(\d+):([^:]+)(?::(proceed|rollback))?$/.exec(value);
  if (match === null)
    throw new InvalidArgumentError('Expected <stage>:<timeout>[:proceed|rollback], e.g. 1:10m:rollback (stages count from 1).');
  const stage = Number(match[1]);
  if (stage < 1) throw new InvalidArgumentError('Stages count from 1.');
  return {
    stage,
    timeoutSeconds: parseDuration(match[2] as string, 'an approval timeout'),
    onTimeout: (match[3] ?? 'rollback') as 'proceed' | 'rollback',
  };
}

// ---------------------------------------------------------------------------
// The spec, from a file or from flags
// ---------------------------------------------------------------------------

export interface SpecFlags {
  file?: string;
  target?: RolloutTarget;
  image?: [string, string][];
  env?: [string, string, string | null][];
  stage?: { replicas: string | number; bakeSeconds: number }[];
  approval?: { stage: number; timeoutSeconds: number; onTimeout: 'proceed' | 'rollback' }[];
  maxErrorPods?: number;
  minReady?: number;
  watchdog?: string[];
  onNoData?: string;
  progressDeadline?: number;
  rollback?: string;
  requestId?: string;
  supersede?: boolean;
}

/** Flags that describe the spec itself, and so cannot be mixed with -f. */
const SPEC_FLAGS: Record<string, string> = {
  target: '--target',
  image: '--image',
  env: '--env',
  stage: '--stage',
  approval: '--approval',
  maxErrorPods: '--max-error-pods',
  minReady: '--min-ready',
  watchdog: '--watchdog',
  onNoData: '--on-no-data',
  progressDeadline: '--progress-deadline',
  rollback: '--rollback',
};

/** A usage problem with the spec as given; the command reports it as a usage error. */
export class SpecInputError extends Error {}

/** The spec file's content: JSON, or YAML (a .yaml/.yml file, or any content that is not JSON). */
export async function parseSpecText(text: string, fileName: string): Promise<unknown> {
  const extension = extname(fileName).toLowerCase();
  if (extension !== '.yaml' && extension !== '.yml') {
    try {
      return JSON.parse(text);
    } catch (err) {
      if (extension === '.json') throw new SpecInputError(`${fileName}: not valid JSON: ${(err as Error).message}`);
    }
  }
  // client-node's YAML parser (js-yaml, safe schema): no dependency of our own for it.
  const { loadYaml } = await import('@kubernetes/client-node');
  try {
    return loadYaml(text);
  } catch (err) {
    throw new SpecInputError(`${fileName}: neither JSON nor YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

function specFromFlags(flags: SpecFlags): RolloutSpecInput {
  if (flags.target === undefined)
    throw new SpecInputError('give the spec with -f <file>, or at least --target, --image (or --env) and --stage');
  const change: RolloutSpecInput['change'] = {};
  for (const [container, image] of flags.image ?? []) change.images = { ...change.images, [container]: image };
  for (const [container, name, value] of flags.env ?? [])
    change.env = { ...change.env, [container]: { ...change.env?.[container], [name]: value } };
  const stages = (flags.stage ?? []).map((stage) => ({ ...stage })) as RolloutSpecInput['stages'];
  for (const { stage, timeoutSeconds, onTimeout } of flags.approval ?? []) {
    const target = stages[stage - 1];
    if (target === undefined)
      throw new SpecInputError(`--approval ${stage}:…: there is no stage ${stage} (${stages.length} --stage given; stages count from 1)`);
    target.approval = { timeoutSeconds, onTimeout };
  }
  const gate: NonNullable<RolloutSpecInput['gate']> = {};
  if (flags.maxErrorPods !== undefined) gate.maxErrorPods = flags.maxErrorPods;
  if (flags.minReady !== undefined) gate.minReadySeconds = flags.minReady;
  if (flags.watchdog !== undefined) gate.watchdogs = flags.watchdog;
  if (flags.onNoData !== undefined) gate.noData = flags.onNoData as (typeof NO_DATA_POLICIES)[number];
  if (flags.progressDeadline !== undefined) gate.progressDeadlineSeconds = flags.progressDeadline;
  return {
    target: flags.target,
    change,
    stages,
    ...(Object.keys(gate).length > 0 && { gate }),
    ...(flags.rollback !== undefined && { rollback: flags.rollback as (typeof ROLLBACK_POLICIES)[number] }),
  };
}

/**
 * The request to send: the file's spec or one built from the flags, with --request-id and
 * --supersede on top; checked with the API's parser so every problem is reported at once.
 */
export async function buildSpec(
  flags: SpecFlags,
  readFile: (path: string) => string = (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
): Promise<Record<string, unknown>> {
  let spec: Record<string, unknown>;
  if (flags.file !== undefined) {
    const mixed = Object.keys(SPEC_FLAGS).filter((key) => flags[key as keyof SpecFlags] !== undefined);
    if (mixed.length > 0)
      throw new SpecInputError(`-f and ${mixed.map((key) => SPEC_FLAGS[key]).join(', ')} cannot be combined: put everything in the file`);
    let text: string;
    try {
      text = readFile(flags.file);
    } catch (err) {
      throw new SpecInputError(`cannot read ${flags.file}: ${(err as Error).message}`);
    }
    const name = flags.file === '-' ? 'standard input' : flags.file;
    const content = await parseSpecText(text, name);
    if (typeof content !== 'object' || content === null || Array.isArray(content))
      throw new SpecInputError(`${name}: expected an object (a rollout spec)`);
    spec = content as Record<string, unknown>;
  } else {
    spec = specFromFlags(flags) as unknown as Record<string, unknown>;
  }
  if (flags.requestId !== undefined) spec = { ...spec, requestId: flags.requestId };
  if (flags.supersede === true) spec = { ...spec, supersede: true };
  const parsed = parseRolloutSpec(spec);
  if (!parsed.ok)
    throw new SpecInputError(
      `invalid rollout spec:\n${parsed.problems.map((p) => `  ${p.path === '' ? '(spec)' : p.path}: ${p.message}`).join('\n')}`,
    );
  return spec;
}

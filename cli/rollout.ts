/**
 * `autocrane rollout`: start, follow and steer staged rollouts through the REST API.
 *
 *   autocrane rollout start -f spec.json|spec.yaml|- [--request-id <id>] [--supersede] [--watch]
 *   autocrane rollout start --target <ns>/<Kind>/<name> --image <container>=<image> ... --stage <share>:<bake> ... [options]
 *   autocrane rollout status <id> [--watch]
 *   autocrane rollout list [--namespace <ns>] [--state <state>]
 *   autocrane rollout pause|resume|approve|abort|promote <id> [--reason <text>]
 *
 * Every command takes --api-url, --token and --json. Stages are numbered from 1 in the
 * output and in --approval; the JSON (the spec's stages[i], the API's `stage`) counts from 0.
 * The spec is checked here with the API's own parser, so every problem is listed at once,
 * with its field path, before anything is sent.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { RolloutListBody, RolloutStartedBody, RolloutStatusBody } from '../api/rollouts';
import { dns1123LabelError, dns1123SubdomainError } from '../domain/k8s-names';
import { isTerminal, ROLLOUT_STATES, ROLLOUT_CONTROLS, type Control, type RolloutState } from '../domain/stage-controls';
import { describeTarget } from '../domain/rollout-summary';
import {
  envVarNameError,
  imageReferenceError,
  NO_DATA_POLICIES,
  parseRolloutSpec,
  ROLLBACK_POLICIES,
  ROLLOUT_LIMITS,
  WORKLOAD_KINDS,
  type RolloutSpecInput,
  type RolloutTarget,
  type WorkloadKind,
} from '../domain/rollout-spec';
import { MAX_CONTROL_REASON_LENGTH, type RolloutDecision } from '../workflows/rollout-messages';
import { ApiCallError, callApi, report, table, targetOf, withConnectionOptions, type ApiTarget, type ConnectionOptions } from './api-client';
import { parseNamespace } from './repair';
import { ROLLOUT_ID_PATTERN } from '../domain/rollout-request';

// ---------------------------------------------------------------------------
// Argument parsers (each throws InvalidArgumentError: a usage error, exit 2)
// ---------------------------------------------------------------------------

export function parseRolloutId(value: string): string {
  if (!ROLLOUT_ID_PATTERN.test(value)) throw new InvalidArgumentError('Expected a rollout ID, as `rollout start` prints it (e.g. 3f9a0c1b2d4e).');
  return value;
}

const KIND_NAMES: Record<string, WorkloadKind> = { deployment: 'Deployment', deploy: 'Deployment', statefulset: 'StatefulSet', sts: 'StatefulSet' };

/** `shop/Deployment/web` (kind in any case, or deploy/sts). */
export function parseTarget(value: string): RolloutTarget {
  const parts = value.split('/');
  const kind = KIND_NAMES[(parts[1] ?? '').toLowerCase()];
  if (parts.length !== 3 || kind === undefined) throw new InvalidArgumentError(`Expected <namespace>/<Kind>/<name> with Kind one of ${WORKLOAD_KINDS.join(', ')}, e.g. shop/Deployment/web.`);
  const [namespace, , name] = parts as [string, string, string];
  const namespaceProblem = dns1123LabelError(namespace);
  if (namespaceProblem !== null) throw new InvalidArgumentError(`'${namespace}' is not a namespace name: ${namespaceProblem}.`);
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
  if (match === null) throw new InvalidArgumentError('Expected <container>:<NAME>=<value> to set a variable or <container>:<NAME>- to remove it.');
  const [, container, name, text] = match as unknown as [string, string, string, string | undefined];
  const problem = envVarNameError(name);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return [containerName(container), name, text ?? null];
}

const DURATION = /^(\d+)(s|m|h)?$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

/** Seconds from `90`, `90s`, `5m` or `1h`. */
export function parseDuration(value: string, what = 'a duration'): number {
  const match = DURATION.exec(value.trim());
  if (match === null) throw new InvalidArgumentError(`Expected ${what}: whole seconds, or a number followed by s, m or h (e.g. 90, 5m, 1h).`);
  return Number(match[1]) * UNIT_SECONDS[(match[2] ?? 's') as keyof typeof UNIT_SECONDS];
}

/** `25%:60` or `3:5m`: the share (a percentage or a replica count) and the bake time. */
export function parseStage(value: string): { replicas: string | number; bakeSeconds: number } {
  const match = /^([^:]+):(.+)$/.exec(value);
  if (match === null) throw new InvalidArgumentError('Expected <share>:<bake>, e.g. 25%:60 (25% of the replicas, baked 60 s) or 3:5m (3 replicas, 5 minutes).');
  const share = match[1] as string;
  let replicas: string | number;
  if (/^\d+%$/.test(share)) replicas = share;
  else if (/^\d+$/.test(share)) replicas = Number(share);
  else throw new InvalidArgumentError(`'${share}' is not a share: expected a percentage (25%) or a replica count (3).`);
  return { replicas, bakeSeconds: parseDuration(match[2] as string, 'a bake time') };
}

/** `1:600:rollback`: stage number (from 1), approval timeout, action on timeout (proceed or rollback). */
export function parseApproval(value: string): { stage: number; timeoutSeconds: number; onTimeout: 'proceed' | 'rollback' } {
  const match = /^(\d+):([^:]+)(?::(proceed|rollback))?$/.exec(value);
  if (match === null) throw new InvalidArgumentError('Expected <stage>:<timeout>[:proceed|rollback], e.g. 1:10m:rollback (stages count from 1).');
  const stage = Number(match[1]);
  if (stage < 1) throw new InvalidArgumentError('Stages count from 1.');
  return { stage, timeoutSeconds: parseDuration(match[2] as string, 'an approval timeout'), onTimeout: (match[3] ?? 'rollback') as 'proceed' | 'rollback' };
}

const oneOf =
  <T extends string>(values: readonly T[]) =>
  (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`Expected one of ${values.join(', ')}.`);
    return value as T;
  };

export const parseState = oneOf<RolloutState>(ROLLOUT_STATES);

function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('Expected a whole number.');
  return Number(value);
}

function parseReason(value: string): string {
  if (value.length > MAX_CONTROL_REASON_LENGTH) throw new InvalidArgumentError(`At most ${MAX_CONTROL_REASON_LENGTH} characters.`);
  return value;
}

const collect =
  <T>(parse: (value: string) => T) =>
  (value: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(value)];

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
  if (flags.target === undefined) throw new SpecInputError('give the spec with -f <file>, or at least --target, --image (or --env) and --stage');
  const change: RolloutSpecInput['change'] = {};
  for (const [container, image] of flags.image ?? []) change.images = { ...change.images, [container]: image };
  for (const [container, name, value] of flags.env ?? []) change.env = { ...change.env, [container]: { ...change.env?.[container], [name]: value } };
  const stages = (flags.stage ?? []).map((stage) => ({ ...stage })) as RolloutSpecInput['stages'];
  for (const { stage, timeoutSeconds, onTimeout } of flags.approval ?? []) {
    const target = stages[stage - 1];
    if (target === undefined) throw new SpecInputError(`--approval ${stage}:…: there is no stage ${stage} (${stages.length} --stage given; stages count from 1)`);
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
export async function buildSpec(flags: SpecFlags, readFile: (path: string) => string = (path) => readFileSync(path === '-' ? 0 : path, 'utf8')): Promise<Record<string, unknown>> {
  let spec: Record<string, unknown>;
  if (flags.file !== undefined) {
    const mixed = Object.keys(SPEC_FLAGS).filter((key) => flags[key as keyof SpecFlags] !== undefined);
    if (mixed.length > 0) throw new SpecInputError(`-f and ${mixed.map((key) => SPEC_FLAGS[key]).join(', ')} cannot be combined: put everything in the file`);
    let text: string;
    try {
      text = readFile(flags.file);
    } catch (err) {
      throw new SpecInputError(`cannot read ${flags.file}: ${(err as Error).message}`);
    }
    const name = flags.file === '-' ? 'standard input' : flags.file;
    const content = await parseSpecText(text, name);
    if (typeof content !== 'object' || content === null || Array.isArray(content)) throw new SpecInputError(`${name}: expected an object (a rollout spec)`);
    spec = content as Record<string, unknown>;
  } else {
    spec = specFromFlags(flags) as unknown as Record<string, unknown>;
  }
  if (flags.requestId !== undefined) spec = { ...spec, requestId: flags.requestId };
  if (flags.supersede === true) spec = { ...spec, supersede: true };
  const parsed = parseRolloutSpec(spec);
  if (!parsed.ok) throw new SpecInputError(`invalid rollout spec:\n${parsed.problems.map((p) => `  ${p.path === '' ? '(spec)' : p.path}: ${p.message}`).join('\n')}`);
  return spec;
}

// ---------------------------------------------------------------------------
// API calls
// ---------------------------------------------------------------------------

const rolloutPath = (id: string) => `/v1/rollouts/${encodeURIComponent(id)}`;

export const startRollout = (target: ApiTarget, spec: unknown) => callApi<RolloutStartedBody>(target, 'POST', '/v1/rollouts', spec);
export const getRollout = (target: ApiTarget, id: string) => callApi<RolloutStatusBody>(target, 'GET', rolloutPath(id));
export const listRollouts = (target: ApiTarget, filter: { namespace?: string | undefined; state?: string | undefined }) => {
  const query = new URLSearchParams();
  if (filter.namespace !== undefined) query.set('namespace', filter.namespace);
  if (filter.state !== undefined) query.set('state', filter.state);
  const text = query.toString();
  return callApi<RolloutListBody>(target, 'GET', `/v1/rollouts${text === '' ? '' : `?${text}`}`);
};
export const controlRollout = (target: ApiTarget, id: string, action: string, reason: string | undefined) =>
  callApi<RolloutStatusBody>(target, 'POST', `${rolloutPath(id)}/${action}`, reason === undefined ? {} : { reason });

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

const stageNumber = (index: number | null) => (index === null || index < 0 ? '-' : String(index + 1));
const seconds = (s: number) => (s === 0 ? '0' : s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`);

const section = (title: string, rows: string[][], empty: string) => `\n${title}\n${rows.length <= 1 ? `  ${empty}` : table(rows).replace(/^/gm, '  ')}\n`;

export function formatStarted(body: RolloutStartedBody): string {
  const how = body.existing ? 'already started by this request ID' : body.supersededRolloutId ? `started, superseding ${body.supersededRolloutId}` : 'started';
  return [
    `Rollout ${body.rolloutId} ${how}.`,
    `Workflow:   ${body.workflowId}`,
    `Status:     autocrane rollout status ${body.rolloutId} --watch   (GET ${body.statusUrl})`,
    ...(body.temporalUiUrl ? [`Temporal:   ${body.temporalUiUrl}`] : []),
    '',
  ].join('\n');
}

function formatPods(body: RolloutStatusBody): string {
  const { updated, ready, erroring } = body.pods;
  const erroringText = erroring.length === 0 ? '0 erroring' : `${erroring.length} erroring (${erroring.join(', ')})`;
  return `${updated} updated, ${ready} ready, ${erroringText}${body.podsLive ? '  (live)' : ''}`;
}

/** One line for a decision: time, stage (from 1), kind, reason and who asked. */
export function formatDecision(d: RolloutDecision): string {
  return `${d.at}  ${d.stage === null ? '' : `stage ${stageNumber(d.stage)}  `}${d.kind}: ${d.reason}${d.by ? ` (by ${d.by})` : ''}`;
}

export function formatRolloutStatus(body: RolloutStatusBody): string {
  const stageCount = body.stages.length;
  const where = body.stage >= 0 && stageCount > 0 ? ` (stage ${body.stage + 1} of ${stageCount})` : '';
  const head = [
    `Rollout:    ${body.rolloutId}   ${describeTarget(body.target)}`,
    `Spec:       ${body.summary}`,
    `State:      ${body.state}${where}${body.supersededBy ? `, superseded by ${body.supersededBy}` : ''}`,
    `Replicas:   ${body.totalReplicas ?? '-'}`,
    `Pods:       ${formatPods(body)}`,
    `Started:    ${body.startedAt}${body.endedAt ? `   ended ${body.endedAt}` : ''}`,
    ...(body.requestId ? [`Request ID: ${body.requestId}`] : []),
    `Workflow:   ${body.workflowId}`,
    ...(body.temporalUiUrl ? [`Temporal:   ${body.temporalUiUrl}`] : []),
  ].join('\n');
  const stages = [
    ['STAGE', 'SHARE', 'PODS', 'BAKE', 'APPROVAL', 'RESULT', 'STARTED', 'ENDED', 'REASON'],
    ...body.stages.map((s) => [
      String(s.index + 1),
      s.replicas,
      s.count === null ? '-' : String(s.count),
      seconds(s.bakeSeconds),
      s.approval ? `${s.approval.onTimeout} after ${seconds(s.approval.timeoutSeconds)}` : '-',
      s.result,
      s.startedAt ?? '-',
      s.endedAt ?? '-',
      s.reason ?? '',
    ]),
  ];
  const dropped = body.decisionsDropped > 0 ? `  (${body.decisionsDropped} earlier decisions not kept)\n` : '';
  const decisions = body.decisions.length === 0 ? '  none\n' : body.decisions.map((d) => `  ${formatDecision(d)}\n`).join('');
  return `${head}\n${section('Stages:', stages, 'none')}\nDecisions:\n${dropped}${decisions}`;
}

export function formatRolloutList(body: RolloutListBody): string {
  if (body.rollouts.length === 0) return 'No rollouts.\n';
  const rows = [
    ['ROLLOUT', 'TARGET', 'STATE', 'STAGE', 'STARTED', 'ENDED', 'SPEC'],
    ...body.rollouts.map((r) => [
      r.rolloutId,
      `${r.target.namespace}/${r.target.kind}/${r.target.name}`,
      r.state ?? r.executionStatus,
      stageNumber(r.stage),
      r.startedAt,
      r.closedAt ?? '-',
      r.summary ?? '',
    ]),
  ];
  return `${table(rows)}\n${body.truncated ? `(more rollouts matched: narrow with --namespace or --state)\n` : ''}`;
}

export function formatControlled(action: string, body: RolloutStatusBody): string {
  return `${action}: accepted; rollout ${body.rolloutId} is ${body.state}.\n\n${formatRolloutStatus(body)}`;
}

// ---------------------------------------------------------------------------
// --watch
// ---------------------------------------------------------------------------

export interface FollowOptions {
  /** Time between polls (1 s). */
  intervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** How long a 404 (visibility not caught up right after a start) or an unreachable API is waited out. */
  graceMs?: number;
  now?: () => number;
  /** Decisions already shown (by formatDecision), not to print again. */
  shown?: Set<string>;
}

const progressLine = (b: RolloutStatusBody) =>
  `  … ${b.state}${b.stage >= 0 && b.stages.length > 0 ? ` stage ${b.stage + 1}/${b.stages.length}` : ''}: pods ${formatPods(b)}`;

/**
 * Polls the status until the rollout ends, writing each new decision as it appears and a
 * progress line when the state, stage or pods change. Answers the final status.
 */
export async function followRollout(fetch: () => Promise<RolloutStatusBody>, write: (text: string) => void, options: FollowOptions = {}): Promise<RolloutStatusBody> {
  const intervalMs = options.intervalMs ?? 1000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const graceMs = options.graceMs ?? 15_000;
  const now = options.now ?? Date.now;
  const shown = options.shown ?? new Set<string>();
  let lastProgress = '';
  let failingSince: number | null = null;
  for (;;) {
    let body: RolloutStatusBody;
    try {
      body = await fetch();
      failingSince = null;
    } catch (err) {
      const transient = err instanceof ApiCallError && (err.status === undefined || err.status === 404 || err.status >= 500);
      failingSince ??= now();
      if (!transient || now() - failingSince >= graceMs) throw err;
      await sleep(intervalMs);
      continue;
    }
    for (const decision of body.decisions) {
      const line = formatDecision(decision);
      if (shown.has(line)) continue;
      shown.add(line);
      write(`${line}\n`);
    }
    if (isTerminal(body.state)) return body;
    const progress = progressLine(body);
    if (progress !== lastProgress) write(`${progress}\n`);
    lastProgress = progress;
    await sleep(intervalMs);
  }
}

/** Follows, then prints the outcome; exit status 0 only when the rollout succeeded. */
async function watchToEnd(target: ApiTarget, id: string, json: boolean | undefined, shown?: Set<string>): Promise<void> {
  try {
    const body = await followRollout(
      () => getRollout(target, id),
      (text) => {
        if (json !== true) process.stdout.write(text);
      },
      shown === undefined ? {} : { shown },
    );
    process.stdout.write(json === true ? `${JSON.stringify(body, null, 2)}\n` : `\nRollout ${id} ended: ${body.state}.\n`);
    if (body.state !== 'Succeeded') process.exitCode = 1;
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    process.stderr.write(`autocrane: ${err.message}\n`);
    process.exitCode = 1;
  }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

const START_HELP = `
The spec comes from a file (-f, JSON or YAML, "-" for standard input) or from flags:

  --target <ns>/<Kind>/<name>        the Deployment or StatefulSet (Kind: Deployment, StatefulSet, deploy, sts)
  --image <container>=<image>        new image for a container (repeat for more)
  --env <container>:<NAME>=<value>   set a variable; <container>:<NAME>- removes it (repeat)
  --stage <share>:<bake>             a canary stage, in order (repeat): share 25% or 3 replicas,
                                     bake 60 (seconds), 90s, 5m or 1h
  --approval <stage>:<timeout>[:proceed|rollback]
                                     ask for approval after stage <stage> (from 1) passes; on
                                     timeout, proceed or roll back (default rollback)

After the last stage passes, every replica gets the new template.

Examples:
  autocrane rollout start --target shop/Deployment/web --image web=registry.example/shop/web:2 \\
      --stage 10%:60 --stage 50%:5m --approval 2:30m:rollback --watch
  autocrane rollout start -f rollout.yaml --request-id deploy-1234

Exit status with --watch: 0 when the rollout succeeds, 1 otherwise.`;

export function registerRolloutCommand(program: Command, env: NodeJS.ProcessEnv = process.env): Command {
  const rollout = program.command('rollout').description('Start, follow and steer staged rollouts gated by watchdogs.');

  withConnectionOptions(
    rollout
      .command('start')
      .description('Start a staged rollout of a Deployment or StatefulSet.')
      .option('-f, --file <path>', 'the rollout spec, JSON or YAML ("-" reads standard input)')
      .option('--target <ns/Kind/name>', 'the workload to roll out', parseTarget)
      .option('--image <container=image>', 'new image for a container (repeatable)', collect(parseImage))
      .option('--env <container:NAME=value>', 'set (NAME=value) or remove (NAME-) a variable (repeatable)', collect(parseEnv))
      .option('--stage <share:bake>', 'a stage: 25%:60, 3:5m (repeatable, in order)', collect(parseStage))
      .option('--approval <stage:timeout[:action]>', 'approval after a stage (from 1): 1:10m:rollback (repeatable)', collect(parseApproval))
      .option('--max-error-pods <n>', 'updated pods allowed in error watchdogs (default 0)', parseCount)
      .option('--min-ready <duration>', 'how long each updated pod must be ready (default 0)', (v: string) => parseDuration(v))
      .option('--watchdog <name>', 'only this watchdog counts for the gate (repeatable; default: all)', collect((v: string) => v))
      .option('--on-no-data <policy>', `an updated pod nothing watches: ${NO_DATA_POLICIES.join(', ')} (default wait)`, oneOf(NO_DATA_POLICIES))
      .option('--progress-deadline <duration>', 'a stage not ready by then fails its gate (default 10m)', (v: string) => parseDuration(v))
      .option('--rollback <policy>', `on a gate failure: ${ROLLBACK_POLICIES.join(', ')} (default automatic)`, oneOf(ROLLBACK_POLICIES))
      .option('--request-id <id>', `idempotency key (1-${ROLLOUT_LIMITS.maxRequestIdLength} of letters, digits, . _ -): the same start twice is one rollout`)
      .option('--supersede', 'replace a rollout already running on the target instead of failing')
      .option('--watch', 'follow the rollout until it ends')
      .addHelpText('after', START_HELP),
  ).action(async function (this: Command) {
    const options = this.opts<ConnectionOptions & SpecFlags & { watch?: boolean }>();
    const target = targetOf(this, options, env);
    let spec: Record<string, unknown>;
    try {
      spec = await buildSpec(options);
    } catch (err) {
      if (!(err instanceof SpecInputError)) throw err;
      this.error(`error: ${err.message}`, { exitCode: 2, code: 'autocrane.usage' });
    }
    let started: RolloutStartedBody | undefined;
    // With --json --watch, only the final status is printed (one JSON document).
    const quiet = options.json === true && options.watch === true;
    await report(async () => (started = await startRollout(target, spec)), quiet ? () => '' : formatStarted, quiet ? false : options.json);
    if (started !== undefined && options.watch === true) {
      const say = (text: string) => {
        if (options.json !== true) process.stdout.write(text);
      };
      const { supersededRolloutId } = started;
      if (supersededRolloutId !== undefined) {
        // The new rollout begins once the one it replaces has rolled back its own change.
        say(`\nRolling back ${supersededRolloutId} first:\n`);
        try {
          await followRollout(() => getRollout(target, supersededRolloutId), say);
        } catch (err) {
          if (!(err instanceof ApiCallError)) throw err;
          say(`(cannot follow ${supersededRolloutId}: ${err.message})\n`);
        }
      }
      say(`\nFollowing ${started.rolloutId}:\n`);
      await watchToEnd(target, started.rolloutId, options.json);
    }
  });

  withConnectionOptions(
    rollout
      .command('status')
      .description('State, stages, pods and every decision of a rollout.')
      .argument('<id>', 'rollout ID', parseRolloutId)
      .option('--watch', 'then print each new decision as it happens, until the rollout ends (exit status 0 if it succeeded, else 1); with --json, only the final status'),
  ).action(async function (this: Command, id: string) {
    const options = this.opts<ConnectionOptions & { watch?: boolean }>();
    const target = targetOf(this, options, env);
    if (options.watch !== true) {
      await report(() => getRollout(target, id), formatRolloutStatus, options.json);
      return;
    }
    const shown = new Set<string>();
    if (options.json !== true) {
      let first: RolloutStatusBody | undefined;
      await report(async () => (first = await getRollout(target, id)), formatRolloutStatus, false);
      if (first === undefined) return;
      for (const decision of first.decisions) shown.add(formatDecision(decision));
      if (isTerminal(first.state)) {
        if (first.state !== 'Succeeded') process.exitCode = 1;
        return;
      }
      process.stdout.write('\nFollowing (Ctrl-C to stop; the rollout goes on):\n');
    }
    await watchToEnd(target, id, options.json, shown);
  });

  withConnectionOptions(
    rollout
      .command('list')
      .description('Rollouts, newest first, from Temporal visibility.')
      .option('--namespace <namespace>', 'only this namespace', parseNamespace)
      .option('--state <state>', `only this state: ${ROLLOUT_STATES.join(', ')}`, parseState),
  ).action(async function (this: Command) {
    const options = this.opts<ConnectionOptions & { namespace?: string; state?: string }>();
    await report(() => listRollouts(targetOf(this, options, env), options), formatRolloutList, options.json);
  });

  const controlHelp: Record<Control, string> = {
    pause: 'Hold the rollout where it is (gates are still watched) until resumed.',
    resume: 'Continue a paused rollout, or re-check the gate of a frozen one.',
    approve: 'Approve the stage awaiting approval.',
    abort: 'Roll everything back to the previous template.',
    promote: 'End the current bake now, as if it had passed (on a frozen rollout: override the failed gate).',
  };
  for (const action of ROLLOUT_CONTROLS) {
    withConnectionOptions(
      rollout
        .command(action)
        .description(controlHelp[action])
        .argument('<id>', 'rollout ID', parseRolloutId)
        .option('--reason <text>', 'why, kept in the decisions', parseReason),
    ).action(async function (this: Command, id: string) {
      const options = this.opts<ConnectionOptions & { reason?: string }>();
      await report(() => controlRollout(targetOf(this, options, env), id, action, options.reason), (body) => formatControlled(action, body), options.json);
    });
  }

  return rollout;
}

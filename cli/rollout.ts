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
 * The spec is checked with the API's own parser (rollout-spec-flags.ts), so every problem
 * is listed at once, with its field path, before anything is sent.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { RolloutListBody, RolloutStartedBody, RolloutStatusBody } from '../api/rollout/rollouts';
import { ROLLOUT_ID_PATTERN } from '../domain/rollout/rollout-request';
import { NO_DATA_POLICIES, ROLLBACK_POLICIES, ROLLOUT_LIMITS } from '../domain/rollout/rollout-spec';
import { describeTarget } from '../domain/rollout/rollout-summary';
import { isTerminal, ROLLOUT_CONTROLS, ROLLOUT_STATES, type Control, type RolloutState } from '../domain/gate/stage-controls';
import { MAX_CONTROL_REASON_LENGTH, type RolloutDecision } from '../contracts/rollout-messages';
import {
  ApiCallError,
  callApi,
  report,
  table,
  targetOf,
  withConnectionOptions,
  type ApiTarget,
  type ConnectionOptions,
} from './api-client';
import { collect, oneOf, parseCount, parseDuration, parseNamespace, parseStage, reasonParser } from './options';
import { buildSpec, parseApproval, parseEnv, parseImage, parseTarget, SpecInputError, type SpecFlags } from './rollout-spec-flags';

// ---------------------------------------------------------------------------
// Argument parsers (each throws InvalidArgumentError: a usage error, exit 2)
// ---------------------------------------------------------------------------

export function parseRolloutId(value: string): string {
  if (!ROLLOUT_ID_PATTERN.test(value))
    throw new InvalidArgumentError('Expected a rollout ID, as `rollout start` prints it (e.g. 3f9a0c1b2d4e).');
  return value;
}

const parseState = oneOf<RolloutState>(ROLLOUT_STATES);
const parseReason = reasonParser(MAX_CONTROL_REASON_LENGTH);

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

const section = (title: string, rows: string[][], empty: string) =>
  `\n${title}\n${rows.length <= 1 ? `  ${empty}` : table(rows).replace(/^/gm, '  ')}\n`;

export function formatStarted(body: RolloutStartedBody): string {
  const how = body.existing
    ? 'already started by this request ID'
    : body.supersededRolloutId
      ? `started, superseding ${body.supersededRolloutId}`
      : 'started';
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
export async function followRollout(
  fetch: () => Promise<RolloutStatusBody>,
  write: (text: string) => void,
  options: FollowOptions = {},
): Promise<RolloutStatusBody> {
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
      .option(
        '--watchdog <name>',
        'only this watchdog counts for the gate (repeatable; default: all)',
        collect((v: string) => v),
      )
      .option(
        '--on-no-data <policy>',
        `an updated pod nothing watches: ${NO_DATA_POLICIES.join(', ')} (default wait)`,
        oneOf(NO_DATA_POLICIES),
      )
      .option('--progress-deadline <duration>', 'a stage not ready by then fails its gate (default 10m)', (v: string) => parseDuration(v))
      .option('--rollback <policy>', `on a gate failure: ${ROLLBACK_POLICIES.join(', ')} (default automatic)`, oneOf(ROLLBACK_POLICIES))
      .option(
        '--request-id <id>',
        `idempotency key (1-${ROLLOUT_LIMITS.maxRequestIdLength} of letters, digits, . _ -): the same start twice is one rollout`,
      )
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
      .option(
        '--watch',
        'then print each new decision as it happens, until the rollout ends (exit status 0 if it succeeded, else 1); with --json, only the final status',
      ),
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
      await report(
        () => controlRollout(targetOf(this, options, env), id, action, options.reason),
        (body) => formatControlled(action, body),
        options.json,
      );
    });
  }

  return rollout;
}

/**
 * `autocrane watchdog`: post and read watchdog statuses through the REST API.
 *
 *   autocrane watchdog post <namespace>/<pod> <name> <level> [message]
 *   autocrane watchdog get <namespace>/<pod> [--json]
 *
 * The API's URL and token: see api-client.ts. Bad arguments exit 2, before any request; an
 * API or network failure prints why and exits 1.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { callApi, report, table, targetOf, withConnectionOptions, type ApiTarget, type ConnectionOptions } from './api-client';
import { dns1123LabelError, dns1123SubdomainError } from '../domain/shared/k8s-names';
import {
  parseWatchdogLevel,
  validateWatchdogMessage,
  validateWatchdogName,
  WATCHDOG_LEVELS,
  type WatchdogLevel,
} from '../domain/watchdog/watchdog-status';
import type { WatchdogListBody, WatchdogPutBody, WatchdogView } from '../api/watchdog/watchdogs';

export interface PodRef {
  namespace: string;
  pod: string;
}

// ---------------------------------------------------------------------------
// Argument parsers (commander reports their InvalidArgumentError as a usage error)
// ---------------------------------------------------------------------------

export function parsePodRef(value: string): PodRef {
  const parts = value.split('/');
  if (parts.length !== 2) throw new InvalidArgumentError('Expected <namespace>/<pod>, e.g. default/web-0.');
  const [namespace, pod] = parts as [string, string];
  const nsProblem = dns1123LabelError(namespace);
  if (nsProblem !== null) throw new InvalidArgumentError(`'${namespace}' is not a namespace name: ${nsProblem}.`);
  const podProblem = dns1123SubdomainError(pod);
  if (podProblem !== null) throw new InvalidArgumentError(`'${pod}' is not a pod name: ${podProblem}.`);
  return { namespace, pod };
}

export function parseName(value: string): string {
  const problem = validateWatchdogName(value);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

export function parseLevel(value: string): WatchdogLevel {
  const level = parseWatchdogLevel(value);
  if (level === undefined) throw new InvalidArgumentError(`Expected one of ${WATCHDOG_LEVELS.join(', ')}.`);
  return level;
}

export function parseMessage(value: string): string {
  const problem = validateWatchdogMessage(value);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

// ---------------------------------------------------------------------------
// Calling the API
// ---------------------------------------------------------------------------

export function podWatchdogsPath({ namespace, pod }: PodRef): string {
  return `/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/watchdogs`;
}

export function postWatchdog(
  target: ApiTarget,
  ref: PodRef,
  name: string,
  level: WatchdogLevel,
  message: string,
): Promise<WatchdogPutBody> {
  return callApi(target, 'PUT', `${podWatchdogsPath(ref)}/${encodeURIComponent(name)}`, { level, message });
}

export function getWatchdogs(target: ApiTarget, ref: PodRef): Promise<WatchdogListBody> {
  return callApi(target, 'GET', podWatchdogsPath(ref));
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

const messageCell = (w: WatchdogView) =>
  w.problem === undefined ? w.message : `${w.message} (unreadable value ${JSON.stringify(w.raw)}: ${w.problem})`;

export function formatWatchdogTable(body: WatchdogListBody): string {
  const rows = [['NAME', 'LEVEL', 'TIME', 'MESSAGE'], ...body.watchdogs.map((w) => [w.name, w.level, w.time ?? '-', messageCell(w)])];
  const list = body.watchdogs.length === 0 ? `no watchdogs on pod ${body.namespace}/${body.pod}` : table(rows);
  return `${list}\n\nAGGREGATE: ${body.aggregate}\n`;
}

export function formatPosted(body: WatchdogPutBody): string {
  const w = body.watchdog;
  return `${body.namespace}/${body.pod} ${w.name}: ${w.level} at ${w.time ?? '-'}${w.message === '' ? '' : ` (${w.message})`}; aggregate ${body.aggregate}\n`;
}

// ---------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------

export function registerWatchdogCommand(program: Command, env: NodeJS.ProcessEnv = process.env): Command {
  const watchdog = program.command('watchdog').description('Post and read pod watchdog statuses through the AutoCrane API.');

  withConnectionOptions(
    watchdog
      .command('post')
      .description("Set a pod's watchdog status (status.autocrane.io/<name>) to <level>, stamped with the current time.")
      .argument('<namespace/pod>', 'the pod, e.g. default/web-0', parsePodRef)
      .argument('<name>', 'watchdog name (a Kubernetes qualified-name segment)', parseName)
      .argument('<level>', `one of ${WATCHDOG_LEVELS.join(', ')}`, parseLevel)
      .argument('[message]', 'one line of text', parseMessage, ''),
  ).action(async function (this: Command, ref: PodRef, name: string, level: WatchdogLevel, message: string) {
    const options = this.opts<ConnectionOptions>();
    const target = targetOf(this, options, env);
    await report(() => postWatchdog(target, ref, name, level, message), formatPosted, options.json);
  });

  withConnectionOptions(
    watchdog
      .command('get')
      .description("List a pod's watchdogs and their aggregate health.")
      .argument('<namespace/pod>', 'the pod, e.g. default/web-0', parsePodRef),
  ).action(async function (this: Command, ref: PodRef) {
    const options = this.opts<ConnectionOptions>();
    const target = targetOf(this, options, env);
    await report(() => getWatchdogs(target, ref), formatWatchdogTable, options.json);
  });

  return watchdog;
}

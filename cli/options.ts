/**
 * Option parsers shared by the CLI's subcommands. Each throws commander's
 * InvalidArgumentError, which commander reports as `error: option '--port <port>' argument
 * 'x' is invalid. <reason>` and main.ts turns into exit status 2.
 */
import { InvalidArgumentError } from 'commander';
import { dns1123LabelError } from '../domain/shared/k8s-names';

/** A TCP port to listen on: an integer from 0 to 65535, where 0 picks a free port. */
export function parseListenPort(value: string): number {
  const text = value.trim();
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(port) || port > 65535) {
    throw new InvalidArgumentError('Expected an integer from 0 to 65535 (0 picks a free port).');
  }
  return port;
}

/** A host name or address to listen on; must not be empty. */
export function parseListenHost(value: string): string {
  const host = value.trim();
  if (host.length === 0) throw new InvalidArgumentError('Expected a host name or address, e.g. 0.0.0.0.');
  return host;
}

/** A namespace name (a DNS-1123 label). */
export function parseNamespace(value: string): string {
  const problem = dns1123LabelError(value);
  if (problem !== null) throw new InvalidArgumentError(`'${value}' is not a namespace name: ${problem}.`);
  return value;
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('Expected a whole number.');
  return Number(value);
}

/** A parser for a --reason of at most `maxLength` characters (each workflow keeps its own bound). */
export const reasonParser =
  (maxLength: number) =>
  (value: string): string => {
    if (value.length > maxLength) throw new InvalidArgumentError(`At most ${maxLength} characters.`);
    return value;
  };

/** One of `values`, as given. */
export const oneOf =
  <T extends string>(values: readonly T[]) =>
  (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`Expected one of ${values.join(', ')}.`);
    return value as T;
  };

/** A repeatable option: each occurrence parsed and appended. */
export const collect =
  <T>(parse: (value: string) => T) =>
  (value: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(value)];

const DURATION = /^(\d+)(s|m|h)?$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

/** Seconds from `90`, `90s`, `5m` or `1h`. */
export function parseDuration(value: string, what = 'a duration'): number {
  const match = DURATION.exec(value.trim());
  if (match === null)
    throw new InvalidArgumentError(`Expected ${what}: whole seconds, or a number followed by s, m or h (e.g. 90, 5m, 1h).`);
  return Number(match[1]) * UNIT_SECONDS[(match[2] ?? 's') as keyof typeof UNIT_SECONDS];
}

/** `25%:60` or `3:5m`: the share (a percentage or a replica count) and the bake time. */
export function parseStage(value: string): { replicas: string | number; bakeSeconds: number } {
  const match = /^([^:]+):(.+)$/.exec(value);
  if (match === null)
    throw new InvalidArgumentError(
      'Expected <share>:<bake>, e.g. 25%:60 (25% of the replicas, baked 60 s) or 3:5m (3 replicas, 5 minutes).',
    );
  const share = match[1] as string;
  let replicas: string | number;
  if (/^\d+%$/.test(share)) replicas = share;
  else if (/^\d+$/.test(share)) replicas = Number(share);
  else throw new InvalidArgumentError(`'${share}' is not a share: expected a percentage (25%) or a replica count (3).`);
  return { replicas, bakeSeconds: parseDuration(match[2] as string, 'a bake time') };
}

/**
 * Option parsers shared by the CLI's subcommands. Each throws commander's
 * InvalidArgumentError, which commander reports as `error: option '--port <port>' argument
 * 'x' is invalid. <reason>` and main.ts turns into exit status 2.
 */
import { InvalidArgumentError } from 'commander';

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

import pino from 'pino';
import { Writable } from 'node:stream';

/** A debug-level pino logger whose JSON lines land in `lines`, for asserting on logs. */
export function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, stream) };
}

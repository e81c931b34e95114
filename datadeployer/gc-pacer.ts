/**
 * Bounds the garbage a streamed activation leaves between collections (the deployer's
 * budget: at most 100 MB of RSS whatever the archive's size).
 *
 * Every chunk read from a socket or a file, inflated or sliced, is a new Buffer whose memory
 * lives outside V8's heap and is freed only when a collection finds its small wrapper dead.
 * The wrappers are too small to fill the young generation often, so V8 collects them only
 * when their external memory has grown by tens of MB: measured, +35 MB of RSS while
 * downloading or extracting, whatever the archive's size. Counting the bytes that flow and
 * asking for a young-generation collection every PACE_BYTES bounds that to about PACE_BYTES
 * and costs well under a millisecond each time.
 *
 * It needs the process to be started with --expose-gc (NODE_OPTIONS, see docs/data-rollouts.md,
 * "The data deployer's memory"); without it this does nothing and the memory is V8's default.
 */
import { Transform } from 'node:stream';

export const PACE_BYTES = 4 * 2 ** 20;

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

const gc = (globalThis as { gc?: Gc }).gc;
let since = 0;

/** Counts `bytes` that went through; collects the young generation every PACE_BYTES. */
export function paceGc(bytes: number): void {
  if (gc === undefined) return;
  since += bytes;
  if (since < PACE_BYTES) return;
  since = 0;
  gc({ type: 'minor' });
}

/** A pass-through stream that paces on what flows through it. */
export function gcPacer(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      paceGc(chunk.length);
      callback(null, chunk);
    },
  });
}

/** Whether pacing is active (the process was started with --expose-gc). */
export const gcPacing = (): boolean => gc !== undefined;

/**
 * V8 settings the worker process makes for itself, at the start of workers/main.ts, so they
 * hold however it is started (`node dist/workers/main.js` in the manifests, the stack, the
 * tests and the benches) and need no NODE_OPTIONS (which refuses some of them anyway).
 * Both were chosen by measuring the worker on the watchdog-sweep bench (bench/RESULTS.md).
 *
 * - `--heap-growing-percent`: after each full collection V8 lets the old generation grow to
 *   1.1 to 4 times what survived before collecting again. A sweep of 10,000 pods promotes
 *   garbage (mostly from its 10,000 probe requests) faster than it dies, so with the
 *   worker's ~55 MB live heap the old generation reached about 100 MB before V8 collected it
 *   (up to 180 MB when list pages were still parsed whole). A fixed growth of 50% kept it
 *   near 70 MB: 35 MB less peak RSS at 10,000 pods, for sweeps about 5% slower (more,
 *   mostly concurrent, marking). Read at every collection, so setting it at run time works.
 * - `--max-semi-space-size` for the workflow thread: Temporal runs workflows in a worker
 *   thread, an isolate of its own, whose young generation V8 let grow to 32 MB although
 *   workflow code allocates little at a time. Set at run time the flag does not change an
 *   isolate that already exists, only those created afterwards; set before the Temporal
 *   Worker is created, it caps the workflow thread's young generation only, and the main
 *   thread keeps its larger one (parsed pages die young there instead of being promoted).
 */
import { setFlagsFromString } from 'node:v8';

/** The old generation may grow by this much over what survived the last full collection. */
export const HEAP_GROWING_PERCENT = 50;
/** Semi-space size, in MB, of isolates created after applyWorkerV8Flags() (the workflow thread). */
export const NEW_ISOLATE_SEMI_SPACE_MB = 1;

/** Call first thing in the worker process, and in any case before creating the Temporal Worker. */
export function applyWorkerV8Flags(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  setFlagsFromString(`--max-semi-space-size=${NEW_ISOLATE_SEMI_SPACE_MB}`);
}

/**
 * What the data-rollout activities keep alive while they wait: heartbeats on a timer, and the
 * probation gate's memory (domain/gate/stage-gate.ts, its watched time among it) across polls,
 * attempts and the activities of one stage.
 *
 * The stage activities have a 3 s heartbeat timeout (workflows/data/data-rollout.ts), so a dead
 * worker is noticed within seconds; a slow list or write must never look like one, hence the
 * timer rather than a heartbeat per poll. The probation counts only the time the gate watched:
 * a retried watch (maybe on another worker) takes the memory from its previous attempt's last
 * heartbeat, and the time between that attempt's last look and its own first one is a gap that
 * does not count (domain/gate/stage-gate-evidence.ts).
 */
import { isSettleMemory, type SettleMemory } from '../../domain/gate/stage-gate';
import { currentContext } from '../shared/activity-context';

/** How often the data-rollout activities heartbeat, whatever their calls are doing (the worker sends at most one a second). */
export const DATA_HEARTBEAT_MS = 500;

/**
 * Runs `fn` heartbeating every DATA_HEARTBEAT_MS with the latest details it reported; `report`
 * replaces them and heartbeats at once.
 */
export async function withHeartbeats<R>(initial: object, fn: (report: (details: object) => void) => Promise<R>): Promise<R> {
  const context = currentContext();
  let latest = initial;
  context?.heartbeat(latest);
  const ticker = setInterval(() => context?.heartbeat(latest), DATA_HEARTBEAT_MS);
  try {
    return await fn((details) => {
      latest = details;
      context?.heartbeat(details);
    });
  } finally {
    clearInterval(ticker);
  }
}

/** A gate watch's heartbeat details: what people see in the UI, and the gate's memory for a retry. */
export interface DataGateHeartbeat {
  step: string;
  watched: number;
  erroring: string[];
  gate?: SettleMemory;
}

/**
 * The gate's memory by stage (namespace, source, version, probation start), on this worker:
 * a pause ends the probation's watch and a hold watches on, then a new watch resumes the
 * probation; time the hold watched still counts. Bounded: the oldest are forgotten.
 */
export class DataGateMemories {
  private readonly memories = new Map<string, SettleMemory>();

  constructor(private readonly limit = 256) {}

  static key(input: { namespace: string; source: string; target: { version: { id: string } }; probationStartedAt: string }): string {
    return `${input.namespace}\u0000${input.source}\u0000${input.target.version.id}\u0000${input.probationStartedAt}`;
  }

  /** The memory a watch starts from: its previous attempt's last heartbeat, else this worker's. */
  initial(key: string, heartbeatDetails: unknown): SettleMemory | null {
    const fromHeartbeat = (heartbeatDetails as Partial<DataGateHeartbeat> | undefined)?.gate;
    if (isSettleMemory(fromHeartbeat)) return fromHeartbeat;
    return this.memories.get(key) ?? null;
  }

  remember(key: string, memory: SettleMemory | null): void {
    if (memory === null) return;
    this.memories.delete(key);
    if (this.memories.size >= this.limit) this.memories.delete(this.memories.keys().next().value!);
    this.memories.set(key, memory);
  }
}

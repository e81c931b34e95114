/**
 * The rollout gate's own probes: while a stage bakes, the gate activity probes every declared
 * probe (`probe.autocrane.io/<name>`) of the stage's updated pods itself, about once a second,
 * with the watchdog prober's HTTP code (activities/watchdog/http-prober.ts) and its URL rules
 * (domain/watchdog/watchdog-probe.ts).
 *
 * Why the gate probes rather than wait for the namespace's sweep: the sweep writes a status only
 * on a transition, so "no status" cannot tell a probe that passes from one that was not run;
 * and a sweep is one activity per namespace, run by a Schedule that skips overlapping runs, so
 * a sweep stalled on a dead worker's heartbeat timeout left the namespace unprobed while a
 * failing version baked and passed. The gate's results carry the time they were probed, so
 * evaluateGate can ask for a result from after the bake began (domain/gate/stage-gate-evidence.ts),
 * and they travel with the gate's own watch: wherever the watch runs, the probing runs.
 * The sweep goes on as before, for repair, health labels and pods outside rollouts.
 *
 * Results are kept per pod UID (a StatefulSet pod replaced under the same name starts with
 * none) and forgotten a minute after the last look at the pod. Probes are never retried inside
 * a look: a failure is the pod's result, as in the sweep.
 */
import type { GateProbeResult } from '../../domain/gate/stage-gate-evidence';
import { listProbes, probeUrl, type ProbeDeclaration } from '../../domain/watchdog/watchdog-probe';
import type { HttpProber } from '../watchdog/http-prober';

/** How often one declared probe of one pod is probed while the gate watches. */
export const GATE_PROBE_INTERVAL_MS = 1000;
/**
 * Two looks at the pods further apart than this: the time between was not watched and does not
 * count as bake. Looks come every 250 ms (POLL_MS) plus a list; 2 s leaves room for a slow list.
 */
export const MAX_LOOK_GAP_MS = 2000;
const FORGET_AFTER_MS = 60_000;

/** The parts of a pod the gate probes from. */
export interface ProbedPod {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

interface Entry {
  pod: string;
  probe: string;
  sentAt?: number;
  result?: GateProbeResult;
  inFlight?: Promise<void>;
  lookedAt: number;
}

const isReady = (pod: ProbedPod) =>
  pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

export class GateProber {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly prober: () => HttpProber,
    private readonly timeoutMs: number,
    private readonly intervalMs = GATE_PROBE_INTERVAL_MS,
  ) {}

  /** A result older than this is stale: a probe is sent every interval and ends within its timeout. */
  get maxProbeAgeMs(): number {
    return this.intervalMs + this.timeoutMs + 1000;
  }

  /**
   * Sends the probes of the ready pods that are due and returns the latest result of every
   * declared probe of `pods`. A probe is due once a second, and at once when its last one was
   * sent before `freshSince` (the bake's start). Waits for the probes of a pod and probe whose
   * result is missing or from before `freshSince`, so the first look of a watch that (re)starts,
   * on whatever worker, is a complete one.
   */
  async look(pods: readonly ProbedPod[], freshSince = Number.NEGATIVE_INFINITY): Promise<GateProbeResult[]> {
    const now = Date.now();
    const looked: Entry[] = [];
    const first: Promise<void>[] = [];
    for (const pod of pods) {
      if (!isReady(pod)) continue;
      for (const declaration of listProbes(pod.metadata.annotations)) {
        const key = `${pod.metadata.uid}/${declaration.name}`;
        let entry = this.entries.get(key);
        if (entry === undefined) {
          entry = { pod: pod.metadata.name, probe: declaration.name, lookedAt: now };
          this.entries.set(key, entry);
        }
        entry.lookedAt = now;
        looked.push(entry);
        const stale = entry.sentAt === undefined || entry.sentAt < freshSince;
        if (entry.inFlight === undefined && (stale || now - entry.sentAt! >= this.intervalMs)) this.send(entry, pod, declaration);
        if (stale && entry.inFlight !== undefined) first.push(entry.inFlight);
      }
    }
    await Promise.all(first);
    this.forget(now);
    const at = Date.now();
    return looked.flatMap((e) => (e.result === undefined || this.overtaken(e, at) ? [] : [e.result]));
  }

  /**
   * A passing result whose successor has been running for longer than the interval says nothing
   * of the version now: a probe that started to hang would otherwise let the gate pass on the
   * "ok" before it, for as long as the probe's timeout. It is withheld, so the gate waits for the
   * running probe's answer (or its timeout, a failure). A failing result is never withheld.
   */
  private overtaken(entry: Entry, now: number): boolean {
    return entry.result?.ok === true && entry.inFlight !== undefined && entry.sentAt !== undefined && now - entry.sentAt > this.intervalMs;
  }

  private send(entry: Entry, pod: ProbedPod, declaration: ProbeDeclaration): void {
    const sentAt = Date.now();
    entry.sentAt = sentAt;
    const settle = (ok: boolean, reason?: string) => {
      entry.result = {
        pod: entry.pod,
        probe: entry.probe,
        at: new Date(sentAt).toISOString(),
        ok,
        ...(ok || reason === undefined ? {} : { reason }),
      };
    };
    entry.inFlight = (async () => {
      if (!declaration.ok) return settle(false, declaration.reason);
      let url: string;
      try {
        url = probeUrl(pod.status?.podIP ?? '', declaration.target);
      } catch {
        return settle(false, 'pod has no IP address to probe');
      }
      const answer = await this.prober().probe(url);
      settle(answer.healthy, answer.message);
    })()
      .catch((err: unknown) => settle(false, err instanceof Error ? err.message : String(err)))
      .finally(() => {
        entry.inFlight = undefined;
      });
  }

  private forget(now: number): void {
    for (const [key, entry] of this.entries)
      if (entry.inFlight === undefined && now - entry.lookedAt > FORGET_AFTER_MS) this.entries.delete(key);
  }
}

/**
 * One probing sweep of a namespace, page by page: list a page of pods as plain JSON, keep
 * only what a decision needs of each pod as it arrives, probe that page with bounded concurrency, write
 * the pods whose status changes, and drop the page before the next. The next page is
 * fetched while the current one is probed, so listing and probing overlap, and the worker
 * holds at most two pages whatever the number of pods.
 *
 * The decisions are pure (domain/watchdog-*); this module does the I/O. It returns a small
 * summary, so a sweep adds the same few events to workflow history whatever the number of
 * pods. Progress (the page in progress and the counters of the pages done) is reported
 * for heartbeats, and a retried sweep can resume from it.
 */
import { HEALTH_LABEL, STATUS_ANNOTATION_PREFIX } from '../../domain/shared/keys';
import { buildStatusPatch, type Annotations } from '../../domain/watchdog/watchdog-annotations';
import { decideProbeWrite, isProbeEligible, listProbes, probeUrl, type ProbeResult } from '../../domain/watchdog/watchdog-probe';
import { failsTheLoop } from '../../domain/shared/pod-write-refusal';
import { parseStatus, shortenStatusValue } from '../../domain/watchdog/watchdog-status';
import { expiredListContinueToken, kubernetesErrorStatus } from '../../platform/kubernetes';
import type { ListSweepPods, SweepPod, SweepPodPage } from './watchdog-sweep-pods';
import type { HttpProber, ProbeOutcome, ProbeTargetRequest } from './http-prober';
import { writePodStatuses, type PodStatusApi, type PodStatusSnapshot } from '../shared/pod-status';
import { podWriteRefusals, type PodWriteRefusals, type RefusalLog } from '../shared/pod-write-refusals';

export interface SweepInput {
  namespace: string;
  /** Also probe pods that are not Running or not ready (AutoCrane does not; default false). */
  probeNotReadyPods?: boolean;
}

/** What a sweep counts; summed page by page. */
export interface SweepCounters {
  pods: number;
  /** Pods that declare at least one probe and were eligible. */
  probedPods: number;
  probes: number;
  failedProbes: number;
  /** Pods whose statuses were written (transitions only). */
  podsWritten: number;
  podsGone: number;
  /** Pods whose status write the apiserver refused (recorded for that pod; the sweep went on). */
  podsRefused: number;
  /** Of those, refusals that may be the apiserver's own (no answer, 429, 5xx, authorization). */
  podsRefusedSystemic: number;
  /** Pods with a status to write that were left alone, backing off after earlier refusals. */
  podsBackingOff: number;
  /** Probes by outcome; `refused-target` counts declarations refused without a request. */
  outcomes: Partial<Record<ProbeOutcome | 'refused-target', number>>;
  /** Probed pods by their health label after the sweep (`none`: no status at all). */
  health: Record<string, number>;
}

export interface SweepSummary extends SweepCounters {
  namespace: string;
  /** Pages listed, including those done by an earlier attempt this one resumed from. */
  pages: number;
  /** Wall time of this attempt. */
  durationMs: number;
}

/**
 * A sweep's progress, as heartbeat details. A retried sweep given it resumes at the page in
 * progress (`pageToken`) with the counters of the pages before it (`done`).
 */
export interface SweepProgress {
  /** The continue token the page in progress was listed with; absent for the first page. */
  pageToken?: string;
  pagesDone: number;
  /** Counters of the pages done. */
  done: SweepCounters;
  /** The page in progress. */
  page: { pods: number; probes: number; probesDone: number; writes: number };
  /** Pods after the page in progress, when the apiserver says (it does without selectors). */
  remainingPods?: number;
}

export interface SweepDeps {
  listPods: ListSweepPods;
  /** Reads and patches pods whose status changes. */
  core: PodStatusApi;
  prober: HttpProber;
  now?: () => Date;
  /** Reports progress (the activity heartbeats with it). */
  onProgress?: (progress: SweepProgress) => void;
  /** Progress reported by an earlier attempt of this sweep: resume from there. */
  resumeFrom?: SweepProgress;
  /** Pods patched at once within a page. Default 8. */
  writeConcurrency?: number;
  /** Records writes refused for one pod, and the pods' backoff; default: a fresh one, without Events. */
  refusals?: PodWriteRefusals;
  /** Where refusals are logged; default: nowhere. */
  log?: RefusalLog;
}

const DEFAULT_WRITE_CONCURRENCY = 8;

export function emptySweepCounters(): SweepCounters {
  return {
    pods: 0,
    probedPods: 0,
    probes: 0,
    failedProbes: 0,
    podsWritten: 0,
    podsGone: 0,
    podsRefused: 0,
    podsRefusedSystemic: 0,
    podsBackingOff: 0,
    outcomes: {},
    health: {},
  };
}

function addCounters(into: SweepCounters, page: SweepCounters): void {
  into.pods += page.pods;
  into.probedPods += page.probedPods;
  into.probes += page.probes;
  into.failedProbes += page.failedProbes;
  into.podsWritten += page.podsWritten;
  into.podsGone += page.podsGone;
  into.podsRefused += page.podsRefused;
  into.podsRefusedSystemic += page.podsRefusedSystemic ?? 0; // absent from progress recorded before it existed
  into.podsBackingOff += page.podsBackingOff;
  for (const [outcome, n] of Object.entries(page.outcomes) as Array<[keyof SweepCounters['outcomes'], number]>) {
    into.outcomes[outcome] = (into.outcomes[outcome] ?? 0) + n;
  }
  for (const [level, n] of Object.entries(page.health)) into.health[level] = (into.health[level] ?? 0) + n;
}

const copyCounters = (counters: SweepCounters): SweepCounters => {
  const copy = emptySweepCounters();
  addCounters(copy, counters);
  return copy;
};

/** Runs fn over items with at most `limit` in flight; the first error stops new starts and is thrown. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure.error;
}

const statusSnapshot = (pod: SweepPod): PodStatusSnapshot => ({
  metadata: {
    ...(pod.resourceVersion !== undefined && { resourceVersion: pod.resourceVersion }),
    annotations: pod.annotations,
    labels: pod.healthLabel === undefined ? {} : { [HEALTH_LABEL]: pod.healthLabel },
  },
});

export async function sweepWatchdogs(input: SweepInput, deps: SweepDeps): Promise<SweepSummary> {
  const started = Date.now();
  const now = deps.now ?? (() => new Date());
  const writeConcurrency = deps.writeConcurrency ?? DEFAULT_WRITE_CONCURRENCY;
  const { namespace } = input;
  deps = { ...deps, refusals: deps.refusals ?? podWriteRefusals('watchdog-sweep') };

  let pagesDone = deps.resumeFrom?.pagesDone ?? 0;
  let done = deps.resumeFrom ? copyCounters(deps.resumeFrom.done) : emptySweepCounters();
  const resumeToken = deps.resumeFrom?.pageToken;

  /**
   * A page and the token it was listed with. An expired continue token (a sweep or a resume
   * outlasting the apiserver's compaction window) goes on with the token sent with the 410,
   * which lists the rest without a consistent snapshot; good enough for probing.
   */
  const list = async (token: string | undefined) => {
    try {
      return { token, page: await deps.listPods(namespace, token) };
    } catch (error) {
      const fresh = expiredListContinueToken(error);
      if (fresh === undefined) throw error;
      return { token: fresh, page: await deps.listPods(namespace, fresh) };
    }
  };

  const tally: WriteTally = { unchanged: 0 };
  let current: { token: string | undefined; page: SweepPodPage };
  try {
    current = await list(resumeToken);
  } catch (error) {
    // A resume point the apiserver no longer knows: sweep again from the start.
    if (resumeToken === undefined || kubernetesErrorStatus(error) !== 410) throw error;
    pagesDone = 0;
    done = emptySweepCounters();
    current = await list(undefined);
  }

  for (;;) {
    const { token, page } = current;
    // Fetch the next page while this one is probed; its failure surfaces when it is awaited.
    const nextPage = page.continueToken === undefined ? undefined : list(page.continueToken);
    nextPage?.catch(() => undefined);

    const pageProgress = { pods: page.pods.length, probes: 0, probesDone: 0, writes: 0 };
    const report = () =>
      deps.onProgress?.({
        ...(token !== undefined && { pageToken: token }),
        pagesDone,
        done: copyCounters(done),
        page: { ...pageProgress },
        ...(page.remainingItemCount !== undefined && { remainingPods: page.remainingItemCount }),
      });
    report();
    const counters = await sweepPage(input, page.pods, deps, now, writeConcurrency, pageProgress, report, tally);
    addCounters(done, counters);
    pagesDone++;
    if (nextPage === undefined) break;
    current = await nextPage;
  }

  // Judged over the whole sweep, after every page was probed: only an apiserver that let no
  // write through, for reasons no pod explains, fails it (the pages listed fine meanwhile).
  if (
    failsTheLoop({
      succeeded: done.podsWritten + done.podsGone + tally.unchanged,
      refused: done.podsRefused,
      systemic: done.podsRefusedSystemic,
    })
  ) {
    throw tally.lastSystemicError ?? new Error(`the apiserver refused all ${done.podsRefused} status writes of the sweep of ${namespace}`);
  }
  return { namespace, ...done, pages: pagesDone, durationMs: Date.now() - started };
}

/** What this attempt of a sweep saw of its writes beyond the counters (judged at its end). */
interface WriteTally {
  /** Writes found unneeded on a re-read: the apiserver answered. */
  unchanged: number;
  /** The last refusal that may be the apiserver's own, thrown if the sweep fails for them. */
  lastSystemicError?: unknown;
}

async function sweepPage(
  input: SweepInput,
  pods: readonly SweepPod[],
  deps: SweepDeps,
  now: () => Date,
  writeConcurrency: number,
  progress: SweepProgress['page'],
  report: () => void,
  tally: WriteTally,
): Promise<SweepCounters> {
  const counters = emptySweepCounters();
  counters.pods = pods.length;
  const count = (outcome: keyof SweepCounters['outcomes']) => (counters.outcomes[outcome] = (counters.outcomes[outcome] ?? 0) + 1);

  // Results per probed pod, keyed by watchdog name; refused declarations fail without a request.
  const probed: Array<{ pod: SweepPod; results: Map<string, ProbeResult> }> = [];
  const requests: ProbeTargetRequest[] = [];
  const owners: Array<{ results: Map<string, ProbeResult>; name: string }> = [];
  for (const pod of pods) {
    if (pod.deleting) continue;
    const declarations = listProbes(pod.annotations);
    if (declarations.length === 0) continue;
    if (!isProbeEligible(pod, { probeNotReadyPods: !!input.probeNotReadyPods })) continue;
    const results = new Map<string, ProbeResult>();
    probed.push({ pod, results });
    for (const declaration of declarations) {
      const refuse = (message: string) => {
        results.set(declaration.name, { healthy: false, message });
        count('refused-target');
      };
      if (!declaration.ok) {
        refuse(declaration.reason);
        continue;
      }
      if (!pod.podIP) {
        refuse('pod has no IP address to probe');
        continue;
      }
      let url: string;
      try {
        url = probeUrl(pod.podIP, declaration.target);
      } catch (error) {
        refuse((error as Error).message);
        continue;
      }
      requests.push({ key: String(owners.length), url });
      owners.push({ results, name: declaration.name });
    }
  }

  progress.probes = requests.length;
  const answers = await deps.prober.probeAll(requests, (n) => {
    progress.probesDone = n;
    report();
  });
  for (const [key, result] of answers) {
    const owner = owners[Number(key)]!;
    owner.results.set(owner.name, result);
    count(result.outcome);
  }

  const time = now();
  const writes: Array<{ pod: SweepPod; level: string; decide: (annotations: Annotations) => Record<string, string> }> = [];
  for (const { pod, results } of probed) {
    counters.probedPods++;
    counters.probes += results.size;
    for (const result of results.values()) if (!result.healthy) counters.failedProbes++;
    // Decided against the annotations the writer reads, so a retry after a conflict decides afresh.
    const decide = (annotations: Annotations) => {
      const updates: Record<string, string> = {};
      for (const [name, result] of results) {
        const current = annotations[`${STATUS_ANNOTATION_PREFIX}${name}`];
        const value = decideProbeWrite(current === undefined ? undefined : parseStatus(current), result, time);
        if (value !== null) updates[name] = value;
      }
      return updates;
    };
    const updates = decide(pod.annotations);
    const level = buildStatusPatch(pod.annotations, updates).metadata.labels[HEALTH_LABEL] ?? 'none';
    counters.health[level] = (counters.health[level] ?? 0) + 1;
    if (Object.keys(updates).length > 0) writes.push({ pod, level, decide });
  }

  // A pod whose write is refused is that pod's problem: recorded, backed off, and the page goes on.
  const refusals = deps.refusals as PodWriteRefusals;
  const log = deps.log ?? (() => undefined);
  await forEachLimited(writes, writeConcurrency, async ({ pod, level, decide }) => {
    const ref = { namespace: input.namespace, name: pod.name, uid: pod.uid };
    // What the health count says when the label stays as it was.
    const keptLevel = () => {
      counters.health[level] = (counters.health[level] ?? 1) - 1;
      const before = pod.healthLabel ?? 'none';
      counters.health[before] = (counters.health[before] ?? 0) + 1;
    };
    if (refusals.blocked(ref)) {
      counters.podsBackingOff++;
      keptLevel();
      return;
    }
    try {
      const outcome = await writePodStatuses(deps.core, { namespace: input.namespace, name: pod.name }, decide, {
        pod: statusSnapshot(pod),
        shorten: (value) => shortenStatusValue(value),
      });
      refusals.succeeded(ref);
      if (outcome === 'written') counters.podsWritten++;
      if (outcome === 'pod-gone') counters.podsGone++;
      if (outcome === 'unchanged') tally.unchanged++;
    } catch (error) {
      const refusal = await refusals.record(ref, 'write its watchdog statuses', error, log);
      counters.podsRefused++;
      if (refusal.systemic) {
        counters.podsRefusedSystemic++;
        tally.lastSystemicError = error;
      }
      keptLevel();
    }
    progress.writes++;
    report();
  });
  return counters;
}

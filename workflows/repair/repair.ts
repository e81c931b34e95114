import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  countHeldBack,
  formatFailingLimit,
  initialRepairState,
  limitPlacesUnused,
  MAX_PLANS_PER_SWEEP,
  planRepair,
  recordOutcomes,
  recordSweep,
  recordSweepError,
  repairView,
  type RepairPlan,
  type RepairPolicy,
  type RepairState,
} from '../../domain/repair/repair';
import type { EvictionOutcome, EvictPodsInput, RepairActivities } from '../../domain/repair/repair-types';
import {
  MAX_PAUSE_REASON_LENGTH,
  pauseRepairUpdate,
  repairStateQuery,
  resumeRepairUpdate,
  setRepairPolicySignal,
} from '../../contracts/repair-messages';
import { AUTOCRANE_NAMESPACE, AUTOCRANE_STATE } from '../../contracts/search-attributes';

const { listFailingPods } = proxyActivities<RepairActivities>({
  startToCloseTimeout: '2 minutes',
  // A short retry only: a sweep that cannot list is recorded and the next one tries again.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3 },
});

const { evictPods } = proxyActivities<RepairActivities>({
  startToCloseTimeout: '2 minutes',
  // Safe to retry: each eviction carries the pod's UID as a precondition, and its Event has
  // a name derived from the UID, so a retry neither evicts a replacement nor duplicates the Event.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 },
});

export interface RepairWorkflowInput {
  namespace: string;
  policy: RepairPolicy;
  /** Carried over by continue-as-new. */
  state?: RepairState;
  /** Sweeps before continue-as-new; default SWEEPS_PER_RUN (tests lower it). */
  sweepsPerRun?: number;
}

/** Marks histories whose sweeps plan again after refused evictions (older ones never did). */
export const REPLAN_AFTER_REFUSALS_PATCH = 'repair-replan-after-refusals';

/** Sweeps per run before continue-as-new: ~5 to 8 events each keeps a run's history under ~2,000 events. */
export const SWEEPS_PER_RUN = 200;

const errorMessage = (err: unknown): string => {
  const cause = (err as { cause?: unknown }).cause;
  const message = err instanceof Error ? err.message : String(err);
  return cause instanceof Error && cause.message !== message ? `${message}: ${cause.message}` : message;
};

const policyMemo = (policy: RepairPolicy) => ({
  summary:
    `evict after ${policy.failingSweeps} failing sweeps of ${policy.intervalSeconds} s; ` +
    `at most ${formatFailingLimit(policy.workloadLimit)} per workload and ${formatFailingLimit(policy.namespaceLimit)} per namespace ` +
    `per ${policy.limitWindowSeconds} s; pods without a PDB: ${policy.unprotectedPods}`,
  policy: { ...policy, workloadLimit: formatFailingLimit(policy.workloadLimit), namespaceLimit: formatFailingLimit(policy.namespaceLimit) },
});

/**
 * Repair of one namespace: every interval, list the pods in error, count each
 * pod's consecutive failing sweeps in workflow state, and evict those past the threshold
 * through the Eviction API, within the failing limits (domain/repair/repair.ts decides). Runs
 * forever; continue-as-new carries the state, so counts survive worker and server restarts.
 */
export async function repairWorkflow(input: RepairWorkflowInput): Promise<never> {
  const { namespace } = input;
  let policy = input.policy;
  let state = input.state ?? initialRepairState(namespace);
  // Set by resume and by a new policy so the wait ends early and the change applies now.
  let wakeUp = false;

  const publishState = () => upsertSearchAttributes([{ key: AUTOCRANE_STATE, value: state.paused ? 'Paused' : 'Repairing' }]);
  upsertSearchAttributes([{ key: AUTOCRANE_NAMESPACE, value: namespace }]);
  publishState();
  upsertMemo(policyMemo(policy));

  setHandler(repairStateQuery, () => repairView(state, policy));
  setHandler(
    pauseRepairUpdate,
    (request) => {
      state = { ...state, paused: true, pauseReason: request.reason?.trim() || null };
      publishState();
      log.info('repair paused', { namespace, reason: state.pauseReason });
      return repairView(state, policy);
    },
    {
      validator: (request) => {
        if (request.reason !== undefined && (typeof request.reason !== 'string' || request.reason.length > MAX_PAUSE_REASON_LENGTH)) {
          throw new Error(`reason: expected a string of at most ${MAX_PAUSE_REASON_LENGTH} characters`);
        }
      },
    },
  );
  setHandler(resumeRepairUpdate, () => {
    if (state.paused) log.info('repair resumed', { namespace });
    state = { ...state, paused: false, pauseReason: null };
    publishState();
    wakeUp = true;
    return repairView(state, policy);
  });
  setHandler(setRepairPolicySignal, (next) => {
    policy = next;
    upsertMemo(policyMemo(policy));
    wakeUp = true;
  });

  for (
    let sweepsThisRun = 0;
    sweepsThisRun < (input.sweepsPerRun ?? SWEEPS_PER_RUN) && !workflowInfo().continueAsNewSuggested;
    sweepsThisRun++
  ) {
    await sweepOnce();
    wakeUp = false;
    await condition(() => wakeUp, policy.intervalSeconds * 1000);
  }
  // Updates are synchronous, but wait anyway so none is ever cut off by the new run.
  await condition(allHandlersFinished);
  return continueAsNew<typeof repairWorkflow>({ ...input, policy, state });

  async function sweepOnce(): Promise<void> {
    let observation;
    try {
      observation = await listFailingPods(namespace);
    } catch (err) {
      state = recordSweepError(state, `listing failing pods: ${errorMessage(err)}`, new Date().toISOString());
      log.warn('repair sweep could not list pods; counts kept', { namespace, error: state.lastError });
      return;
    }
    state = recordSweep(state, observation);
    let plan = planRepair(state, observation, policy);
    let outcomes = await evict(plan, countHeldBack(plan.heldBack));
    state = recordOutcomes(state, plan, outcomes, policy, new Date().toISOString());
    for (let plans = 1; plans < MAX_PLANS_PER_SWEEP && limitPlacesUnused(plan, outcomes) && patched(REPLAN_AFTER_REFUSALS_PATCH); plans++) {
      // Refused evictions evicted nothing: their places in the failing limit go to the pods it held back.
      plan = planRepair(state, observation, policy);
      if (plan.evictions.length === 0) {
        state = { ...state, heldBack: plan.heldBack };
        break;
      }
      // The holds were counted with the first plan.
      outcomes = await evict(plan, {});
      state = recordOutcomes(state, plan, outcomes, policy, new Date().toISOString());
    }
  }

  async function evict(plan: RepairPlan, heldBack: EvictPodsInput['heldBack']): Promise<EvictionOutcome[]> {
    let outcomes: EvictionOutcome[] = [];
    if (plan.evictions.length > 0 || plan.heldBack.length > 0) {
      try {
        outcomes = await evictPods({ namespace, gracePeriodSeconds: policy.gracePeriodSeconds, evictions: plan.evictions, heldBack });
      } catch (err) {
        // Outcomes unknown: the pods stay tracked and the next sweep sees what happened.
        state = recordSweepError(
          state,
          `evicting ${plan.evictions.map((e) => e.name).join(', ')}: ${errorMessage(err)}`,
          new Date().toISOString(),
        );
      }
    }
    for (const o of outcomes) log.info(`repair eviction ${o.result}`, { namespace, pod: o.name, uid: o.uid, message: o.message });
    return outcomes;
  }
}

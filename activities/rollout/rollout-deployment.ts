/**
 * The Deployment executor: carries out the steps domain/rollout/rollout-plan.ts plans for a Deployment
 * rollout (the canary Deployment beside the stable one, the hand-over at promotion) and waits
 * for each, checking the gate meanwhile.
 */
import { ApplicationFailure } from '@temporalio/common';
import { templatesEqual } from '../../domain/rollout/pod-template-change';
import type { DeploymentAction, DeploymentState } from '../../domain/rollout/rollout-plan';
import type { RolloutSnapshot, StageContext } from '../../domain/rollout/rollout-types';
import type { RolloutTarget } from '../../domain/rollout/rollout-spec';
import { describeTarget } from '../../domain/rollout/rollout-summary';
import { currentContext, sleep, stopIfCancelled } from '../shared/activity-context';
import { waitForCanary, waitForWorkload } from './rollout-gate-watch';
import type { RolloutKube } from './rollout-kube';
import {
  canaryTarget,
  controllerObserved,
  controllerOf,
  deploymentSettled,
  type PodJson,
  type ReplicaSetJson,
  type WorkloadJson,
} from './rollout-kube-json';
import { POLL_MS, readStable } from './rollout-kube-observe';

/** Polls of a foreign canary's deletion per attempt (10 s: prepareRollout has 30 s in all). */
const FOREIGN_CANARY_POLLS = 40;

/**
 * What an activity's own writes, watches and reads have just shown, so that the step after
 * them needs no request of its own. Each saves a round trip to an apiserver that is busy
 * starting pods, on the path from one stage's pods being ready to the next stage's starting
 * (bench/RESULTS.md, Rollout). Only what the same activity saw moments before goes in.
 */
export interface Seen {
  /** The stable Deployment as the activity's latest write, wait or read of it returned it. */
  stable?: WorkloadJson;
  /** The canary Deployment was found released (gone, or being deleted) when the activity began. */
  canaryReleased?: boolean;
  /** The canary ReplicaSet's pods as the watch of the latest canary wait saw them, `replicas` of them ready. */
  canaryPods?: { replicas: number; pods: PodJson[] };
  /** The stable Deployment's ReplicaSets, listed alongside the write that paused it. */
  stableReplicaSets?: ReplicaSetJson[];
}

/** A promotion step found the cluster other than planned (someone else wrote it): the retry re-reads it and plans again. */
const replan = (message: string) => ApplicationFailure.create({ type: 'RolloutReplan', message, nonRetryable: false });

interface ActionsOptions {
  /** Checked while the actions' waits last. */
  gate?: { ctx: StageContext; expectedPods: number };
  /** What the caller has just seen, updated by the actions' own writes and waits. */
  seen?: Seen;
}

export async function runDeploymentActions(
  kube: RolloutKube,
  rolloutId: string,
  snapshot: RolloutSnapshot,
  actions: DeploymentAction[],
  { gate, seen = {} }: ActionsOptions = {},
): Promise<string[]> {
  const done: string[] = [];
  const canary = canaryTarget(snapshot.target);
  const stableTarget = snapshot.target;
  const waitStable = (what: string, replicas: number, since: number) =>
    waitForWorkload(kube, stableTarget, what, (w) => deploymentSettled(w, replicas, since));
  for (const [i, action] of actions.entries()) {
    stopIfCancelled();
    switch (action.kind) {
      case 'scale': {
        if (action.workload === 'canary') {
          const written = await kube.scaleCanary(stableTarget, rolloutId, snapshot.newTemplate, action.replicas);
          done.push(`scale canary to ${action.replicas}`);
          delete seen.canaryPods;
          if (action.wait) {
            const pods = await waitForCanary(kube, rolloutId, snapshot, action.replicas, written.metadata.generation ?? 0, gate);
            if (pods !== null) seen.canaryPods = { replicas: action.replicas, pods };
          }
        } else {
          seen.stable = await kube.scale(stableTarget, action.replicas);
          done.push(`scale stable to ${action.replicas}`);
          if (action.wait) {
            const since = seen.stable.metadata.generation ?? 0;
            seen.stable = await waitForWorkload(
              kube,
              stableTarget,
              `stable ${action.replicas} ready`,
              (w) => deploymentSettled(w, action.replicas, since),
              { gate },
            );
          }
        }
        break;
      }
      case 'setStableTemplate': {
        const written = await kube.setTemplate(stableTarget, snapshot.uid, snapshot.oldTemplate);
        done.push('set the stable template to the old one');
        seen.stable = await waitStable(
          'stable rolled back to the old template',
          written.spec.replicas ?? 1,
          written.metadata.generation ?? 0,
        );
        break;
      }
      case 'pauseStable': {
        // The ReplicaSets the next step deletes are listed meanwhile: a stable Deployment on its
        // old template makes none, paused or not (the check before deleting is on the write's answer).
        const listing =
          actions[i + 1]?.kind === 'deleteStableReplicaSets' ? kube.listReplicaSets(stableTarget.namespace, snapshot.selector) : null;
        [seen.stable] = await Promise.all([
          kube.setPaused(stableTarget, true, action.replicas),
          listing?.then((rss) => (seen.stableReplicaSets = rss)),
        ]);
        done.push(action.replicas === undefined ? 'pause stable' : `pause stable at ${action.replicas} replicas`);
        break;
      }
      case 'deleteStableReplicaSets': {
        // Only a paused stable Deployment at 0 replicas on the old template: anything else means
        // the cluster is not where the plan thought, and the activity plans again.
        const stable = seen.stable ?? (await readStable(kube, snapshot));
        if (
          stable.metadata.uid !== snapshot.uid ||
          stable.spec.paused !== true ||
          (stable.spec.replicas ?? 1) !== 0 ||
          !templatesEqual(stable.spec.template, snapshot.oldTemplate)
        ) {
          throw replan(`${describeTarget(stableTarget)} is not paused at 0 replicas on the old template; its ReplicaSets are left alone`);
        }
        const listed = seen.stableReplicaSets ?? (await kube.listReplicaSets(stableTarget.namespace, snapshot.selector));
        delete seen.stableReplicaSets;
        const owned = listed.filter((rs) => controllerOf(rs.metadata.ownerReferences)?.uid === snapshot.uid);
        stopIfCancelled();
        await Promise.all(owned.map((rs) => kube.deleteReplicaSet(stableTarget.namespace, rs.metadata.name, rs.metadata.uid)));
        done.push(`delete the stable ReplicaSets (${owned.map((rs) => rs.metadata.name).join(', ') || 'none'})`);
        break;
      }
      case 'handOver': {
        // A retried promotion that finds it handed over already (paused, on the new template with
        // every replica) writes nothing.
        const stable = seen.stable;
        const handedOver =
          stable !== undefined &&
          stable.metadata.uid === snapshot.uid &&
          stable.spec.paused === true &&
          (stable.spec.replicas ?? 1) === action.replicas &&
          templatesEqual(stable.spec.template, snapshot.newTemplate);
        if (!handedOver) seen.stable = await kube.handOver(stableTarget, snapshot.uid, snapshot.newTemplate, action.replicas);
        done.push(
          handedOver
            ? `stable has the new template and ${action.replicas} replicas`
            : `hand the new template and ${action.replicas} replicas to stable`,
        );
        break;
      }
      case 'releaseCanary': {
        // Released already (being deleted, or gone): only the adoption is left to wait for.
        if (!seen.canaryReleased) await kube.deleteWorkload(canary, 'Orphan');
        done.push(seen.canaryReleased ? 'the canary ReplicaSet is released to stable' : 'release the canary ReplicaSet to stable');
        seen.canaryReleased = true;
        if (action.wait === false) break;
        // Adopted: the paused stable Deployment, which has no ReplicaSet of its own, counts the canary's pods.
        seen.stable = await waitForWorkload(
          kube,
          stableTarget,
          'stable adopting the canary ReplicaSet',
          (w) => controllerObserved(w) && (w.status?.replicas ?? 0) === action.replicas,
        );
        break;
      }
      case 'resumeStable': {
        const written = await kube.setPaused(stableTarget, false);
        done.push('resume stable');
        seen.stable = await waitStable(`stable ${action.replicas} ready`, action.replicas, written.metadata.generation ?? 0);
        break;
      }
      case 'takeBack':
        seen.stable = await kube.takeBack(stableTarget, snapshot.uid, snapshot.oldTemplate, action.replicas);
        done.push(`take stable back to the old template with ${action.replicas} replicas`);
        break;
      case 'deleteCanary':
        await kube.deleteWorkload(canary);
        done.push('delete the canary');
        break;
    }
  }
  return done;
}

/**
 * A canary Deployment left by an ended rollout of an earlier AutoCrane, whose selector was
 * narrowed by a label: a selector cannot be changed, so it is deleted (with its pods, which the
 * stable Deployment never counted) before this rollout's canary is applied.
 */
export async function removeForeignCanary(kube: RolloutKube, stable: WorkloadJson): Promise<void> {
  const target: RolloutTarget = { namespace: stable.metadata.namespace, kind: 'Deployment', name: stable.metadata.name };
  const canary = await kube.readWorkloadIfExists(canaryTarget(target));
  if (canary === null || templatesEqual(canary.spec.selector, stable.spec.selector)) return;
  currentContext()?.log.warn('deleting a canary Deployment whose selector is not the stable one', { canary: canary.metadata.name });
  await kube.deleteWorkload(canaryTarget(target));
  // Waited for briefly (prepareRollout has 30 s in all); a retry of the activity waits on.
  for (let i = 0; i < FOREIGN_CANARY_POLLS; i++) {
    if ((await kube.readWorkloadIfExists(canaryTarget(target))) === null) return;
    await sleep(POLL_MS);
  }
  throw ApplicationFailure.create({
    type: 'CanaryStillDeleting',
    message: `the old canary Deployment ${canary.metadata.name} is still being deleted`,
    nonRetryable: false,
  });
}

/**
 * During the stages (stable unpaused, on the old template), a crash between a planned shrink
 * and grow leaves fewer than the total: they go back to the stable Deployment. A crash between
 * a grow of the canary and the stable's shrink leaves more: once the canary's pods are ready
 * (the wait the crash cut short), the stable Deployment shrinks by the excess.
 */
export async function ensureSumMatches(
  kube: RolloutKube,
  rolloutId: string,
  snapshot: RolloutSnapshot,
  state: DeploymentState,
  {
    gate,
    seen = {},
    deferShrink = false,
  }: ActionsOptions & {
    /** Leave the shrink of an excess to the caller (`owedStable`), to go out with its next write to the stable Deployment. */
    deferShrink?: boolean;
  } = {},
): Promise<{ state: DeploymentState; owedStable?: number }> {
  const missing = snapshot.replicas - state.canary - state.stable;
  if (missing === 0 || state.stablePaused || state.stableOnNewTemplate) return { state };
  if (missing < 0) {
    const pods = await waitForCanary(kube, rolloutId, snapshot, state.canary, 0, gate);
    if (pods !== null) seen.canaryPods = { replicas: state.canary, pods };
  }
  const stable = Math.max(0, state.stable + missing);
  if (missing < 0 && deferShrink) return { state: { ...state, stable }, owedStable: stable };
  stopIfCancelled();
  seen.stable = await kube.scale(snapshot.target, stable);
  return { state: { ...state, stable } };
}

/**
 * The StatefulSet executor: carries out the steps domain/rollout/rollout-plan.ts plans for a
 * StatefulSet rollout (template, partition, pod deletions) and waits for each, checking the
 * gate meanwhile.
 */
import { planStatefulSetRollback, type StatefulSetAction } from '../../domain/rollout/rollout-plan-statefulset';
import type { RolloutSnapshot, StageContext } from '../../domain/rollout/rollout-types';
import { stopIfCancelled } from '../shared/activity-context';
import { waitFor } from './rollout-gate-watch';
import type { RolloutKube } from './rollout-kube';
import { statefulSetPodName } from './rollout-kube-json';
import { readObservedStatefulSet, statefulSetPodsSettled, statefulSetRollbackState } from './rollout-kube-observe';

/**
 * Rolls a StatefulSet back (planStatefulSetRollback). Without the old template's revision, the
 * first plan only writes the old template; the revision Kubernetes then reports is the old
 * one, and the rollback is planned again from there.
 */
export async function rollBackStatefulSet(kube: RolloutKube, snapshot: RolloutSnapshot): Promise<string[]> {
  const originalPartition = snapshot.statefulSet?.partition ?? 0;
  const done: string[] = [];
  let state = await statefulSetRollbackState(kube, snapshot, false);
  if (state.notRolledBack === null) {
    done.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetRollback(state, originalPartition))));
    state = await statefulSetRollbackState(kube, snapshot, true);
  }
  done.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetRollback(state, originalPartition))));
  return done;
}

export async function runStatefulSetActions(
  kube: RolloutKube,
  snapshot: RolloutSnapshot,
  actions: StatefulSetAction[],
  gate?: { ctx: StageContext; expectedPods: number },
): Promise<string[]> {
  const done: string[] = [];
  const rollingUpdate = (partition: number) => ({
    partition,
    ...(snapshot.statefulSet?.maxUnavailable === undefined ? {} : { maxUnavailable: snapshot.statefulSet.maxUnavailable }),
  });
  for (const action of actions) {
    stopIfCancelled();
    switch (action.kind) {
      case 'setTemplate':
        await kube.setTemplate(
          snapshot.target,
          snapshot.uid,
          action.template === 'new' ? snapshot.newTemplate : snapshot.oldTemplate,
          action.partition === null ? undefined : rollingUpdate(action.partition),
        );
        done.push(`set the ${action.template} template${action.partition === null ? '' : ` with partition ${action.partition}`}`);
        // Pods deleted next must be made from this template: the controller has to have seen it.
        await readObservedStatefulSet(kube, snapshot.target);
        break;
      case 'setPartition':
        await kube.setPartition(snapshot.target, action.partition);
        done.push(`set partition ${action.partition}`);
        break;
      case 'deletePods':
        for (const ordinal of action.ordinals) {
          stopIfCancelled();
          await kube.deletePod(snapshot.target.namespace, statefulSetPodName(snapshot.target.name, ordinal));
        }
        done.push(`delete pods ${action.ordinals.map((o) => statefulSetPodName(snapshot.target.name, o)).join(', ')}`);
        break;
      case 'waitReady':
        await waitFor(
          kube,
          `pods ${action.ordinals.join(',')} updated and ready`,
          () => statefulSetPodsSettled(kube, snapshot, action.ordinals),
          gate,
        );
        break;
    }
  }
  return done;
}

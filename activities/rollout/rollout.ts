/**
 * The rollout activities the worker registers. Each one observes the workload, asks the pure planners
 * (domain/rollout/rollout-plan.ts) what to do, does it, and waits for it while checking the gate
 * (domain/gate/stage-gate.ts) every POLL_MS, so a watchdog error stops a stage within a second.
 * Every activity re-reads the cluster when it starts, so a retry after a worker crash picks
 * up where the cluster is, not where the dead attempt thought it was. The cluster's side is in
 * rollout-kube*.ts, the gate and the waits in rollout-gate-watch.ts, the executors in
 * rollout-deployment.ts and rollout-statefulset.ts.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { DEFAULTS, ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import { checkTemplateChange, templatesEqual } from '../../domain/rollout/pod-template-change';
import {
  canaryAtPreparation,
  planDeploymentPromotion,
  planDeploymentRollback,
  planDeploymentStage,
  planDeploymentPromotionStart,
  planDeploymentStageStart,
  withOwedScaleDown,
  type DeploymentAction,
} from '../../domain/rollout/rollout-plan';
import {
  planStatefulSetPromotion,
  planStatefulSetStage,
  planStatefulSetStart,
  statefulSetRefusal,
} from '../../domain/rollout/rollout-plan-statefulset';
import { resolveStageCounts } from '../../domain/rollout/rollout-shares';
import { stepBegunEarly } from '../../domain/rollout/rollout-next-step';
import type { RolloutSpec, RolloutTarget } from '../../domain/rollout/rollout-spec';
import { describeTarget } from '../../domain/rollout/rollout-summary';
import {
  INVALID_CHANGE,
  type RolloutHeartbeat,
  type RolloutSnapshot,
  type StageContext,
  type StageOutcome,
  type WatchGateInput,
  type WatchGateResult,
} from '../../domain/rollout/rollout-types';
import { currentContext, guard as guardActivity, heartbeat, nonRetryable, sleep } from '../shared/activity-context';
import { GateProber } from '../gate/gate-probe';
import { createHttpProber, type HttpProber } from '../watchdog/http-prober';
import { ensureSumMatches, removeForeignCanary, runDeploymentActions, type Seen } from './rollout-deployment';
import { checkGate, GateFailure, initialSettleMemory, rememberSettle, toWatchGateResult, waitForWorkload } from './rollout-gate-watch';
import { RolloutKube } from './rollout-kube';
import { controllerObserved, deploymentSettled, type WorkloadJson } from './rollout-kube-json';
import { observeDeployment, POLL_MS, statefulSetState } from './rollout-kube-observe';
import { rollBackStatefulSet, runStatefulSetActions } from './rollout-statefulset';

/**
 * prepareRollout and finishRollout do not heartbeat: a worker dying in one is noticed only when
 * their 30 s start-to-close timeout expires (workflows/rollout/rollout.ts), so each of their apiserver
 * calls gives up after 5 s and the foreign canary's deletion is waited for 10 s per attempt.
 */
const SHORT_CALL_TIMEOUT_MS = 5_000;
/** watchGate's apiserver calls: a look that takes longer is a gap in the watch anyway. */
const GATE_CALL_TIMEOUT_MS = 5_000;
/**
 * How often watchGate heartbeats, whatever its calls are doing: the worker sends at most one a
 * second (workers/worker-factory.ts), and the workflow's 3 s heartbeat timeout must only ever
 * catch a dead worker. The watch itself accounts for the time it could not look.
 */
const GATE_HEARTBEAT_MS = 500;

/**
 * Removes the rollout annotation (the repair hold) from the target, if it is still this
 * rollout's: as `known` shows it (what the caller's last write or wait returned), or as read.
 */
async function releaseTarget(kube: RolloutKube, rolloutId: string, target: RolloutTarget, known?: WorkloadJson): Promise<void> {
  const workload = known ?? (await kube.readWorkloadIfExists(target));
  if (workload?.metadata.annotations?.[ROLLOUT_ANNOTATION] === rolloutId) await kube.setRolloutAnnotation(target, null);
}

export interface RolloutActivityOptions {
  /** Deadline of one of the gate's own probes (the watchdog prober's, AUTOCRANE_PROBE_TIMEOUT_SECONDS). */
  probeTimeoutSeconds?: number;
}

export function createRolloutActivities(kc: KubeConfig, options: RolloutActivityOptions = {}) {
  const kube = new RolloutKube(kc);
  const shortKube = new RolloutKube(kc, SHORT_CALL_TIMEOUT_MS);
  // The gate's lists give up well within watchGate's heartbeat timeout's worth of retries: a
  // hung call must end the attempt rather than hold a watch that sees nothing.
  const gateKube = new RolloutKube(kc, GATE_CALL_TIMEOUT_MS);
  const probeTimeoutMs = (options.probeTimeoutSeconds ?? DEFAULTS.probeTimeoutSeconds) * 1000;
  let httpProber: HttpProber | undefined;
  const gateProber = new GateProber(() => (httpProber ??= createHttpProber({ timeoutMs: probeTimeoutMs })), probeTimeoutMs);

  // A write the apiserver refuses as invalid would be refused on every retry.
  const guard = <T>(action: string, fn: () => Promise<T>): Promise<T> => guardActivity(action, fn, { refusedAs: INVALID_CHANGE });

  return {
    /**
     * Reads the target, marks it as under rollout and creates the canary (Deployment). With
     * beginFirstStage, a canary whose first stage needs no scale-down of the stable Deployment
     * first (within maxSurge) is created at that stage's count, so its pods start while the
     * workflow goes on to stage 1; the stable Deployment is not touched, so a retry reads the
     * same total and writes the same canary again.
     */
    async prepareRollout(input: { rolloutId: string; spec: RolloutSpec; beginFirstStage?: boolean }): Promise<RolloutSnapshot> {
      const { target, change } = input.spec;
      return guard(`prepare the rollout of ${describeTarget(target)}`, async () => {
        let workload: WorkloadJson;
        try {
          workload = await shortKube.readWorkload(target);
        } catch (err) {
          if ((err as { code?: number }).code === 404) throw nonRetryable('TargetNotFound', `${describeTarget(target)} not found`);
          throw err;
        }
        const matchLabels = workload.spec.selector.matchLabels ?? {};
        // A retry after the StatefulSet template was already written: the old template is gone
        // from the object, but the annotation says this rollout wrote it.
        const changed = checkTemplateChange(workload.spec.template, matchLabels, change, describeTarget(target));
        if (!changed.ok) throw nonRetryable(INVALID_CHANGE, [...new Set(changed.problems.map((p) => p.message))].join('; '));
        const refused = target.kind === 'StatefulSet' ? statefulSetRefusal(workload.spec) : null;
        if (refused !== null) throw nonRetryable(INVALID_CHANGE, `${describeTarget(target)}: ${refused}`);
        const held = workload.metadata.annotations?.[ROLLOUT_ANNOTATION];
        if (held !== undefined && held !== input.rolloutId) {
          currentContext()?.log.warn('taking over the rollout annotation of an ended rollout', {
            previous: held,
            rolloutId: input.rolloutId,
          });
        }
        // The check for a foreign canary below touches nothing of the target's, so it need not
        // wait for the annotation to land.
        const annotated = shortKube.setRolloutAnnotation(target, input.rolloutId);
        const snapshot: RolloutSnapshot = {
          target,
          uid: workload.metadata.uid,
          replicas: workload.spec.replicas ?? 1,
          selector: matchLabels,
          oldTemplate: workload.spec.template,
          newTemplate: changed.template,
        };
        if (target.kind === 'Deployment') {
          snapshot.deploymentStrategy = workload.spec.strategy ?? {};
          await Promise.all([annotated, removeForeignCanary(shortKube, workload)]);
          const begin = input.beginFirstStage
            ? canaryAtPreparation(
                resolveStageCounts(input.spec.stages, snapshot.replicas)[0]!,
                snapshot.replicas,
                snapshot.deploymentStrategy,
              )
            : 0;
          await shortKube.applyCanary(workload, input.rolloutId, changed.template, begin);
          if (begin > 0) snapshot.firstStageBegun = [`create the canary with ${begin} replicas`];
        } else {
          await annotated;
          const strategy = workload.spec.updateStrategy?.type === 'OnDelete' ? 'OnDelete' : 'RollingUpdate';
          const rolling = workload.spec.updateStrategy?.rollingUpdate;
          // status.updateRevision is the current template's revision once the controller has
          // observed the spec (it has, but for a template written moments ago).
          const oldRevision = controllerObserved(workload) ? workload.status?.updateRevision : undefined;
          snapshot.statefulSet = {
            strategy,
            partition: rolling?.partition ?? 0,
            ...(rolling?.maxUnavailable === undefined ? {} : { maxUnavailable: rolling.maxUnavailable }),
            ...(oldRevision === undefined ? {} : { oldRevision }),
          };
        }
        return snapshot;
      });
    },

    /**
     * Moves the workload to `count` replicas on the new template, watching the gate's error
     * check and deadline while it waits. With `gateAfterScaling` (a stage without bake), the
     * gate is evaluated once more as a bake of 0 s that began when the scaling finished, so a
     * stage that passes then needs no watchGate activity and workflow task of its own.
     */
    async advanceStage(
      input: StageContext & { count: number; gateAfterScaling?: boolean; nextCount?: number; beginPromotion?: boolean },
    ): Promise<StageOutcome> {
      const { snapshot } = input;
      const gate = { ctx: input, expectedPods: input.count };
      const actions: string[] = [];
      return guard(`advance ${describeTarget(snapshot.target)} to ${input.count} updated replicas`, async () => {
        const seen: Seen = {};
        // With the next step to begin once the gate passes, the stage's last scale-down (the one
        // not waited for) is held until the gate's verdict: if it passes, the next step's first
        // write to the stable Deployment makes it (withOwedScaleDown); otherwise it goes out then.
        const begins = stepBegunEarly(snapshot.target.kind, input);
        const beginsNext = begins !== null;
        let owed: DeploymentAction | undefined;
        const writeOwed = async (): Promise<string[]> => {
          const action = owed;
          owed = undefined;
          return action ? runDeploymentActions(kube, input.rolloutId, snapshot, [action], { seen }) : [];
        };
        try {
          if (snapshot.target.kind === 'Deployment') {
            const { state } = await observeDeployment(kube, snapshot);
            const fixed = await ensureSumMatches(kube, input.rolloutId, snapshot, state, { gate, seen, deferShrink: beginsNext });
            if (fixed.owedStable !== undefined) owed = { kind: 'scale', workload: 'stable', replicas: fixed.owedStable, wait: false };
            const plan = planDeploymentStage(fixed.state, input.count, snapshot.replicas, snapshot.deploymentStrategy);
            if (plan.length > 0) actions.push(...(await writeOwed()));
            // A last scale-down is not waited for: it goes out alongside the gate's check below.
            const last = plan.at(-1);
            const shrinkLast = last?.kind === 'scale' && !last.wait;
            actions.push(
              ...(await runDeploymentActions(kube, input.rolloutId, snapshot, shrinkLast ? plan.slice(0, -1) : plan, { gate, seen })),
            );
            if (shrinkLast) owed = last;
          } else {
            let { sts, state } = await statefulSetState(kube, snapshot);
            if (!templatesEqual(sts.spec.template, snapshot.newTemplate)) {
              actions.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetStart(state.strategy, snapshot.replicas))));
              ({ sts, state } = await statefulSetState(kube, snapshot));
            }
            actions.push(...(await runStatefulSetActions(kube, snapshot, planStatefulSetStage(state, input.count), gate)));
          }
          // Settled is not enough: the gate's own check of the updated pods must not fail either.
          // The pods the canary's wait watched become ready are the ones a list would return now.
          const finishedAt = new Date().toISOString();
          const watched = seen.canaryPods?.replicas === input.count ? seen.canaryPods.pods : undefined;
          const holdOwed = beginsNext && owed?.kind === 'scale' && owed.workload === 'stable';
          const [result, trailed] = await Promise.all([
            checkGate(
              kube,
              input,
              input.count,
              { startedAt: input.gateAfterScaling ? finishedAt : null, seconds: 0 },
              { watched, ...(input.gateAfterScaling ? { prober: gateProber } : {}) },
            ),
            holdOwed ? [] : writeOwed(),
          ]);
          actions.push(...trailed);
          const passed = input.gateAfterScaling === true && result.verdict === 'pass';
          if (!passed) actions.push(...(await writeOwed()));
          if (result.verdict === 'fail') throw new GateFailure(result);
          if (passed) {
            const gatePassed = toWatchGateResult(result, 'pass');
            if (begins === null) return { outcome: 'done', actions, finishedAt, gatePassed };
            const now = { canary: input.count, stable: snapshot.replicas - input.count };
            const start =
              begins.step === 'stage'
                ? planDeploymentStageStart(now, begins.count, snapshot.replicas, snapshot.deploymentStrategy)
                : planDeploymentPromotionStart(
                    { ...now, stablePaused: false, stableOnNewTemplate: false, canaryExists: true },
                    snapshot.replicas,
                    snapshot.deploymentStrategy,
                  );
            const begin = withOwedScaleDown(start, owed);
            owed = undefined;
            const nextStarted = await runDeploymentActions(kube, input.rolloutId, snapshot, begin);
            return { outcome: 'done', actions, finishedAt, gatePassed, nextStarted };
          }
          return { outcome: 'done', actions, finishedAt };
        } catch (err) {
          if (err instanceof GateFailure)
            return { outcome: 'gate-failed', actions, reason: err.result.reason, erroring: err.result.erroring.map((e) => e.pod) };
          throw err;
        }
      });
    },

    /**
     * Watches the stage's updated pods until the gate passes (bake over, pods ready and clean)
     * or fails. With holdAfterPass it goes on watching until cancelled, so a pod that turns to
     * error while the rollout is paused or awaits approval still fails the gate.
     */
    async watchGate(input: WatchGateInput): Promise<WatchGateResult> {
      return guard(`watch the gate of ${describeTarget(input.snapshot.target)}`, async () => {
        // The stage's settling as seen so far (a blip during the bake holds the gate rather
        // than failing it at once: see evaluateGate), kept across polls, attempts and holds.
        const settle = { memory: initialSettleMemory(input, currentContext()?.info.heartbeatDetails) };
        // Heartbeats on a timer, with the latest details (the settle memory among them), so a
        // slow list or probe never looks like a dead worker, and a dead worker is noticed in 3 s.
        let latest: RolloutHeartbeat = {
          updated: 0,
          ready: 0,
          erroring: [],
          step: 'watching the gate',
          ...(settle.memory ? { settle: settle.memory } : {}),
        };
        heartbeat(latest);
        const ticker = setInterval(() => heartbeat(latest), GATE_HEARTBEAT_MS);
        const report = (details: RolloutHeartbeat) => {
          latest = details;
          heartbeat(details);
        };
        try {
          for (;;) {
            const result = await checkGate(
              gateKube,
              input,
              input.expectedPods,
              { startedAt: input.bakeStartedAt, seconds: input.bakeSeconds },
              { settle, prober: gateProber, report },
            );
            if (result.verdict === 'fail' || (result.verdict === 'pass' && !input.holdAfterPass)) {
              return toWatchGateResult(result, result.verdict);
            }
            await sleep(POLL_MS);
          }
        } finally {
          clearInterval(ticker);
          rememberSettle(input, settle.memory);
        }
      });
    },

    /**
     * Puts every replica on the new template (the stable workload itself), removes the canary,
     * and then the rollout annotation (`released`), so that a successful rollout needs no
     * finishRollout activity and workflow task of its own.
     */
    async promoteRollout(input: StageContext): Promise<{ actions: string[]; released: boolean }> {
      const { snapshot } = input;
      return guard(`promote ${describeTarget(snapshot.target)}`, async () => {
        let actions: string[];
        let settledStable: WorkloadJson | undefined;
        if (snapshot.target.kind === 'Deployment') {
          const { state, stable } = await observeDeployment(kube, snapshot);
          const seen: Seen = { stable, canaryReleased: !state.canaryExists };
          const fixed = await ensureSumMatches(kube, input.rolloutId, snapshot, state, { seen });
          actions = await runDeploymentActions(
            kube,
            input.rolloutId,
            snapshot,
            planDeploymentPromotion(fixed.state, snapshot.replicas, snapshot.deploymentStrategy),
            { seen },
          );
          // The stable Deployment as the wait for it to settle left it, moments ago.
          settledStable = seen.stable;
        } else {
          const { state } = await statefulSetState(kube, snapshot);
          actions = await runStatefulSetActions(kube, snapshot, planStatefulSetPromotion(state, snapshot.statefulSet?.partition ?? 0));
        }
        await releaseTarget(kube, input.rolloutId, snapshot.target, settledStable);
        return { actions, released: true };
      });
    },

    /** Restores the old template everywhere and waits until every pod is back and ready. */
    async rollbackRollout(input: { rolloutId: string; snapshot: RolloutSnapshot }): Promise<{ actions: string[] }> {
      const { snapshot } = input;
      return guard(`roll back ${describeTarget(snapshot.target)}`, async () => {
        if (snapshot.target.kind === 'Deployment') {
          let observed = await observeDeployment(kube, snapshot);
          const { state } = observed;
          if (state.canary + state.stable > snapshot.replicas && !state.stablePaused && !state.stableOnNewTemplate) {
            // A crash between a grow and its shrink. If the stable Deployment grew (an earlier
            // rollback attempt), its pods (the old template) are waited for; the canary then
            // gives up the excess, unready pods first (planDeploymentRollback).
            await waitForWorkload(kube, snapshot.target, `stable ${state.stable} ready`, (w) => deploymentSettled(w, state.stable));
            observed = await observeDeployment(kube, snapshot);
          }
          const plan = planDeploymentRollback(
            { ...observed.state, canaryReady: Math.min(observed.canaryReady, observed.state.canary) },
            snapshot.replicas,
            snapshot.deploymentStrategy,
          );
          return { actions: await runDeploymentActions(kube, input.rolloutId, snapshot, plan) };
        }
        return { actions: await rollBackStatefulSet(kube, snapshot) };
      });
    },

    /** Removes the rollout annotation, if it is still this rollout's. */
    async finishRollout(input: { rolloutId: string; target: RolloutTarget }): Promise<void> {
      return guard(`release ${describeTarget(input.target)}`, () => releaseTarget(shortKube, input.rolloutId, input.target));
    },
  };
}

export type RolloutActivities = ReturnType<typeof createRolloutActivities>;

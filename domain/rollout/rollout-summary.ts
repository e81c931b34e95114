/**
 * A rollout spec described for people: the memo's summary and the target key. Kept apart
 * from rollout-spec.ts (which re-exports it) so that workflows can use it without bundling
 * zod.
 *
 * Pure: safe to import from workflows.
 */
import { formatShare } from './rollout-shares';
import type { RollbackPolicy, RolloutChange, RolloutSpec, RolloutStage, RolloutTarget } from './rollout-spec';

export interface SpecSummary {
  /** One line, e.g. "Deployment shop/web: images web=shop:2; 10% → 50% → 100%, automatic rollback". */
  text: string;
  target: string;
  change: string;
  stages: string[];
  rollback: RollbackPolicy;
  requestId?: string;
}

/** `shop/Deployment/web`, the same form as the AutoCraneTarget search attribute. */
export function targetKey(target: RolloutTarget): string {
  return `${target.namespace}/${target.kind}/${target.name}`;
}

/** `Deployment shop/web`: how messages, decisions and summaries name a workload. */
export function describeTarget(target: RolloutTarget): string {
  return `${target.kind} ${target.namespace}/${target.name}`;
}

/** Longest rollback reason kept in an activity summary (the decision keeps all of it). */
const MAX_SUMMARY_REASON = 160;

/**
 * One line per activity call, shown as the activity's summary in the Temporal UI's event
 * history, so the timeline reads as the rollout's steps without opening each input. Stages
 * count from 1, as people do; `stage` arguments are 0-based indices.
 */
export const activitySummary = {
  prepare: (target: RolloutTarget): string => `prepare the rollout of ${describeTarget(target)}`,
  advance: (stage: number, stages: number, count: number, replicas: number): string =>
    `stage ${stage + 1}/${stages}: scale to ${count} of ${replicas} replicas on the new template`,
  bake: (stage: number, stages: number, bakeSeconds: number): string =>
    bakeSeconds > 0
      ? `stage ${stage + 1}/${stages}: bake ${bakeSeconds}s with the gate watched`
      : `stage ${stage + 1}/${stages}: watch the gate until it passes`,
  hold: (stage: number, stages: number, why: 'paused' | 'awaiting approval'): string =>
    `stage ${stage + 1}/${stages}: watch the gate while ${why}`,
  promote: (target: RolloutTarget, replicas: number): string =>
    `promote: all ${replicas} replicas of ${describeTarget(target)} on the new template`,
  rollback: (reason: string): string => {
    const chars = Array.from(reason);
    return `roll back: ${chars.length <= MAX_SUMMARY_REASON ? reason : `${chars.slice(0, MAX_SUMMARY_REASON - 1).join('')}…`}`;
  },
  finish: (target: RolloutTarget): string => `release ${describeTarget(target)}`,
} as const;

const MAX_CHANGE_TEXT = 200;

function describeChange(change: RolloutChange): string {
  if (change.template !== undefined) {
    const images = [...change.template.spec.containers, ...(change.template.spec.initContainers ?? [])].map((c) => `${c.name}=${c.image}`);
    return `whole template (${images.join(', ')})`;
  }
  const parts: string[] = [];
  if (change.images !== undefined) {
    parts.push(
      `images ${Object.entries(change.images)
        .map(([c, image]) => `${c}=${image}`)
        .join(', ')}`,
    );
  }
  if (change.env !== undefined) {
    // Values may be secrets: names only.
    const vars = Object.entries(change.env).flatMap(([c, env]) =>
      Object.entries(env).map(([name, value]) => `${c}.${name}${value === null ? ' removed' : ''}`),
    );
    parts.push(`env ${vars.join(', ')}`);
  }
  const text = parts.join('; ');
  return text.length <= MAX_CHANGE_TEXT ? text : `${text.slice(0, MAX_CHANGE_TEXT - 1)}…`;
}

function describeStage(stage: RolloutStage): string {
  const parts = [formatShare(stage.replicas)];
  if (stage.bakeSeconds > 0) parts.push(`bake ${stage.bakeSeconds}s`);
  if (stage.approval !== undefined) parts.push(`approval (${stage.approval.onTimeout} after ${stage.approval.timeoutSeconds}s)`);
  return parts.join(', ');
}

/**
 * A short summary of a spec for the workflow memo: a line for people and a small object.
 * Env values are left out (they may hold secrets); only variable names appear.
 */
export function summarizeSpec(spec: RolloutSpec): SpecSummary {
  const change = describeChange(spec.change);
  const stages = spec.stages.map(describeStage);
  const summary: SpecSummary = {
    text: `${spec.target.kind} ${spec.target.namespace}/${spec.target.name}: ${change}; ${spec.stages.map((s) => formatShare(s.replicas)).join(' → ')}, ${spec.rollback} rollback`,
    target: targetKey(spec.target),
    change,
    stages,
    rollback: spec.rollback,
  };
  if (spec.requestId !== undefined) summary.requestId = spec.requestId;
  return summary;
}

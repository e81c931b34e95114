/**
 * Supersede: a start with `supersede: true` replaces the rollout running on the
 * target. The running rollout rolls its own change back and ends Superseded; its workflow then
 * continues as the new rollout (same workflow ID, new run). Until then the new rollout is
 * Pending, waiting for that rollback. Pure decisions; workflows/rollout/rollout.ts orchestrates.
 */
import { isTerminal, type RolloutState } from '../gate/stage-controls';

export interface SupersedeContext {
  /** The running rollout's ID. */
  rolloutId: string;
  state: RolloutState;
  /** The rollout that already superseded it, if one did. */
  supersededBy: string | null;
}

export type SupersedeDecision =
  /** `repeat`: the rollout that already superseded this one asked again; nothing changes. */
  { accepted: true; repeat: boolean } | { accepted: false; reason: string };

/**
 * Whether rollout `by` may supersede the running rollout. Once a rollback has begun (an abort,
 * a failed gate) or the rollout has ended, there is nothing left to supersede; a second,
 * different rollout may not take the place already promised to the first one that asked.
 */
export function decideSupersede(ctx: SupersedeContext, by: string): SupersedeDecision {
  if (ctx.supersededBy !== null) {
    if (ctx.supersededBy === by) return { accepted: true, repeat: true };
    return {
      accepted: false,
      reason: `supersede: rollout ${ctx.rolloutId} is already superseded by rollout ${ctx.supersededBy}, which starts once it has rolled back`,
    };
  }
  if (ctx.state === 'Promoting') {
    return {
      accepted: false,
      reason: `supersede: rollout ${ctx.rolloutId} is promoting, which cannot be interrupted; start again once it has ended`,
    };
  }
  if (isTerminal(ctx.state) || ctx.state === 'RollingBack') {
    return { accepted: false, reason: `supersede: rollout ${ctx.rolloutId} is ${ctx.state} and can no longer be superseded` };
  }
  return { accepted: true, repeat: false };
}

/** The superseded rollout's decision. */
export const supersededReason = (by: string): string => `superseded by rollout ${by}; rolling back before it starts`;

/** The superseding rollout's only decision while it waits. */
export const waitingReason = (previous: string): string =>
  `waiting for rollout ${previous}, which this rollout superseded, to roll back its change; this rollout starts once it has`;

/**
 * Typed Temporal keys for AutoCrane's search attributes (names and kinds live in
 * domain/shared/keys.ts). Pure: usable from workflows and from clients building visibility queries.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../domain/shared/keys';

const TEMPORAL_TYPE = { Keyword: 'KEYWORD', Int: 'INT' } as const;
const { target, namespace, state, stage, rolloutId, supersededBy } = SEARCH_ATTRIBUTES;

export const AUTOCRANE_TARGET = defineSearchAttributeKey(target.name, TEMPORAL_TYPE[target.type]);
export const AUTOCRANE_NAMESPACE = defineSearchAttributeKey(namespace.name, TEMPORAL_TYPE[namespace.type]);
export const AUTOCRANE_STATE = defineSearchAttributeKey(state.name, TEMPORAL_TYPE[state.type]);
export const AUTOCRANE_STAGE = defineSearchAttributeKey(stage.name, TEMPORAL_TYPE[stage.type]);
export const AUTOCRANE_ROLLOUT_ID = defineSearchAttributeKey(rolloutId.name, TEMPORAL_TYPE[rolloutId.type]);
export const AUTOCRANE_SUPERSEDED_BY = defineSearchAttributeKey(supersededBy.name, TEMPORAL_TYPE[supersededBy.type]);

/**
 * A rollout request's identity: what a rollout ID looks like, when two starts ask for the same
 * rollout (a repeated request ID must carry the same spec), and whether a change can be rolled
 * out onto a workload's live template at all.
 *
 * Pure: no I/O, no clock, safe to import from workflows.
 */
import { checkTemplateChange, type ChangeProblem, type PodTemplate } from './pod-template-change';
import type { RolloutSpec } from './rollout-spec';
import { describeTarget } from './rollout-summary';

/** Rollout IDs are 12 hex digits; anything safe in a visibility query string is accepted. */
export const ROLLOUT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * A value as canonical JSON: object keys sorted, undefined members left out, arrays in order,
 * nothing else dropped. Two parsed specs are the same request when their JSON is. (Not
 * pod-template-change's canonicalJson, which drops empty values: in change.env a null
 * removes a variable, so it must not compare equal to leaving it out.)
 */
export function specJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : specJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${specJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What a repeated start must match: the parsed spec without `supersede` (how to start, not what). */
const requestPart = (spec: RolloutSpec): Record<string, unknown> => {
  const { supersede: _supersede, ...rest } = spec;
  return rest;
};

/** Whether two parsed specs ask for the same rollout (`supersede` aside). */
export function sameRolloutRequest(a: RolloutSpec, b: RolloutSpec): boolean {
  return specJson(requestPart(a)) === specJson(requestPart(b));
}

/** The top-level fields in which two parsed specs differ (`supersede` aside). */
export function differingFields(a: RolloutSpec, b: RolloutSpec): string[] {
  const left = requestPart(a);
  const right = requestPart(b);
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
  return keys.filter((k) => specJson(left[k] ?? null) !== specJson(right[k] ?? null));
}

/** What a change is checked against: a workload's live pod template and selector. */
export interface LiveTemplate {
  template: PodTemplate;
  /** spec.selector.matchLabels ({} when it has none). */
  matchLabels: Record<string, string>;
}

/**
 * The problems of a change against the live workload, each with the spec's field path: the
 * checks prepareRollout makes (checkTemplateChange), made before anything
 * starts so that such a change is answered 422 instead of starting a rollout that fails.
 */
export function liveChangeProblems(live: LiveTemplate, spec: RolloutSpec): ChangeProblem[] {
  const checked = checkTemplateChange(live.template, live.matchLabels, spec.change, describeTarget(spec.target));
  return checked.ok ? [] : checked.problems;
}

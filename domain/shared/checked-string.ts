/**
 * Strings checked by zod's own length and regex checks, so that the JSON Schema generated
 * from them (the API's OpenAPI document) states the same rule the server applies, while each
 * failure keeps the specific message of the rule's problem function. A refinement would
 * validate just as well but be invisible to JSON Schema, and to clients and fuzzers.
 *
 * Pure (zod only): safe to import from workflows.
 */
import { z } from 'zod';
import { sourceNameError, VERSION_ID, versionIdError } from '../data/data-contract';
import { dns1123LabelError, dns1123SubdomainError, DNS1123_LABEL_RULE, DNS1123_SUBDOMAIN_RULE, type StringRule } from './k8s-names';

export type Problem = (value: string) => string | null;

/**
 * A string that must follow `rule`; every failure reads `problem(value)`. Each check aborts
 * the rest, so one bad value gets one message; `problem` runs last as a backstop for whatever
 * it checks beyond the rule.
 */
export function ruledString(rule: StringRule, problem: Problem) {
  const error = (issue: { input?: unknown }) => problem(String(issue.input)) ?? `must match ${rule.pattern.source}`;
  const bounded = z.string().min(rule.minLength, { error, abort: true });
  return (rule.maxLength === undefined ? bounded : bounded.max(rule.maxLength, { error, abort: true }))
    .regex(rule.pattern, { error, abort: true })
    .superRefine((value, ctx) => {
      const message = problem(value);
      if (message !== null) ctx.addIssue({ code: 'custom', message });
    });
}

/** The rule as JSON Schema keywords, for places zod cannot carry it (record keys). */
export const ruleJsonSchema = (rule: StringRule) => ({
  pattern: rule.pattern.source,
  minLength: rule.minLength,
  ...(rule.maxLength === undefined ? {} : { maxLength: rule.maxLength }),
});

const named =
  (what: string, error: (value: string) => string | null): Problem =>
  (value) => {
    const e = error(value);
    return e === null ? null : `'${value}' is not a ${what}: ${e}`;
  };

export const namespaceNameProblem = named('namespace name', dns1123LabelError);
/** A namespace name (a DNS-1123 label). */
export const namespaceName = () => ruledString(DNS1123_LABEL_RULE, namespaceNameProblem);
/** An object name that must be a DNS-1123 subdomain (pods, Deployments, StatefulSets). */
export const subdomainName = (what: string) => ruledString(DNS1123_SUBDOMAIN_RULE, named(what, dns1123SubdomainError));
/** A name that must be a DNS-1123 label (containers, sources). */
export const labelName = (what: string) => ruledString(DNS1123_LABEL_RULE, named(what, dns1123LabelError));
/** A data source's name (a DNS-1123 label: an annotation key segment and a folder name). */
export const sourceName = () => ruledString(DNS1123_LABEL_RULE, sourceNameError);
/** A data version's ID, `yyyymmddThhmmssZ-<12 hex>` (29 characters). */
export const versionIdString = () => ruledString({ pattern: VERSION_ID, minLength: 29, maxLength: 29 }, versionIdError);

/**
 * Whether a Kubernetes label selector (metav1.LabelSelector: matchLabels and matchExpressions
 * with In, NotIn, Exists, DoesNotExist) selects a label map. Repair uses it to find the
 * PodDisruptionBudgets that cover a pod, with policy/v1 semantics: an empty selector selects
 * every pod of the namespace, a null (absent) selector selects none.
 *
 * Pure: safe to import from workflows.
 */

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: readonly string[] | null;
}

/** The shape of client-node's V1LabelSelector, so its objects can be passed as they are. */
export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>> | null;
  matchExpressions?: readonly LabelSelectorRequirement[] | null;
}

export type Labels = Readonly<Record<string, string>>;

/**
 * Why `selector` is not a valid label selector, or null if it is. As the apiserver validates:
 * In and NotIn need at least one value; Exists and DoesNotExist take none; any other operator
 * is unknown. `where` names the selector in the message (e.g. "PodDisruptionBudget web").
 */
export function labelSelectorError(selector: LabelSelector, where = 'label selector'): string | null {
  for (const [index, requirement] of (selector.matchExpressions ?? []).entries()) {
    const values = requirement.values ?? [];
    const at = `${where}: matchExpressions[${index}] (key '${requirement.key}')`;
    switch (requirement.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) return `${at}: operator ${requirement.operator} needs at least one value`;
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) return `${at}: operator ${requirement.operator} takes no values`;
        break;
      default:
        return `${at}: unknown operator '${requirement.operator}' (expected In, NotIn, Exists or DoesNotExist)`;
    }
  }
  return null;
}

const has = (labels: Labels, key: string) => Object.prototype.hasOwnProperty.call(labels, key);

function requirementMatches(requirement: LabelSelectorRequirement, labels: Labels): boolean {
  const present = has(labels, requirement.key);
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case 'In':
      return present && values.includes(labels[requirement.key]!);
    case 'NotIn':
      // As in Kubernetes: a pod without the label is "not in" any set of values.
      return !present || !values.includes(labels[requirement.key]!);
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    default:
      return false;
  }
}

/**
 * Whether `selector` selects a pod with `labels` (all requirements hold: AND).
 * null/undefined selects nothing; `{}` (no requirement at all) selects everything.
 * Throws RangeError, naming the faulty requirement and `where`, for an invalid selector
 * (see labelSelectorError).
 */
export function labelSelectorMatches(
  selector: LabelSelector | null | undefined,
  labels: Labels | null | undefined,
  where?: string,
): boolean {
  if (selector === null || selector === undefined) return false;
  const error = labelSelectorError(selector, where);
  if (error !== null) throw new RangeError(error);
  const podLabels = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(podLabels, key) || podLabels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((requirement) => requirementMatches(requirement, podLabels));
}

/**
 * The rollout request: what to change on which workload, in which stages, gated
 * how, and what to do on a gate failure. One zod schema validates it and, through its `.meta`
 * ids, documents it: zod-to-openapi reads zod 4's `.meta()` registry, so the API's OpenAPI
 * document is generated from this very schema (registerPath with `RolloutSpecSchema` as the
 * request body; no `extendZodWithOpenApi` needed).
 *
 * Choices (docs/rollouts.md):
 *  - Stages are canary stages. After the last listed stage passes its gate (and approval),
 *    the rollout is promoted: every replica gets the new template. A last stage of "100%"
 *    is allowed (and gives a bake with every replica on the new template before promotion)
 *    but not required.
 *  - Shares within one unit (percentages among themselves, counts among themselves) must not
 *    decrease; a percentage and a count can only be compared once the replica count is known,
 *    and there rollout-shares' resolveStageCounts never lets a stage go below the one before.
 *  - gate.noData defaults to 'wait': a stage is not passed on pods nothing watches; with
 *    gate.progressDeadlineSeconds (default 600, Kubernetes' Deployment default) the wait ends
 *    in a gate failure naming the pods.
 *  - approval.onTimeout defaults to 'rollback': silence is not consent.
 *
 * Pure (zod only): safe to import from workflows.
 */
import { z } from 'zod';
import { labelName, namespaceName, ruledString, ruleJsonSchema, subdomainName } from '../shared/checked-string';
import { dns1123LabelError, DNS1123_LABEL_RULE, QUALIFIED_NAME_PART_RULE, type StringRule } from '../shared/k8s-names';
import { formatShare, parseShare } from './rollout-shares';
import { validateWatchdogName } from '../watchdog/watchdog-status';

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

export const ROLLOUT_LIMITS = {
  maxStages: 10,
  maxBakeSeconds: 86_400,
  /** An approval may wait up to 7 days. */
  maxApprovalTimeoutSeconds: 604_800,
  maxMinReadySeconds: 86_400,
  maxProgressDeadlineSeconds: 86_400,
  maxContainersChanged: 64,
  maxEnvVarsPerContainer: 256,
  maxWatchdogs: 32,
  /** Longest image reference (the distribution spec's limit on the name is 255; tag and digest come on top). */
  maxImageLength: 1024,
  maxRequestIdLength: 64,
} as const;

/** Defaults applied by parseRolloutSpec; each is documented in docs/rollouts.md. */
export const ROLLOUT_DEFAULTS = {
  maxErrorPods: 0,
  minReadySeconds: 0,
  noData: 'wait',
  progressDeadlineSeconds: 600,
  rollback: 'automatic',
  approvalOnTimeout: 'rollback',
  supersede: false,
} as const;

// ---------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------

type Problem = (value: string) => string | null;

const containerNameProblem: Problem = (v) => {
  const e = dns1123LabelError(v);
  return e === null ? null : `'${v}' is not a container name: ${e}`;
};

/**
 * An image reference as the distribution spec (and Docker) reads it:
 * `[host[:port]/]path[:tag][@digest]`, path components lowercase.
 */
const IMAGE_REFERENCE = (() => {
  const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
  const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
  const pathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
  const tag = '[\\w][\\w.-]{0,127}';
  const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
  return new RegExp(`^(?:${domain}/)?${pathComponent}(?:/${pathComponent})*(?::${tag})?(?:@${digest})?$`);
})();
const IMAGE_RULE: StringRule = { pattern: IMAGE_REFERENCE, minLength: 1, maxLength: ROLLOUT_LIMITS.maxImageLength };

/** Why `image` is not an image reference, or null. */
export function imageReferenceError(image: string): string | null {
  if (image.length === 0) return 'image must not be empty';
  if (image.length > ROLLOUT_LIMITS.maxImageLength) {
    return `image must be at most ${ROLLOUT_LIMITS.maxImageLength} characters (got ${image.length})`;
  }
  if (!IMAGE_REFERENCE.test(image)) {
    return `'${image}' is not an image reference ([registry[:port]/]repository[:tag][@digest], repository in lowercase)`;
  }
  return null;
}

/** Kubernetes' portable rule for env var names (IsEnvVarName before relaxed validation). */
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const ENV_VAR_NAME_RULE: StringRule = { pattern: ENV_VAR_NAME, minLength: 1 };

/** Why `name` is not an environment variable name, or null. */
export function envVarNameError(name: string): string | null {
  if (name.length === 0) return 'environment variable name must not be empty';
  if (!ENV_VAR_NAME.test(name)) {
    return `'${name}' is not an environment variable name: letters, digits, '_', '-' and '.', not beginning with a digit`;
  }
  return null;
}

const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REQUEST_ID_RULE: StringRule = { pattern: REQUEST_ID, minLength: 1, maxLength: ROLLOUT_LIMITS.maxRequestIdLength };

/** Why `id` cannot be a request ID, or null: 1..64 of letters, digits, '.', '_', '-', starting with a letter or digit. */
export function requestIdError(id: string): string | null {
  if (id.length === 0 || id.length > ROLLOUT_LIMITS.maxRequestIdLength) {
    return `must be 1 to ${ROLLOUT_LIMITS.maxRequestIdLength} characters (got ${id.length})`;
  }
  if (!REQUEST_ID.test(id)) return "must be letters, digits, '.', '_' or '-', beginning with a letter or digit";
  return null;
}

/**
 * A record whose keys are checked by `keyProblem`, with a bound on its size; issues land on
 * the key's path. The key rule and the bounds are also stated as JSON Schema (zod's own
 * record key errors would not name the key's problem).
 */
const checkedRecord = <V extends z.ZodType>(keyRule: StringRule, keyProblem: Problem, value: V, what: string, max: number) =>
  z
    .record(z.string(), value)
    .superRefine((record, ctx) => {
      const keys = Object.keys(record);
      if (keys.length === 0) ctx.addIssue({ code: 'custom', message: `must name at least one ${what}` });
      if (keys.length > max) ctx.addIssue({ code: 'custom', message: `must name at most ${max} ${what}s (got ${keys.length})` });
      for (const key of keys) {
        const message = keyProblem(key);
        if (message !== null) ctx.addIssue({ code: 'custom', message, path: [key] });
      }
    })
    .meta({ propertyNames: ruleJsonSchema(keyRule), minProperties: 1, maxProperties: max });

const integer = (min: number, max: number, what: string) =>
  z
    .number({ error: `expected ${what}, a whole number from ${min} to ${max}` })
    .int({ error: `expected ${what}, a whole number from ${min} to ${max}` })
    .min(min, { error: `expected ${what}, a whole number from ${min} to ${max}` })
    .max(max, { error: `expected ${what}, a whole number from ${min} to ${max}` });

const enumOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, {
    error: (issue) => (issue.input === undefined ? 'required' : `expected one of ${values.join(', ')}, got ${JSON.stringify(issue.input)}`),
  });

// ---------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export const RolloutTargetSchema = z
  .strictObject({
    namespace: namespaceName(),
    kind: enumOf(WORKLOAD_KINDS),
    name: subdomainName('workload name'),
  })
  .meta({ id: 'RolloutTarget', description: 'The workload to roll out.' });

const containerSchema = z.looseObject({
  name: labelName('container name'),
  image: ruledString(IMAGE_RULE, imageReferenceError),
});

const podTemplateSchema = z
  .looseObject({
    metadata: z.looseObject({ labels: z.record(z.string(), z.string()).optional() }).optional(),
    spec: z.looseObject({
      containers: z.array(containerSchema).min(1, { error: 'must list at least one container' }),
      initContainers: z.array(containerSchema).optional(),
    }),
  })
  .superRefine((template, ctx) => {
    const seen = new Set<string>();
    for (const field of ['containers', 'initContainers'] as const) {
      (template.spec[field] ?? []).forEach((container, index) => {
        if (seen.has(container.name)) {
          ctx.addIssue({
            code: 'custom',
            message: `container name '${container.name}' is used twice in the template`,
            path: ['spec', field, index, 'name'],
          });
        }
        seen.add(container.name);
      });
    }
  })
  .meta({
    id: 'PodTemplate',
    description: 'A whole pod template (metadata and spec), as in a Deployment or StatefulSet; the API server validates it in full.',
  });

export const RolloutChangeSchema = z
  .strictObject({
    images: checkedRecord(
      DNS1123_LABEL_RULE,
      containerNameProblem,
      ruledString(IMAGE_RULE, imageReferenceError),
      'container',
      ROLLOUT_LIMITS.maxContainersChanged,
    )
      .optional()
      .meta({ description: 'New image by container name (containers and initContainers).' }),
    env: checkedRecord(
      DNS1123_LABEL_RULE,
      containerNameProblem,
      checkedRecord(
        ENV_VAR_NAME_RULE,
        envVarNameError,
        z.string({ error: 'expected a string value, or null to remove the variable' }).nullable(),
        'variable',
        ROLLOUT_LIMITS.maxEnvVarsPerContainer,
      ),
      'container',
      ROLLOUT_LIMITS.maxContainersChanged,
    )
      .optional()
      .meta({ description: 'Environment variables to set (string) or remove (null), by container name.' }),
    template: podTemplateSchema.optional(),
  })
  .superRefine((change, ctx) => {
    const edits = change.images !== undefined || change.env !== undefined;
    if (change.template !== undefined && edits) {
      ctx.addIssue({ code: 'custom', message: 'give either template, or images and/or env, not both', path: ['template'] });
    } else if (change.template === undefined && !edits) {
      ctx.addIssue({ code: 'custom', message: 'must give images and/or env, or a whole template' });
    }
  })
  .meta({ id: 'RolloutChange', description: 'Either images and/or env edits, or a whole new pod template.' });

/** "1%".."100%": leading zeros and fractions are refused. */
const PERCENT = /^([1-9][0-9]?|100)%$/;
const SHARE_ERROR = 'expected a percentage from "1%" to "100%" or a whole number of replicas of at least 1';

export const StageReplicasSchema = z
  .union([z.string().regex(PERCENT, { error: SHARE_ERROR }), z.number().int({ error: SHARE_ERROR }).min(1, { error: SHARE_ERROR })], {
    error: SHARE_ERROR,
  })
  .meta({
    description:
      'Replicas on the new template during this stage: a percentage of the total ("25%", rounded up, at least 1) or a count (at most the total).',
  });

export const ApprovalSchema = z
  .strictObject({
    timeoutSeconds: integer(1, ROLLOUT_LIMITS.maxApprovalTimeoutSeconds, 'seconds'),
    onTimeout: enumOf(['proceed', 'rollback'] as const).default(ROLLOUT_DEFAULTS.approvalOnTimeout),
  })
  .meta({
    id: 'RolloutApproval',
    description: 'A manual approval asked for once the stage passes its gate; when it times out, onTimeout is taken.',
  });

export const RolloutStageSchema = z
  .strictObject({
    replicas: StageReplicasSchema,
    bakeSeconds: integer(0, ROLLOUT_LIMITS.maxBakeSeconds, 'seconds'),
    approval: ApprovalSchema.optional(),
  })
  .meta({ id: 'RolloutStage' });

export const NO_DATA_POLICIES = ['wait', 'pass', 'fail'] as const;
export type NoDataPolicy = (typeof NO_DATA_POLICIES)[number];

export const GatePolicySchema = z
  .strictObject({
    maxErrorPods: integer(0, 10_000, 'a pod count').default(ROLLOUT_DEFAULTS.maxErrorPods).meta({
      description: 'Updated pods allowed to have an error-level watchdog; one more fails the gate.',
    }),
    minReadySeconds: integer(0, ROLLOUT_LIMITS.maxMinReadySeconds, 'seconds').default(ROLLOUT_DEFAULTS.minReadySeconds).meta({
      description: 'How long each updated pod must have been ready before the stage can pass.',
    }),
    watchdogs: z
      .array(ruledString(QUALIFIED_NAME_PART_RULE, validateWatchdogName))
      .min(1, { error: 'must name at least one watchdog (leave it out to count every watchdog)' })
      .max(ROLLOUT_LIMITS.maxWatchdogs, { error: `must name at most ${ROLLOUT_LIMITS.maxWatchdogs} watchdogs` })
      .superRefine((names, ctx) => {
        names.forEach((name, index) => {
          if (names.indexOf(name) !== index) ctx.addIssue({ code: 'custom', message: `watchdog '${name}' is named twice`, path: [index] });
        });
      })
      .optional()
      .meta({ description: 'Only these watchdogs count; by default every watchdog of the updated pods counts.' }),
    noData: enumOf(NO_DATA_POLICIES).default(ROLLOUT_DEFAULTS.noData).meta({
      description: 'An updated pod that no (named) watchdog watches: wait for data, pass it, or fail the gate.',
    }),
    progressDeadlineSeconds: integer(1, ROLLOUT_LIMITS.maxProgressDeadlineSeconds, 'seconds')
      .default(ROLLOUT_DEFAULTS.progressDeadlineSeconds)
      .meta({
        description:
          'How long a stage may stay unsettled (updated pods missing, not ready for minReadySeconds, or unwatched under noData wait) before its gate fails: counted from the stage start while it scales, then from the latest of the bake start (or re-gate) and the last time the stage was settled. An unsettled spell during a bake holds the gate and restarts the bake.',
      }),
  })
  .prefault({})
  .meta({ id: 'RolloutGate', description: 'When a stage passes, waits or fails.' });

export const ROLLBACK_POLICIES = ['automatic', 'freeze'] as const;
export type RollbackPolicy = (typeof ROLLBACK_POLICIES)[number];

export const RolloutSpecSchema = z
  .strictObject({
    target: RolloutTargetSchema,
    change: RolloutChangeSchema,
    stages: z
      .array(RolloutStageSchema)
      .min(1, { error: 'must list at least one stage' })
      .max(ROLLOUT_LIMITS.maxStages, { error: `must list at most ${ROLLOUT_LIMITS.maxStages} stages` })
      .superRefine((stages, ctx) => {
        type Seen = { index: number; value: number; replicas: StageReplicas };
        let lastPercent: Seen | undefined;
        let lastCount: Seen | undefined;
        stages.forEach((stage, index) => {
          const share = parseShare(stage.replicas);
          const previous = share.unit === 'percent' ? lastPercent : lastCount;
          if (previous !== undefined && share.value < previous.value) {
            ctx.addIssue({
              code: 'custom',
              message: `${formatShare(stage.replicas)} is less than stages[${previous.index}]'s ${formatShare(previous.replicas)}: shares must not decrease`,
              path: [index, 'replicas'],
            });
          }
          const seen = { index, value: share.value, replicas: stage.replicas };
          if (share.unit === 'percent') lastPercent = seen;
          else lastCount = seen;
        });
      })
      .meta({ description: 'Canary stages in order; after the last one passes, every replica is promoted to the new template.' }),
    gate: GatePolicySchema,
    rollback: enumOf(ROLLBACK_POLICIES).default(ROLLOUT_DEFAULTS.rollback).meta({
      description:
        "On a gate failure: 'automatic' rolls back at once, 'freeze' holds everything as it is until an operator aborts, resumes or promotes.",
    }),
    requestId: ruledString(REQUEST_ID_RULE, requestIdError).optional().meta({
      description:
        'Idempotency key: starting again with the same request ID and the same spec (supersede aside) returns the same rollout; with a different spec, 422.',
    }),
    supersede: z.boolean({ error: 'expected true or false' }).default(ROLLOUT_DEFAULTS.supersede).meta({
      description: 'Replace a rollout already running on the target instead of answering 409.',
    }),
  })
  .meta({ id: 'RolloutSpec', description: 'A staged rollout of a new pod template, gated by watchdogs.' });

export type RolloutSpec = z.output<typeof RolloutSpecSchema>;
/** The request as a client writes it (defaults may be left out). */
export type RolloutSpecInput = z.input<typeof RolloutSpecSchema>;
export type RolloutTarget = RolloutSpec['target'];
export type RolloutChange = RolloutSpec['change'];
export type RolloutStage = RolloutSpec['stages'][number];
export type GatePolicy = RolloutSpec['gate'];
export type StageReplicas = RolloutStage['replicas'];

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

export interface SpecProblem {
  /** Where, in JavaScript accessor form: `stages[1].replicas`, `change.images.web`; '' for the whole body. */
  path: string;
  message: string;
}

export type SpecParse = { ok: true; spec: RolloutSpec } | { ok: false; problems: SpecProblem[] };

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** `['stages', 1, 'replicas']` → `stages[1].replicas`; odd keys are quoted: `change.env["a.b"]`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += PLAIN_KEY.test(key) ? `${out === '' ? '' : '.'}${key}` : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

function issueProblems(issue: z.core.$ZodIssue): SpecProblem[] {
  const path = formatIssuePath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatIssuePath([...issue.path, key]), message: 'unknown field' }));
  }
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input === undefined)
    return [{ path, message: 'required' }];
  if (issue.code === 'invalid_type' && issue.expected === 'object') {
    return [
      {
        path,
        message: `expected a JSON object, got ${issue.input === null ? 'null' : Array.isArray(issue.input) ? 'an array' : typeof issue.input}`,
      },
    ];
  }
  if (issue.code === 'invalid_type' && issue.expected === 'array') return [{ path, message: 'expected a JSON array' }];
  if (issue.code === 'invalid_type' && issue.expected === 'string')
    return [{ path, message: issue.message.startsWith('Invalid input') ? 'expected a string' : issue.message }];
  return [{ path, message: issue.message }];
}

/**
 * Validates a rollout request and applies the defaults. On failure, every problem found,
 * each with the path of the field in question, in the order of the input.
 */
export function parseRolloutSpec(input: unknown): SpecParse {
  // reportInput: issues keep the offending value, so a missing field reads 'required'.
  const parsed = RolloutSpecSchema.safeParse(input, { reportInput: true });
  if (parsed.success) return { ok: true, spec: parsed.data };
  return { ok: false, problems: parsed.error.issues.flatMap(issueProblems) };
}

// ---------------------------------------------------------------------------
// Memo
// ---------------------------------------------------------------------------

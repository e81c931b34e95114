/**
 * The admission decisions of rollout-operator's two replica webhooks, as pure functions: the
 * webhook server decodes the AdmissionReview, reads what is needed, and applies the verdict.
 *
 * no-downscale (`/admission/no-downscale`, validating):
 *  - a change from or to null replicas is not a downscale: allowed (with a warning, as
 *    rollout-operator); so are upscales and unchanged replicas;
 *  - a lower count on an object labelled `grafana.com/no-downscale: "true"` (for a /scale
 *    request, the parent's label) is refused;
 *  - when the parent could not be read, rollout-operator allows; `failOpen: false` refuses.
 *
 * prepare-downscale (`/admission/prepare-downscale`, mutating), for StatefulSets labelled
 * `grafana.com/prepare-downscale: "true"`; checks in rollout-operator's order:
 *  1. not a downscale (null, equal, higher): allowed, nothing to do; not labelled: allowed;
 *  2. the http-port annotation, the http-path annotation and spec.serviceName must be set;
 *  3. in a rollout group, every other member must allow it (rollout-group-scaling's
 *     otherZoneBlockers): downscaled within its min time, unreadable settings, or disrupted;
 *     a member that is only scaling up does not refuse;
 *  4. the pods to prepare are the ordinals old−1 down to new that exist and have started. An
 *     ordinal with no pod yet, or a Pending pod, is skipped: the StatefulSet is still scaling up
 *     to it, it holds nothing and its endpoint does not resolve. rollout-operator POSTed to it,
 *     failed (no such host) and refused, which kept a runaway upscale from being undone
 *     (its issue "Downscale webhook fails when currently upscaling");
 *  5. allowed: POST each pod's endpoint, then record `grafana.com/last-downscale` (now, UTC to
 *     the second). Any failure: DELETE every prepared pod and refuse (prepareFailureVerdict).
 *  A dry run gets the same verdict from checks 1–3 but no side effect: nothing is prepared or
 *  recorded (rollout-operator allowed every dry run without a look, so `kubectl scale
 *  --dry-run=server` said yes to what the real request would be refused).
 *
 * Pure: no I/O, no clock, safe to import from workflows.
 */
import {
  NO_DOWNSCALE_LABEL,
  PREPARE_DOWNSCALE_HTTP_PATH_ANNOTATION,
  PREPARE_DOWNSCALE_HTTP_PORT_ANNOTATION,
  ROLLOUT_OPERATOR_TRUE,
} from '../shared/keys';
import { formatLastDownscale, readMemberSettings, type GroupStatefulSetJson } from './rollout-group';
import { listNames, memberState } from './rollout-group-pods';
import { otherZoneBlockers, type GroupView } from './rollout-group-scaling';

export interface ReplicasChange {
  /** The resource of the request: statefulsets, deployments, replicasets (also for their /scale). */
  resource: string;
  namespace: string;
  name: string;
  oldReplicas: number | null;
  newReplicas: number | null;
}

export interface AdmissionVerdict {
  allowed: boolean;
  /** The status message (why refused, or what was done). */
  reason: string;
  /** AdmissionResponse warnings, shown by kubectl. */
  warnings: string[];
}

const subject = (c: ReplicasChange) =>
  `downscale of ${c.resource}/${c.name} in ${c.namespace} from ${c.oldReplicas} to ${c.newReplicas} replicas`;

/** null when the change is a downscale; otherwise the verdict allowing it. */
function notADownscale(c: ReplicasChange): AdmissionVerdict | null {
  if (c.oldReplicas === null && c.newReplicas === null) return { allowed: true, reason: 'no replicas change', warnings: [] };
  if (c.oldReplicas === null || c.newReplicas === null) {
    return {
      allowed: true,
      reason: 'old/new replicas is null, allowing the change',
      warnings: ['old/new replicas is null, allowing the change'],
    };
  }
  if (c.newReplicas > c.oldReplicas) return { allowed: true, reason: 'upscale allowed', warnings: [] };
  if (c.newReplicas === c.oldReplicas) return { allowed: true, reason: 'no replicas change', warnings: [] };
  return null;
}

export interface NoDownscaleInput {
  change: ReplicasChange;
  /** The object's labels (for /scale, its parent's); null when the parent could not be read. */
  labels: Readonly<Record<string, string>> | null;
  /** Why the parent could not be read, when `labels` is null. */
  readError?: string;
  /** Allow when the parent cannot be read (rollout-operator's behaviour); default true. */
  failOpen?: boolean;
}

export function decideNoDownscale(input: NoDownscaleInput): AdmissionVerdict {
  const c = input.change;
  const notDown = notADownscale(c);
  if (notDown !== null) return notDown;
  if (input.labels === null) {
    const why = `can't get ${c.resource}/${c.name} in namespace ${c.namespace}${input.readError === undefined ? '' : `: ${input.readError}`}`;
    return input.failOpen === false
      ? { allowed: false, reason: `${subject(c)} is not allowed because ${why}`, warnings: [] }
      : { allowed: true, reason: `${why}, allowing the change`, warnings: [`${why}, allowing the change`] };
  }
  if (input.labels[NO_DOWNSCALE_LABEL] !== ROLLOUT_OPERATOR_TRUE)
    return { allowed: true, reason: `downscale allowed: no ${NO_DOWNSCALE_LABEL}=true label`, warnings: [] };
  return {
    allowed: false,
    reason: `${subject(c)} is not allowed because it has the label '${NO_DOWNSCALE_LABEL}=${ROLLOUT_OPERATOR_TRUE}'`,
    warnings: [],
  };
}

export interface PodToPrepare {
  pod: string;
  ordinal: number;
  /** `<pod>.<serviceName>.<namespace>.svc.<clusterDomain>`, as rollout-operator builds it. */
  host: string;
  /** `http://<host>:<port>/<path>`. */
  url: string;
}

export interface PrepareDownscaleDecision extends AdmissionVerdict {
  /** Pods to POST to before allowing, in rollout-operator's order (highest ordinal first). */
  prepare: PodToPrepare[];
  /** Ordinals being removed that need no preparation, and why. */
  skipped: { pod: string; why: string }[];
  /** The value to write to grafana.com/last-downscale once every pod is prepared; null: write nothing. */
  recordLastDownscale: string | null;
  /** When a refusal based only on min times ends; null otherwise. */
  retryAt: string | null;
}

export interface PrepareDownscaleInput {
  change: ReplicasChange;
  dryRun: boolean;
  /** The StatefulSet (the parent, for a /scale request), as stored before the change. */
  target: GroupStatefulSetJson;
  /** The target's group (target included or not), with the pods of its members. */
  group: GroupView;
  /** e.g. `cluster.local`. */
  clusterDomain: string;
}

export function decidePrepareDownscale(input: PrepareDownscaleInput): PrepareDownscaleDecision {
  const c = input.change;
  const verdict = (allowed: boolean, reason: string, extra: Partial<PrepareDownscaleDecision> = {}): PrepareDownscaleDecision => ({
    allowed,
    reason,
    warnings: [],
    prepare: [],
    skipped: [],
    recordLastDownscale: null,
    retryAt: null,
    ...extra,
  });
  const notDown = notADownscale(c);
  if (notDown !== null) return verdict(true, notDown.reason, { warnings: notDown.warnings });
  const settings = readMemberSettings(input.target).settings;
  if (settings.prepareDownscale === null) return verdict(true, 'the StatefulSet is not labelled for preparation: nothing to do');
  const { port, path } = settings.prepareDownscale;
  if (port === '')
    return verdict(
      false,
      `${subject(c)} is not allowed because the ${PREPARE_DOWNSCALE_HTTP_PORT_ANNOTATION} annotation is not set or empty`,
    );
  if (path === '')
    return verdict(
      false,
      `${subject(c)} is not allowed because the ${PREPARE_DOWNSCALE_HTTP_PATH_ANNOTATION} annotation is not set or empty`,
    );
  const service = input.target.spec.serviceName ?? '';
  if (service === '') return verdict(false, `${subject(c)} is not allowed because the StatefulSet's serviceName is not set or empty`);

  if (settings.group !== null) {
    const blockers = otherZoneBlockers(c.name, input.group);
    if (blockers.length > 0) {
      const timed = blockers.every((b) => b.until !== null);
      const retryAt = timed
        ? blockers
            .map((b) => b.until!)
            .sort()
            .at(-1)!
        : null;
      return verdict(false, `${subject(c)} is not allowed because ${blockers.map((b) => b.reason).join('; ')}`, { retryAt });
    }
  }

  const state = memberState(input.target, input.group.pods);
  const prepare: PodToPrepare[] = [];
  const skipped: { pod: string; why: string }[] = [];
  for (let o = c.oldReplicas! - 1; o >= c.newReplicas!; o--) {
    const name = `${c.name}-${o}`;
    const pod = state.pods.find((p) => p.ordinal === o && !p.terminating) ?? state.pods.find((p) => p.ordinal === o);
    if (pod === undefined) skipped.push({ pod: name, why: 'not created yet (the StatefulSet is still scaling up to it)' });
    else if (pod.pending && !pod.terminating) skipped.push({ pod: name, why: 'Pending: it has not started, it holds nothing to prepare' });
    else {
      const host = `${name}.${service}.${c.namespace}.svc.${input.clusterDomain}`;
      prepare.push({ pod: name, ordinal: o, host, url: `http://${host}:${port}/${path.replace(/^\/+/, '')}` });
    }
  }
  const skippedNote = skipped.length > 0 ? `; not prepared: ${listNames(skipped.map((s) => s.pod))} (not started)` : '';
  if (input.dryRun) {
    return verdict(
      true,
      `dry run: ${subject(c)} would be allowed after preparing ${prepare.length} pods${skippedNote}; nothing prepared or recorded`,
      { skipped },
    );
  }
  return verdict(true, `${subject(c)} is allowed once ${prepare.length} pods are prepared for shutdown${skippedNote}`, {
    prepare,
    skipped,
    recordLastDownscale: formatLastDownscale(input.group.now),
  });
}

/** The refusal once preparing failed (after every prepared pod has been sent its DELETE). */
export function prepareFailureVerdict(change: ReplicasChange, failed: readonly string[]): AdmissionVerdict {
  return {
    allowed: false,
    reason: `${subject(change)} is not allowed because ${listNames(failed)} failed to prepare for shutdown; every prepared pod was told to cancel`,
    warnings: [],
  };
}

/**
 * The Kubernetes requests of a rollout: reading a workload and its pods and ReplicaSets as
 * plain JSON (activities/rollout/rollout-kube-json.ts), writing only the fields a rollout owns
 * (replicas, template, partition, the rollout annotation) and the canary Deployment
 * (server-side apply under AutoCrane's field manager), and following them by watches
 * (activities/rollout/rollout-kube-watch.ts). No decisions here: domain/rollout/rollout-plan.ts and
 * domain/gate/stage-gate.ts make them.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { CANARY_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ROLLOUT_ANNOTATION } from '../../domain/shared/keys';
import type { PodTemplate } from '../../domain/rollout/pod-template-change';
import type { IntOrPercent } from '../../domain/rollout/rollout-shares';
import type { RolloutTarget } from '../../domain/rollout/rollout-spec';
import { CONTENT_TYPES, kubeJson, type JsonObject, type KubeJsonRequest } from '../../platform/kube-json';
import {
  canaryName,
  canaryTarget,
  controllerOf,
  labelSelector,
  REVISION_ANNOTATION,
  workloadPath,
  type PodJson,
  type ReplicaSetJson,
  type WorkloadJson,
} from './rollout-kube-json';
import { PodsFollower, WorkloadFollower } from './rollout-kube-watch';

/** The JSON patch operations that set a workload's template and replicas together. */
const templateAndReplicas = (template: PodTemplate, replicas: number): JsonObject[] => [
  { op: 'replace', path: '/spec/template', value: template },
  { op: 'replace', path: '/spec/replicas', value: replicas },
];

export class RolloutKube {
  /** `timeoutMs` bounds each apiserver call (kubeJson's default when omitted). */
  constructor(
    private readonly kc: KubeConfig,
    private readonly timeoutMs?: number,
  ) {}

  private json<T = JsonObject>(request: KubeJsonRequest): Promise<T> {
    return kubeJson<T>(this.kc, this.timeoutMs === undefined ? request : { ...request, timeoutMs: this.timeoutMs });
  }

  /** Follows a workload by a watch until closed (see WorkloadFollower). */
  follow(target: Pick<RolloutTarget, 'namespace' | 'kind' | 'name'>): WorkloadFollower {
    return new WorkloadFollower(this.kc, target);
  }

  /** Follows the pods matching `labels` by a watch until closed, counting those `counts` holds for (see PodsFollower). */
  followPods(namespace: string, labels: Record<string, string>, counts?: (pod: PodJson) => boolean): PodsFollower {
    return new PodsFollower(this.kc, namespace, labels, counts);
  }

  readWorkload(target: RolloutTarget): Promise<WorkloadJson> {
    return this.json<WorkloadJson>({ method: 'GET', path: workloadPath(target) });
  }

  /** The workload, or null when it does not exist (404). */
  async readWorkloadIfExists(target: RolloutTarget): Promise<WorkloadJson | null> {
    try {
      return await this.readWorkload(target);
    } catch (err) {
      if ((err as { code?: number }).code === 404) return null;
      throw err;
    }
  }

  /** Merge patch of spec.replicas only. */
  scale(target: RolloutTarget, replicas: number): Promise<WorkloadJson> {
    return this.mergePatch(target, { spec: { replicas } });
  }

  /**
   * Replaces spec.template (and, for a StatefulSet, sets the rolling update's partition in the
   * same request, so no pod is updated in between), guarded by the workload's UID so a
   * workload deleted and recreated under the same name is never written.
   */
  setTemplate(
    target: RolloutTarget,
    uid: string,
    template: PodTemplate,
    rollingUpdate?: { partition: number; maxUnavailable?: IntOrPercent },
  ): Promise<WorkloadJson> {
    const ops: JsonObject[] = [
      { op: 'test', path: '/metadata/uid', value: uid },
      { op: 'replace', path: '/spec/template', value: template },
    ];
    if (rollingUpdate) ops.push({ op: 'add', path: '/spec/updateStrategy/rollingUpdate', value: rollingUpdate });
    return this.jsonPatch(target, ops);
  }

  setPartition(target: RolloutTarget, partition: number): Promise<WorkloadJson> {
    return this.mergePatch(target, { spec: { updateStrategy: { rollingUpdate: { partition } } } });
  }

  /** Sets (or with null removes) the rollout annotation, a merge patch of that one key. */
  setRolloutAnnotation(target: RolloutTarget, rolloutId: string | null): Promise<WorkloadJson> {
    return this.mergePatch(target, { metadata: { annotations: { [ROLLOUT_ANNOTATION]: rolloutId } } });
  }

  /**
   * Creates or updates the canary Deployment by server-side apply: the stable one's selector
   * and strategy, exactly the new template (no label of its own, so that promotion can hand
   * its ReplicaSet to the stable Deployment: domain/rollout/rollout-plan.ts), `replicas`. It carries
   * the rollout annotation (repair leaves it alone; Kubernetes copies it onto its ReplicaSet)
   * and the canary label, and is owned by the stable Deployment, so deleting the stable one
   * takes the canary with it.
   */
  applyCanary(stable: WorkloadJson, rolloutId: string, template: PodTemplate, replicas: number): Promise<WorkloadJson> {
    const name = canaryName(stable.metadata.name);
    const body = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name,
        namespace: stable.metadata.namespace,
        labels: { ...(stable.metadata.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CANARY_LABEL]: rolloutId },
        annotations: { [ROLLOUT_ANNOTATION]: rolloutId },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: stable.metadata.name, uid: stable.metadata.uid }],
      },
      spec: {
        replicas,
        selector: stable.spec.selector,
        template,
        ...(stable.spec.strategy ? { strategy: stable.spec.strategy } : {}),
      },
    };
    return this.json<WorkloadJson>({
      method: 'PATCH',
      path: workloadPath({ namespace: stable.metadata.namespace, kind: 'Deployment', name }),
      query: { fieldManager: FIELD_MANAGER, force: true },
      body,
      contentType: CONTENT_TYPES.apply,
    });
  }

  /** Scales the canary Deployment (a merge patch of spec.replicas), creating it as applyCanary does if it is missing. */
  async scaleCanary(target: RolloutTarget, rolloutId: string, template: PodTemplate, replicas: number): Promise<WorkloadJson> {
    try {
      return await this.scale(canaryTarget(target), replicas);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
    return this.applyCanary(await this.readWorkload(target), rolloutId, template, replicas);
  }

  /** Merge patch of spec.paused only, or of spec.paused and spec.replicas together when `replicas` is given. */
  setPaused(target: RolloutTarget, paused: boolean, replicas?: number): Promise<WorkloadJson> {
    return this.mergePatch(target, { spec: replicas === undefined ? { paused } : { paused, replicas } });
  }

  /**
   * Promotion's hand-over: template and replicas in one JSON patch, applied only if the
   * Deployment is still the one the rollout began with and is paused (unpaused, it would
   * start every replica at once).
   */
  handOver(target: RolloutTarget, uid: string, template: PodTemplate, replicas: number): Promise<WorkloadJson> {
    return this.jsonPatch(target, [
      { op: 'test', path: '/metadata/uid', value: uid },
      { op: 'test', path: '/spec/paused', value: true },
      ...templateAndReplicas(template, replicas),
    ]);
  }

  /** A hand-over undone: template, replicas and resumed, in one JSON patch guarded by the UID. */
  takeBack(target: RolloutTarget, uid: string, template: PodTemplate, replicas: number): Promise<WorkloadJson> {
    return this.jsonPatch(target, [
      { op: 'test', path: '/metadata/uid', value: uid },
      ...templateAndReplicas(template, replicas),
      { op: 'add', path: '/spec/paused', value: false },
    ]);
  }

  private jsonPatch(target: RolloutTarget, ops: JsonObject[]): Promise<WorkloadJson> {
    return this.patch(target, ops, CONTENT_TYPES.jsonPatch);
  }

  private mergePatch(target: RolloutTarget, body: JsonObject): Promise<WorkloadJson> {
    return this.patch(target, body, CONTENT_TYPES.mergePatch);
  }

  private patch(target: RolloutTarget, body: unknown, contentType: string): Promise<WorkloadJson> {
    return this.json<WorkloadJson>({
      method: 'PATCH',
      path: workloadPath(target),
      query: { fieldManager: FIELD_MANAGER },
      body,
      contentType,
    });
  }

  /** ReplicaSets whose labels match `labels`. */
  async listReplicaSets(namespace: string, labels: Record<string, string>): Promise<ReplicaSetJson[]> {
    const list = await this.json<{ items: ReplicaSetJson[] }>({
      method: 'GET',
      path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets`,
      query: { labelSelector: labelSelector(labels) },
    });
    return list.items;
  }

  /** Deletes a ReplicaSet (its pods go with it), only if it is still the one with `uid`; gone already is fine. */
  async deleteReplicaSet(namespace: string, name: string, uid: string): Promise<void> {
    try {
      await this.json({
        method: 'DELETE',
        path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets/${encodeURIComponent(name)}`,
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid } },
      });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 404 && code !== 409) throw err;
    }
  }

  /**
   * The canary Deployment's current ReplicaSet (its highest revision), or null before the
   * Deployment controller has made one. Its pods are the rollout's updated pods.
   */
  async canaryReplicaSet(target: RolloutTarget, selector: Record<string, string>): Promise<ReplicaSetJson | null> {
    const name = canaryName(target.name);
    const owned = (await this.listReplicaSets(target.namespace, selector)).filter((rs) => {
      const owner = controllerOf(rs.metadata.ownerReferences);
      return owner?.kind === 'Deployment' && owner.name === name;
    });
    const revision = (rs: ReplicaSetJson) => Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0);
    return owned.sort((a, b) => revision(b) - revision(a))[0] ?? null;
  }

  /** Deletes a workload: 'Background' takes its ReplicaSets and pods along, 'Orphan' leaves them without owner. */
  async deleteWorkload(target: RolloutTarget, propagationPolicy: 'Background' | 'Orphan' = 'Background'): Promise<void> {
    try {
      await this.json({ method: 'DELETE', path: workloadPath(target), query: { propagationPolicy } });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.json({ method: 'DELETE', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}` });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  async listPods(namespace: string, labels: Record<string, string>): Promise<PodJson[]> {
    const list = await this.json<{ items: PodJson[] }>({
      method: 'GET',
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      query: { labelSelector: labelSelector(labels) },
    });
    return list.items.filter((p) => !p.metadata.deletionTimestamp);
  }
}

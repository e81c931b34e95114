/**
 * Watches a rollout follows while it waits: one workload, or the pods of a label selector, so a
 * wait wakes when something changes rather than at its next poll.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { RolloutTarget } from '../../domain/rollout/rollout-spec';
import { kubeWatch } from '../../platform/kube-json';
import { labelSelector, RESOURCES, type PodJson, type WorkloadJson } from './rollout-kube-json';

/**
 * A watch followed until closed, so that a wait wakes when something changes rather than on the
 * next poll. It never fails: when the watch cannot be opened or ends, `ended()` is called and
 * the caller falls back to reading for itself.
 */
abstract class WatchFollower<T> {
  private wake: (() => void) | null = null;
  private controller: AbortController | null = null;
  private closed = false;

  constructor(kc: KubeConfig, path: string, query: Record<string, string>) {
    kubeWatch(
      kc,
      path,
      query,
      (type, object) => {
        this.onEvent(type, object as T);
        this.notify();
      },
      () => this.end(),
    ).then(
      (controller) => {
        this.controller = controller;
        if (this.closed) controller.abort();
      },
      () => this.end(),
    );
  }

  /** Applies one watch event (ADDED, MODIFIED, DELETED or ERROR) to what is followed. */
  protected abstract onEvent(type: string, object: T): void;
  /** Forgets what was followed: the watch has ended. */
  protected abstract ended(): void;

  /** Resolves at the next change, or after `ms`, whichever comes first. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  close(): void {
    this.closed = true;
    this.controller?.abort();
    this.end();
  }

  private end(): void {
    this.ended();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** One workload followed by a watch (fieldSelector metadata.name). */
export class WorkloadFollower extends WatchFollower<WorkloadJson> {
  /** The workload as last seen by the watch; null before its first event or once the watch ended. */
  current: WorkloadJson | null = null;

  constructor(kc: KubeConfig, target: Pick<RolloutTarget, 'namespace' | 'kind' | 'name'>) {
    super(kc, `/apis/apps/v1/namespaces/${encodeURIComponent(target.namespace)}/${RESOURCES[target.kind]}`, {
      fieldSelector: `metadata.name=${target.name}`,
    });
  }

  protected onEvent(type: string, object: WorkloadJson): void {
    // DELETED, or an ERROR event (e.g. 410 Gone), leaves nothing current.
    this.current = type === 'ADDED' || type === 'MODIFIED' ? object : null;
  }

  protected ended(): void {
    this.current = null;
  }
}

/**
 * The pods matching a label selector, followed by a watch (its first events list them all).
 * Pods turn ready some 25-45 ms before their Deployment's status says so (two controllers
 * update in turn), which a wait for a canary's growth saves.
 */
export class PodsFollower extends WatchFollower<PodJson> {
  private readonly byUid = new Map<string, PodJson>();
  /** UIDs of the pods `counts` holds for, kept as events come so a wait's check costs nothing per pod. */
  private readonly countedUids = new Set<string>();
  private live = true;

  constructor(
    kc: KubeConfig,
    namespace: string,
    labels: Record<string, string>,
    private readonly counts: (pod: PodJson) => boolean = () => false,
  ) {
    super(kc, `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, { labelSelector: labelSelector(labels) });
  }

  /** The pods as the watch has seen them so far; null once the watch ended (or failed: an ERROR event). */
  get pods(): PodJson[] | null {
    return this.live ? [...this.byUid.values()] : null;
  }

  /** How many of the pods seen so far `counts` holds for; null once the watch ended. */
  get counted(): number | null {
    return this.live ? this.countedUids.size : null;
  }

  protected onEvent(type: string, pod: PodJson): void {
    const uid = pod.metadata.uid;
    if (type === 'ADDED' || type === 'MODIFIED') {
      this.byUid.set(uid, pod);
      if (this.counts(pod)) this.countedUids.add(uid);
      else this.countedUids.delete(uid);
    } else if (type === 'DELETED') {
      this.byUid.delete(uid);
      this.countedUids.delete(uid);
    } else {
      this.live = false;
    }
  }

  protected ended(): void {
    this.live = false;
  }
}

/**
 * Every annotation key, label, search attribute and default that AutoCrane uses,
 * in one place. The pod-facing keys are AutoCrane's (microsoft/AutoCrane) so its
 * users can switch without relabelling their workloads.
 *
 * Pure data: safe to import from workflows, activities, the API and the CLI.
 */

/** Annotation prefix for probe declarations: `probe.autocrane.io/<name>: POD_IP:<port>/<path>`. */
export const PROBE_ANNOTATION_PREFIX = 'probe.autocrane.io/';
/** Annotation prefix for watchdog status: `status.autocrane.io/<name>: <level>/<RFC3339>/<message>`. */
export const STATUS_ANNOTATION_PREFIX = 'status.autocrane.io/';
/** Label holding the aggregate watchdog level of a pod (error > warning > info). */
export const HEALTH_LABEL = 'status.autocrane.io/health';

/** Pod's data drop folder. */
export const DATA_LOCATION_ANNOTATION = 'store.autocrane.io/location';
/** Comma list of the data sources a pod consumes. */
export const DATA_SOURCES_ANNOTATION = 'store.autocrane.io/data';
/** Comma list of the data sources whose health a pod vouches for. */
export const DATA_DEPS_ANNOTATION = 'store.autocrane.io/deps';
/** Prefix of the orchestrator's data request per source. */
export const DATA_REQUEST_ANNOTATION_PREFIX = 'request.data.autocrane.io/';
/** Prefix of the data deployer's report of what is active per source. */
export const DATA_STATUS_ANNOTATION_PREFIX = 'status.data.autocrane.io/';

/** Field manager name for every server-side apply and patch AutoCrane makes. */
export const FIELD_MANAGER = 'autocrane';

/** Labels AutoCrane puts on objects it creates (Kubernetes recommended labels). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'autocrane';

/**
 * Set by a rollout on the workload it changes, for as long as it changes it; the value is the
 * rollout's ID. Repair leaves the pods of such a workload alone (README, "Repair and rollouts").
 */
export const ROLLOUT_ANNOTATION = 'rollout.autocrane.io/id';

/**
 * Label on a Deployment rollout's canary Deployment, the object only; the value is the rollout
 * ID. Its pods and selector carry no label of their own (the canary's ReplicaSet is handed to
 * the stable Deployment at promotion): they are told apart by their ReplicaSet.
 */
export const CANARY_LABEL = 'rollout.autocrane.io/canary';
/** Suffix of the canary Deployment's name: `<stable name>-canary`. */
export const CANARY_SUFFIX = '-canary';

/** Reason of the Kubernetes Event repair records on each pod it evicts. */
export const EVICTION_EVENT_REASON = 'AutoCraneEvicted';
/** reportingController of AutoCrane's Kubernetes Events. */
export const EVENT_REPORTING_CONTROLLER = 'autocrane.io/repair';

/** Zone label used by the sandbox nodes and by zone-aware rollouts. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/**
 * Custom search attributes, registered with the Temporal server at start and
 * set by workflows so rollouts can be listed with visibility queries.
 */
export const SEARCH_ATTRIBUTES = {
  /** `<namespace>/<Kind>/<name>` of the workload a workflow acts on. */
  target: { name: 'AutoCraneTarget', type: 'Keyword' },
  /** Kubernetes namespace the workflow acts on. */
  namespace: { name: 'AutoCraneNamespace', type: 'Keyword' },
  /** Lifecycle state, e.g. Running, Baking, RollingBack, Succeeded. */
  state: { name: 'AutoCraneState', type: 'Keyword' },
  /** Index of the current stage (0-based). */
  stage: { name: 'AutoCraneStage', type: 'Int' },
  /** A rollout's own short ID (one workflow ID per target holds many rollouts over time). */
  rolloutId: { name: 'AutoCraneRolloutId', type: 'Keyword' },
  /**
   * The rollout that superseded this run's rollout and waits for its rollback: its ID is
   * found (and its status URL answers) before the run continues as it.
   */
  supersededBy: { name: 'AutoCraneSupersededBy', type: 'Keyword' },
} as const;

export type SearchAttributeSpec = (typeof SEARCH_ATTRIBUTES)[keyof typeof SEARCH_ATTRIBUTES];

/** Defaults; each is documented in the README's configuration table. */
export const DEFAULTS = {
  temporalAddress: '127.0.0.1:7233',
  temporalNamespace: 'default',
  taskQueue: 'autocrane',
  apiHost: '127.0.0.1',
  apiPort: 8080,
  logLevel: 'info',
  workerShutdownGraceSeconds: 30,
  workerMetricsHost: '127.0.0.1',
  workerMetricsPort: 9464,
  probeIntervalSeconds: 30,
  probeTimeoutSeconds: 5,
  probeConcurrency: 64,
  probeNotReadyPods: false,
  /** Repair: consecutive error sweeps before a pod is evicted, and the sweep interval. */
  repairFailingSweeps: 3,
  repairIntervalSeconds: 60,
  /** Repair: grace period given to an evicted pod (AutoCrane's 120 s). */
  repairGracePeriodSeconds: 120,
  /** Repair failing limit: evictions allowed per workload and per namespace within the window. */
  repairWorkloadLimit: '25%',
  repairNamespaceLimit: '10%',
  repairLimitWindowSeconds: 600,
  /** Repair: what to do with failing pods that no PodDisruptionBudget covers. */
  repairUnprotectedPods: 'skip',
  /** Data rollouts: a new version starts one by itself; its stages and each stage's probation. */
  dataAutoStart: true,
  dataStages: '1,25%,100%',
  dataProbationSeconds: 300,
  /** Data repository: its store folder, listening address, poll interval and versions kept per source. */
  dataRepositoryRoot: '.autocrane/data-repository',
  dataRepositoryHost: '127.0.0.1',
  dataRepositoryPort: 8090,
  dataPollIntervalSeconds: 60,
  dataKeepVersions: 10,
} as const;

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
 * rollout's ID. Repair leaves the pods of such a workload alone (docs/repair.md, "Repair and rollouts").
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
/** Reason of the Event recorded on a pod when the apiserver refuses a write of one of AutoCrane's loops to it. */
export const WRITE_REFUSED_EVENT_REASON = 'AutoCraneWriteRefused';
/** Reason of the Event recorded in each namespace a data source is declared to when the data repository refuses its archive. */
export const DATA_ARCHIVE_REFUSED_EVENT_REASON = 'DataArchiveRefused';
/** reportingController of AutoCrane's Kubernetes Events. */
export const EVENT_REPORTING_CONTROLLER = 'autocrane.io/repair';

/** Zone label used by the sandbox nodes and by zone-aware rollouts. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** The StatefulSet controller's pod label: the name of the revision (ControllerRevision) the pod was made from. */
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';

// Rollout groups. These keys are Grafana rollout-operator's, spelled exactly as its source
// (pkg/config/config.go) spells them, so its users switch without relabelling anything.

/** StatefulSet label: the rollout group it belongs to (groups are per namespace). */
export const ROLLOUT_GROUP_LABEL = 'rollout-group';
/** StatefulSet annotation: most not-ready pods of that member while it rolls, a count or `N%` of spec.replicas. */
export const ROLLOUT_MAX_UNAVAILABLE_ANNOTATION = 'rollout-max-unavailable';
/** StatefulSet annotation: "true" stops deleting that member's pods; the group's other members go on. */
export const ROLLOUT_PAUSED_ANNOTATION = 'grafana.com/rollout-paused';
/** StatefulSet annotation: name of the member whose spec.replicas this follower follows. */
export const ROLLOUT_DOWNSCALE_LEADER_ANNOTATION = 'grafana.com/rollout-downscale-leader';
/** StatefulSet annotation: "true": a follower scales up only once every replica of its leader is ready. */
export const ROLLOUT_UPSCALE_ONLY_WHEN_LEADER_READY_ANNOTATION = 'grafana.com/rollout-upscale-only-when-leader-ready';
/** StatefulSet annotation (preferred) or label (older form): Go duration to keep between two zones' downscales. */
export const MIN_TIME_BETWEEN_ZONES_DOWNSCALE_KEY = 'grafana.com/min-time-between-zones-downscale';
/** StatefulSet annotation: time of its last downscale, RFC 3339 (written in UTC to the second). */
export const LAST_DOWNSCALE_ANNOTATION = 'grafana.com/last-downscale';
/** StatefulSet annotation: a non-negative replica count that overrides leader and mirror decisions. */
export const ROLLOUT_FORCE_REPLICAS_ANNOTATION = 'grafana.com/rollout-force-replicas';
/** StatefulSet annotation: name of the resource whose scale subresource gives its replicas. */
export const MIRROR_REPLICAS_NAME_ANNOTATION = 'grafana.com/rollout-mirror-replicas-from-resource-name';
/** StatefulSet annotation: kind of that resource. */
export const MIRROR_REPLICAS_KIND_ANNOTATION = 'grafana.com/rollout-mirror-replicas-from-resource-kind';
/** StatefulSet annotation: apiVersion of that resource (optional). */
export const MIRROR_REPLICAS_API_VERSION_ANNOTATION = 'grafana.com/rollout-mirror-replicas-from-resource-api-version';
/** StatefulSet annotation: whether the StatefulSet's replicas are written back to that resource's status (optional). */
export const MIRROR_REPLICAS_WRITE_BACK_ANNOTATION = 'grafana.com/rollout-mirror-replicas-from-resource-write-back';
/** StatefulSet annotation: Prometheus-style duration a pod must have been prepared before a downscale removes it. */
export const ROLLOUT_DELAYED_DOWNSCALE_ANNOTATION = 'grafana.com/rollout-delayed-downscale';
/** StatefulSet annotation: URL POSTed (prepare) and DELETEd (cancel) on each pod; its host becomes the pod's FQDN. */
export const ROLLOUT_PREPARE_DELAYED_DOWNSCALE_URL_ANNOTATION = 'grafana.com/rollout-prepare-delayed-downscale-url';
/** Label on a StatefulSet, Deployment or ReplicaSet: "true" refuses any lowering of its replicas. */
export const NO_DOWNSCALE_LABEL = 'grafana.com/no-downscale';
/** StatefulSet label: "true": pods removed by a downscale are prepared first (the prepare-downscale webhook). */
export const PREPARE_DOWNSCALE_LABEL = 'grafana.com/prepare-downscale';
/** StatefulSet annotation: path of each pod's prepare-shutdown endpoint. */
export const PREPARE_DOWNSCALE_HTTP_PATH_ANNOTATION = 'grafana.com/prepare-downscale-http-path';
/** StatefulSet annotation: port of each pod's prepare-shutdown endpoint. */
export const PREPARE_DOWNSCALE_HTTP_PORT_ANNOTATION = 'grafana.com/prepare-downscale-http-port';
/** Webhook configuration label: "true" asks for the webhook server's CA in its caBundle. */
export const INJECT_CA_LABEL = 'grafana.com/inject-rollout-operator-ca';
/** Webhook configuration label: the namespace of the webhook server whose CA is injected. */
export const WEBHOOK_NAMESPACE_LABEL = 'grafana.com/namespace';
/** API group of rollout-operator's custom resources (ZoneAwarePodDisruptionBudget, ReplicaTemplate). */
export const ROLLOUT_OPERATOR_API_GROUP = 'rollout-operator.grafana.com';
/** The value rollout-operator's boolean keys must have to be on (any other value is off). */
export const ROLLOUT_OPERATOR_TRUE = 'true';
/** Default of rollout-max-unavailable, and what rollout-operator falls back to on a bad value. */
export const DEFAULT_ROLLOUT_MAX_UNAVAILABLE = 1;

/**
 * AutoCrane's own StatefulSet annotation (not rollout-operator's): "true" on any member makes the
 * group's members count as ready only when their updated pods have no error watchdog.
 */
export const GROUP_WATCHDOG_GATE_ANNOTATION = 'rollout.autocrane.io/group-watchdog-gate';

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

/** Defaults; each is documented in the configuration table of docs/configuration.md. */
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
  /** Watchdog API caps per pod: watchdogs, and total bytes of their status annotations (the apiserver allows 256 KiB of annotations in all). */
  watchdogsPerPod: 64,
  watchdogStatusBytesPerPod: 65_536,
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
  /** Data repository: what a version's archive may hold (as the data deployer's defaults), and the back-off after a refusal. */
  dataMaxArchiveBytes: '10Gi',
  dataMaxArchiveEntries: 100_000,
  dataMaxExtractedBytes: '10Gi',
  dataRefusalBackoffSeconds: 60,
  dataRefusalBackoffMaxSeconds: 3600,
} as const;

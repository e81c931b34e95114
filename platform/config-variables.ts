/**
 * Every environment variable AutoCrane reads, with its default and a one-line description: the
 * table docs/configuration.md shows (a unit test keeps the two equal). platform/config.ts
 * validates them.
 */

import { DEFAULTS } from '../domain/shared/keys';

import { UNPROTECTED_POD_POLICIES } from '../domain/repair/repair';
import { DATA_ROLLOUT_LIMITS } from '../domain/data/data-rollout';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface ConfigVariable {
  name: string;
  /** Human-readable default, as shown in the documentation table. */
  default: string;
  description: string;
}

export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  { name: 'AUTOCRANE_LOG_LEVEL', default: DEFAULTS.logLevel, description: `Minimum log level: ${LOG_LEVELS.join(', ')}.` },
  {
    name: 'AUTOCRANE_LOG_FORMAT',
    default: 'json (pretty when stdout is a terminal)',
    description: `Log output format: ${LOG_FORMATS.join(', ')}.`,
  },
  { name: 'TEMPORAL_ADDRESS', default: DEFAULTS.temporalAddress, description: 'Temporal frontend address, host:port.' },
  { name: 'TEMPORAL_NAMESPACE', default: DEFAULTS.temporalNamespace, description: 'Temporal namespace.' },
  { name: 'AUTOCRANE_TASK_QUEUE', default: DEFAULTS.taskQueue, description: 'Task queue the worker polls and clients start workflows on.' },
  {
    name: 'KUBECONFIG',
    default: '(unset)',
    description:
      'Path to a kubeconfig file. When unset: in-cluster service account if KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.',
  },
  { name: 'AUTOCRANE_API_HOST', default: DEFAULTS.apiHost, description: 'Address the HTTP API listens on.' },
  { name: 'AUTOCRANE_API_PORT', default: String(DEFAULTS.apiPort), description: 'Port the HTTP API listens on; 0 picks a free port.' },
  { name: 'AUTOCRANE_API_TOKEN', default: '(unset)', description: 'Bearer token required by the HTTP API. Never logged.' },
  {
    name: 'AUTOCRANE_WORKER_SHUTDOWN_GRACE_SECONDS',
    default: String(DEFAULTS.workerShutdownGraceSeconds),
    description: 'On SIGTERM/SIGINT, how long in-flight activities may run before they are cancelled.',
  },
  { name: 'AUTOCRANE_TEMPORAL_UI_URL', default: '(unset)', description: 'Temporal Web UI base URL, used to build links to workflows.' },
  { name: 'AUTOCRANE_WORKER_METRICS_HOST', default: DEFAULTS.workerMetricsHost, description: 'Address the worker serves GET /metrics on.' },
  {
    name: 'AUTOCRANE_WORKER_METRICS_PORT',
    default: String(DEFAULTS.workerMetricsPort),
    description: "Port of the worker's /metrics; 0 picks a free port.",
  },
  {
    name: 'AUTOCRANE_WATCH_NAMESPACES',
    default: '(unset: the worker refuses to start)',
    description: 'Comma list of Kubernetes namespaces whose pods are probed; one Temporal Schedule each.',
  },
  {
    name: 'AUTOCRANE_PROBE_INTERVAL_SECONDS',
    default: String(DEFAULTS.probeIntervalSeconds),
    description: 'Interval of the probing schedules (5 to 3600).',
  },
  {
    name: 'AUTOCRANE_PROBE_TIMEOUT_SECONDS',
    default: String(DEFAULTS.probeTimeoutSeconds),
    description: 'Deadline of one probe: connect, headers and body (1 to 60).',
  },
  {
    name: 'AUTOCRANE_PROBE_CONCURRENCY',
    default: String(DEFAULTS.probeConcurrency),
    description: 'Probes in flight at once per sweep (1 to 1024).',
  },
  {
    name: 'AUTOCRANE_PROBE_NOT_READY_PODS',
    default: String(DEFAULTS.probeNotReadyPods),
    description: 'true also probes pods that are not Running or whose containers are not all ready (AutoCrane never does).',
  },
  {
    name: 'AUTOCRANE_WATCHDOGS_PER_POD',
    default: String(DEFAULTS.watchdogsPerPod),
    description: 'Watchdogs the API lets callers keep on one pod; a PUT of one more gets 409 (1 to 1000).',
  },
  {
    name: 'AUTOCRANE_WATCHDOG_STATUS_BYTES_PER_POD',
    default: String(DEFAULTS.watchdogStatusBytesPerPod),
    description:
      'Total bytes of the watchdog status annotations the API lets callers write onto one pod; a PUT past it gets 422 (4096 to 200000).',
  },
  {
    name: 'AUTOCRANE_REPAIR_ENABLED',
    default: 'true',
    description: 'false stops the worker from starting repair workflows (running ones keep going; pause them through the API).',
  },
  {
    name: 'AUTOCRANE_REPAIR_FAILING_SWEEPS',
    default: String(DEFAULTS.repairFailingSweeps),
    description: 'Consecutive repair sweeps a pod must be in error before it is evicted (1 to 100).',
  },
  {
    name: 'AUTOCRANE_REPAIR_INTERVAL_SECONDS',
    default: String(DEFAULTS.repairIntervalSeconds),
    description: 'Interval of the repair sweeps (1 to 3600).',
  },
  {
    name: 'AUTOCRANE_REPAIR_GRACE_PERIOD_SECONDS',
    default: String(DEFAULTS.repairGracePeriodSeconds),
    description: 'Termination grace period given to an evicted pod (0 to 3600).',
  },
  {
    name: 'AUTOCRANE_REPAIR_WORKLOAD_LIMIT',
    default: DEFAULTS.repairWorkloadLimit,
    description:
      'Failing limit: evictions allowed per workload within the window, a count (2) or a percentage of its replicas (25%, rounded up, at least 1).',
  },
  {
    name: 'AUTOCRANE_REPAIR_NAMESPACE_LIMIT',
    default: DEFAULTS.repairNamespaceLimit,
    description: 'Failing limit: evictions allowed per namespace within the window, a count or a percentage of its pods.',
  },
  {
    name: 'AUTOCRANE_REPAIR_LIMIT_WINDOW_SECONDS',
    default: String(DEFAULTS.repairLimitWindowSeconds),
    description: 'The sliding window the failing limits count evictions over (1 to 86400).',
  },
  {
    name: 'AUTOCRANE_REPAIR_UNPROTECTED_PODS',
    default: DEFAULTS.repairUnprotectedPods,
    description: `Failing pods no PodDisruptionBudget covers: ${UNPROTECTED_POD_POLICIES.join(' (leave them) or ')} (the failing limits still apply).`,
  },
  {
    name: 'AUTOCRANE_DATA_AUTO_START',
    default: String(DEFAULTS.dataAutoStart),
    description:
      'true: a new data version announced by the repository starts a data rollout (superseding a running one); false: it waits for `autocrane data start`.',
  },
  {
    name: 'AUTOCRANE_DATA_STAGES',
    default: DEFAULTS.dataStages,
    description: 'Default stages of a data rollout: a comma list of pod counts or percentages of the consumers (rounded up, at least 1).',
  },
  {
    name: 'AUTOCRANE_DATA_PROBATION_SECONDS',
    default: String(DEFAULTS.dataProbationSeconds),
    description: `Default probation of each data stage, counted from the pods' acknowledged activation (0 to ${DATA_ROLLOUT_LIMITS.maxProbationSeconds}).`,
  },
  {
    name: 'AUTOCRANE_DATA_SOURCES_FILE',
    default: '(unset: data-repository refuses to start)',
    description:
      'JSON file of the sources the data repository polls: [{name, kind: git, http or local, url or path, ref?, keep?}] (docs/data-rollouts.md, "The data repository").',
  },
  {
    name: 'AUTOCRANE_DATA_REPOSITORY_ROOT',
    default: DEFAULTS.dataRepositoryRoot,
    description: "Folder of the data repository's archive store, manifests and fetch caches.",
  },
  {
    name: 'AUTOCRANE_DATA_REPOSITORY_HOST',
    default: DEFAULTS.dataRepositoryHost,
    description: "Address the data repository's HTTP server listens on.",
  },
  {
    name: 'AUTOCRANE_DATA_REPOSITORY_PORT',
    default: String(DEFAULTS.dataRepositoryPort),
    description: "Port of the data repository's HTTP server; 0 picks a free port.",
  },
  {
    name: 'AUTOCRANE_DATA_REPOSITORY_URL',
    default: '(unset: http://HOST:PORT)',
    description: 'Base URL pods download archives from: announced versions carry <URL>/v1/sources/<name>/versions/<id>/archive.',
  },
  {
    name: 'AUTOCRANE_DATA_POLL_INTERVAL_SECONDS',
    default: String(DEFAULTS.dataPollIntervalSeconds),
    description: "Interval of the data sources' polling schedules (5 to 86400).",
  },
  {
    name: 'AUTOCRANE_DATA_KEEP_VERSIONS',
    default: String(DEFAULTS.dataKeepVersions),
    description: 'Versions kept per source (1 to 1000) unless its entry sets keep; older archives are deleted.',
  },
  {
    name: 'AUTOCRANE_DATA_MAX_ARCHIVE_BYTES',
    default: DEFAULTS.dataMaxArchiveBytes,
    description: "Most bytes a version's archive (or an http source's download) may have, e.g. 500Mi or 10Gi; a larger one is refused.",
  },
  {
    name: 'AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES',
    default: String(DEFAULTS.dataMaxArchiveEntries),
    description: "Most entries (files, folders, links) a version's archive may hold; more is refused.",
  },
  {
    name: 'AUTOCRANE_DATA_MAX_EXTRACTED_BYTES',
    default: DEFAULTS.dataMaxExtractedBytes,
    description: "Most bytes a version's files may add up to once extracted, e.g. 10Gi; more is refused.",
  },
  {
    name: 'AUTOCRANE_DATA_REFUSAL_BACKOFF_SECONDS',
    default: String(DEFAULTS.dataRefusalBackoffSeconds),
    description:
      'After a refused version, the wait before the refused content is fetched again (1 to 86400); doubled per consecutive refusal.',
  },
  {
    name: 'AUTOCRANE_DATA_REFUSAL_BACKOFF_MAX_SECONDS',
    default: String(DEFAULTS.dataRefusalBackoffMaxSeconds),
    description: 'Longest wait between fetches of refused content (1 to 604800).',
  },
];

/**
 * The process configuration: every environment variable AutoCrane reads, validated once at
 * start so a typo fails fast with the variable's name instead of surfacing later as a
 * connection error.
 */
import { z } from 'zod';
import { DEFAULTS } from '../domain/shared/keys';
import { dns1123LabelError } from '../domain/shared/k8s-names';
import type { WatchdogCaps } from '../domain/watchdog/watchdog-caps';
import { parseFailingLimit, UNPROTECTED_POD_POLICIES, type FailingLimit, type RepairPolicy } from '../domain/repair/repair';
import { DATA_ROLLOUT_LIMITS, parseDataStageShares } from '../domain/data/data-rollout';
import type { ArchiveLimits, RefusalBackoff } from '../domain/data/data-archive-rules';
import { BYTE_COUNT_EXPECTED, byteCount } from '../domain/shared/byte-count';
import { CONFIG_VARIABLES, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './config-variables';

export { CONFIG_VARIABLES, LOG_FORMATS, LOG_LEVELS, type ConfigVariable, type LogFormat, type LogLevel } from './config-variables';

export interface Config {
  log: { level: LogLevel; format: LogFormat };
  temporal: { address: string; namespace: string; taskQueue: string; uiUrl: string | undefined };
  kubernetes: { kubeconfigPath: string | undefined; inCluster: boolean };
  api: { host: string; port: number; token: string | undefined };
  worker: { shutdownGraceSeconds: number; metricsHost: string; metricsPort: number };
  watchdogs: {
    /** Namespaces the probing schedules cover; the worker refuses to start with none. */
    namespaces: string[];
    probeIntervalSeconds: number;
    probeTimeoutSeconds: number;
    probeConcurrency: number;
    probeNotReadyPods: boolean;
    /** What the watchdog API lets callers write onto one pod. */
    caps: WatchdogCaps;
  };
  /** Repair of the watched namespaces. */
  repair: { enabled: boolean; policy: RepairPolicy };
  /** Defaults of the data rollouts; a start through the API may override the stages. */
  dataRollouts: { autoStart: boolean; stageShares: (number | string)[]; probationSeconds: number };
  /** `autocrane data-repository`; the sources file itself is read by that command. */
  dataRepository: {
    sourcesFile: string | undefined;
    root: string;
    host: string;
    port: number;
    /** Public base URL pods download archives from; undefined: the listening address. */
    publicUrl: string | undefined;
    pollIntervalSeconds: number;
    keepVersions: number;
    /** What an archive may hold; beyond it a version is refused. */
    limits: ArchiveLimits;
    /** The wait after a refusal before the refused content is fetched again, doubled per refusal up to the max. */
    refusalBackoff: RefusalBackoff;
  };
}

/** Names whose values must never appear in an error message or a log line. */
const SECRET_VARIABLES = new Set(['AUTOCRANE_API_TOKEN']);

function integer(min: number, max: number) {
  const expected = `expected an integer from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .regex(/^\d+$/, { error: expected })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: expected });
}

const nonEmpty = (what: string) =>
  z
    .string()
    .trim()
    .min(1, { error: `expected ${what}` });

const hostPort = z
  .string()
  .trim()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: 'expected host:port, e.g. 127.0.0.1:7233' });

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

const namespaceList = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  )
  .superRefine((names, ctx) => {
    for (const name of names) {
      const problem = dns1123LabelError(name);
      if (problem) ctx.addIssue({ code: 'custom', message: `'${name}' is not a namespace name: ${problem}` });
    }
  });

const failingLimit = z.string().transform((text, ctx): FailingLimit => {
  const limit = parseFailingLimit(text);
  if (typeof limit === 'string') {
    ctx.addIssue({ code: 'custom', message: limit.replace(/^'[^']*': /, '') });
    return z.NEVER;
  }
  return limit;
});

const dataStageShares = z.string().transform((text, ctx) => {
  const parsed = parseDataStageShares(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  }
  return parsed.shares;
});

const bytes = z.string().transform((text, ctx) => {
  const n = byteCount(text);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: BYTE_COUNT_EXPECTED });
    return z.NEVER;
  }
  return n;
});

const booleanFlag = z.enum(['true', 'false'], { error: 'expected true or false' }).transform((v) => v === 'true');

const envSchema = z.object({
  AUTOCRANE_LOG_LEVEL: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default(DEFAULTS.logLevel),
  AUTOCRANE_LOG_FORMAT: z.enum(LOG_FORMATS, { error: `expected one of ${LOG_FORMATS.join(', ')}` }).optional(),
  TEMPORAL_ADDRESS: hostPort.default(DEFAULTS.temporalAddress),
  TEMPORAL_NAMESPACE: nonEmpty('a namespace name').default(DEFAULTS.temporalNamespace),
  AUTOCRANE_TASK_QUEUE: nonEmpty('a task queue name').default(DEFAULTS.taskQueue),
  KUBECONFIG: z.string().optional(),
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  AUTOCRANE_API_HOST: nonEmpty('a host name or address').default(DEFAULTS.apiHost),
  AUTOCRANE_API_PORT: integer(0, 65535).default(DEFAULTS.apiPort),
  AUTOCRANE_API_TOKEN: z.string().optional(),
  AUTOCRANE_WORKER_SHUTDOWN_GRACE_SECONDS: integer(0, 3600).default(DEFAULTS.workerShutdownGraceSeconds),
  AUTOCRANE_TEMPORAL_UI_URL: httpUrl.optional(),
  AUTOCRANE_WORKER_METRICS_HOST: nonEmpty('a host name or address').default(DEFAULTS.workerMetricsHost),
  AUTOCRANE_WORKER_METRICS_PORT: integer(0, 65535).default(DEFAULTS.workerMetricsPort),
  AUTOCRANE_WATCH_NAMESPACES: namespaceList.optional(),
  AUTOCRANE_PROBE_INTERVAL_SECONDS: integer(5, 3600).default(DEFAULTS.probeIntervalSeconds),
  AUTOCRANE_PROBE_TIMEOUT_SECONDS: integer(1, 60).default(DEFAULTS.probeTimeoutSeconds),
  AUTOCRANE_PROBE_CONCURRENCY: integer(1, 1024).default(DEFAULTS.probeConcurrency),
  AUTOCRANE_PROBE_NOT_READY_PODS: booleanFlag.optional(),
  AUTOCRANE_WATCHDOGS_PER_POD: integer(1, 1000).default(DEFAULTS.watchdogsPerPod),
  AUTOCRANE_WATCHDOG_STATUS_BYTES_PER_POD: integer(4096, 200_000).default(DEFAULTS.watchdogStatusBytesPerPod),
  AUTOCRANE_REPAIR_ENABLED: booleanFlag.optional(),
  AUTOCRANE_REPAIR_FAILING_SWEEPS: integer(1, 100).default(DEFAULTS.repairFailingSweeps),
  AUTOCRANE_REPAIR_INTERVAL_SECONDS: integer(1, 3600).default(DEFAULTS.repairIntervalSeconds),
  AUTOCRANE_REPAIR_GRACE_PERIOD_SECONDS: integer(0, 3600).default(DEFAULTS.repairGracePeriodSeconds),
  AUTOCRANE_REPAIR_WORKLOAD_LIMIT: failingLimit.prefault(DEFAULTS.repairWorkloadLimit),
  AUTOCRANE_REPAIR_NAMESPACE_LIMIT: failingLimit.prefault(DEFAULTS.repairNamespaceLimit),
  AUTOCRANE_REPAIR_LIMIT_WINDOW_SECONDS: integer(1, 86400).default(DEFAULTS.repairLimitWindowSeconds),
  AUTOCRANE_REPAIR_UNPROTECTED_PODS: z
    .enum(UNPROTECTED_POD_POLICIES, { error: `expected one of ${UNPROTECTED_POD_POLICIES.join(', ')}` })
    .default(DEFAULTS.repairUnprotectedPods),
  AUTOCRANE_DATA_AUTO_START: booleanFlag.optional(),
  AUTOCRANE_DATA_STAGES: dataStageShares.prefault(DEFAULTS.dataStages),
  AUTOCRANE_DATA_PROBATION_SECONDS: integer(0, DATA_ROLLOUT_LIMITS.maxProbationSeconds).default(DEFAULTS.dataProbationSeconds),
  AUTOCRANE_DATA_SOURCES_FILE: z.string().optional(),
  AUTOCRANE_DATA_REPOSITORY_ROOT: nonEmpty('a folder').default(DEFAULTS.dataRepositoryRoot),
  AUTOCRANE_DATA_REPOSITORY_HOST: nonEmpty('a host name or address').default(DEFAULTS.dataRepositoryHost),
  AUTOCRANE_DATA_REPOSITORY_PORT: integer(0, 65535).default(DEFAULTS.dataRepositoryPort),
  AUTOCRANE_DATA_REPOSITORY_URL: httpUrl.optional(),
  AUTOCRANE_DATA_POLL_INTERVAL_SECONDS: integer(5, 86400).default(DEFAULTS.dataPollIntervalSeconds),
  AUTOCRANE_DATA_KEEP_VERSIONS: integer(1, 1000).default(DEFAULTS.dataKeepVersions),
  AUTOCRANE_DATA_MAX_ARCHIVE_BYTES: bytes.prefault(DEFAULTS.dataMaxArchiveBytes),
  AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES: integer(1, 100_000_000).default(DEFAULTS.dataMaxArchiveEntries),
  AUTOCRANE_DATA_MAX_EXTRACTED_BYTES: bytes.prefault(DEFAULTS.dataMaxExtractedBytes),
  AUTOCRANE_DATA_REFUSAL_BACKOFF_SECONDS: integer(1, 86400).default(DEFAULTS.dataRefusalBackoffSeconds),
  AUTOCRANE_DATA_REFUSAL_BACKOFF_MAX_SECONDS: integer(1, 604800).default(DEFAULTS.dataRefusalBackoffMaxSeconds),
});

export interface ConfigProblem {
  variable: string;
  reason: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} variable${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  ${p.variable}: ${p.reason}`).join('\n'),
    );
  }
}

export interface LoadConfigOptions {
  /** Whether stdout is a terminal; decides the default log format. */
  stdoutIsTTY?: boolean;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Config {
  // An exported-but-empty variable (FOO= in a shell or a manifest) means "not set" here,
  // so it gets the default instead of failing validation.
  const input: Record<string, string> = {};
  for (const name of Object.keys(envSchema.shape)) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') input[name] = value;
  }

  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue): ConfigProblem => {
      const variable = String(issue.path[0]);
      const got = SECRET_VARIABLES.has(variable) ? '' : `, got ${JSON.stringify(input[variable])}`;
      return { variable, reason: `${issue.message}${got}` };
    });
    throw new ConfigError(problems);
  }

  const v = parsed.data;
  const stdoutIsTTY = options.stdoutIsTTY ?? process.stdout.isTTY === true;
  return {
    log: { level: v.AUTOCRANE_LOG_LEVEL, format: v.AUTOCRANE_LOG_FORMAT ?? (stdoutIsTTY ? 'pretty' : 'json') },
    temporal: {
      address: v.TEMPORAL_ADDRESS,
      namespace: v.TEMPORAL_NAMESPACE,
      taskQueue: v.AUTOCRANE_TASK_QUEUE,
      uiUrl: v.AUTOCRANE_TEMPORAL_UI_URL?.replace(/\/+$/, ''),
    },
    kubernetes: { kubeconfigPath: v.KUBECONFIG, inCluster: v.KUBERNETES_SERVICE_HOST !== undefined },
    api: { host: v.AUTOCRANE_API_HOST, port: v.AUTOCRANE_API_PORT, token: v.AUTOCRANE_API_TOKEN },
    worker: {
      shutdownGraceSeconds: v.AUTOCRANE_WORKER_SHUTDOWN_GRACE_SECONDS,
      metricsHost: v.AUTOCRANE_WORKER_METRICS_HOST,
      metricsPort: v.AUTOCRANE_WORKER_METRICS_PORT,
    },
    watchdogs: {
      namespaces: [...new Set(v.AUTOCRANE_WATCH_NAMESPACES ?? [])],
      probeIntervalSeconds: v.AUTOCRANE_PROBE_INTERVAL_SECONDS,
      probeTimeoutSeconds: v.AUTOCRANE_PROBE_TIMEOUT_SECONDS,
      probeConcurrency: v.AUTOCRANE_PROBE_CONCURRENCY,
      probeNotReadyPods: v.AUTOCRANE_PROBE_NOT_READY_PODS ?? DEFAULTS.probeNotReadyPods,
      caps: { maxWatchdogsPerPod: v.AUTOCRANE_WATCHDOGS_PER_POD, maxStatusBytesPerPod: v.AUTOCRANE_WATCHDOG_STATUS_BYTES_PER_POD },
    },
    repair: {
      enabled: v.AUTOCRANE_REPAIR_ENABLED ?? true,
      policy: {
        failingSweeps: v.AUTOCRANE_REPAIR_FAILING_SWEEPS,
        intervalSeconds: v.AUTOCRANE_REPAIR_INTERVAL_SECONDS,
        gracePeriodSeconds: v.AUTOCRANE_REPAIR_GRACE_PERIOD_SECONDS,
        workloadLimit: v.AUTOCRANE_REPAIR_WORKLOAD_LIMIT,
        namespaceLimit: v.AUTOCRANE_REPAIR_NAMESPACE_LIMIT,
        limitWindowSeconds: v.AUTOCRANE_REPAIR_LIMIT_WINDOW_SECONDS,
        unprotectedPods: v.AUTOCRANE_REPAIR_UNPROTECTED_PODS,
      },
    },
    dataRollouts: {
      autoStart: v.AUTOCRANE_DATA_AUTO_START ?? DEFAULTS.dataAutoStart,
      stageShares: v.AUTOCRANE_DATA_STAGES,
      probationSeconds: v.AUTOCRANE_DATA_PROBATION_SECONDS,
    },
    dataRepository: {
      sourcesFile: v.AUTOCRANE_DATA_SOURCES_FILE,
      root: v.AUTOCRANE_DATA_REPOSITORY_ROOT,
      host: v.AUTOCRANE_DATA_REPOSITORY_HOST,
      port: v.AUTOCRANE_DATA_REPOSITORY_PORT,
      publicUrl: v.AUTOCRANE_DATA_REPOSITORY_URL?.replace(/\/+$/, ''),
      pollIntervalSeconds: v.AUTOCRANE_DATA_POLL_INTERVAL_SECONDS,
      keepVersions: v.AUTOCRANE_DATA_KEEP_VERSIONS,
      limits: {
        maxArchiveBytes: v.AUTOCRANE_DATA_MAX_ARCHIVE_BYTES,
        maxEntries: v.AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES,
        maxExtractedBytes: v.AUTOCRANE_DATA_MAX_EXTRACTED_BYTES,
      },
      refusalBackoff: {
        initialMs: v.AUTOCRANE_DATA_REFUSAL_BACKOFF_SECONDS * 1000,
        maxMs: Math.max(v.AUTOCRANE_DATA_REFUSAL_BACKOFF_SECONDS, v.AUTOCRANE_DATA_REFUSAL_BACKOFF_MAX_SECONDS) * 1000,
      },
    },
  };
}

/** The configuration table of docs/configuration.md (a unit test keeps the two equal). */
export function configTableMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = CONFIG_VARIABLES.map((v) => `| \`${v.name}\` | ${cell(v.default)} | ${cell(v.description)} |`);
  return ['| Variable | Default | Description |', '| --- | --- | --- |', ...rows].join('\n') + '\n';
}

/**
 * Runs `fn` (typically `() => loadConfig()`); a ConfigError is an operator's mistake, not a
 * bug, so it is printed without a stack trace and the process exits with status 2.
 */
export function exitOnConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

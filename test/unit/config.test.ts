import { CONFIG_VARIABLES, ConfigError, configTableMarkdown, loadConfig } from '../../platform/config';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env, { stdoutIsTTY: false });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    expect(loadConfig({}, { stdoutIsTTY: false })).toEqual({
      log: { level: 'info', format: 'json' },
      temporal: { address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'autocrane', uiUrl: undefined },
      kubernetes: { kubeconfigPath: undefined, inCluster: false },
      api: { host: '127.0.0.1', port: 8080, token: undefined },
      worker: { shutdownGraceSeconds: 30, metricsHost: '127.0.0.1', metricsPort: 9464 },
      watchdogs: {
        namespaces: [],
        probeIntervalSeconds: 30,
        probeTimeoutSeconds: 5,
        probeConcurrency: 64,
        probeNotReadyPods: false,
        caps: { maxWatchdogsPerPod: 64, maxStatusBytesPerPod: 65536 },
      },
      repair: {
        enabled: true,
        policy: {
          failingSweeps: 3,
          intervalSeconds: 60,
          gracePeriodSeconds: 120,
          workloadLimit: { percent: 25 },
          namespaceLimit: { percent: 10 },
          limitWindowSeconds: 600,
          unprotectedPods: 'skip',
        },
      },
      dataRollouts: { autoStart: true, stageShares: [1, '25%', '100%'], probationSeconds: 300 },
      dataRepository: {
        sourcesFile: undefined,
        root: '.autocrane/data-repository',
        host: '127.0.0.1',
        port: 8090,
        publicUrl: undefined,
        pollIntervalSeconds: 60,
        keepVersions: 10,
        limits: { maxArchiveBytes: 10 * 2 ** 30, maxEntries: 100_000, maxExtractedBytes: 10 * 2 ** 30 },
        refusalBackoff: { initialMs: 60_000, maxMs: 3_600_000 },
      },
    });
  });

  it('reads the data repository settings', () => {
    const config = loadConfig(
      {
        AUTOCRANE_DATA_SOURCES_FILE: '/etc/autocrane/sources.json',
        AUTOCRANE_DATA_REPOSITORY_ROOT: '/var/lib/data',
        AUTOCRANE_DATA_REPOSITORY_HOST: '0.0.0.0',
        AUTOCRANE_DATA_REPOSITORY_PORT: '0',
        AUTOCRANE_DATA_REPOSITORY_URL: 'http://data.autocrane:8090/',
        AUTOCRANE_DATA_POLL_INTERVAL_SECONDS: '5',
        AUTOCRANE_DATA_KEEP_VERSIONS: '1',
        AUTOCRANE_DATA_MAX_ARCHIVE_BYTES: '500Mi',
        AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES: '50',
        AUTOCRANE_DATA_MAX_EXTRACTED_BYTES: '2G',
        AUTOCRANE_DATA_REFUSAL_BACKOFF_SECONDS: '5',
        AUTOCRANE_DATA_REFUSAL_BACKOFF_MAX_SECONDS: '2',
      },
      { stdoutIsTTY: false },
    );
    expect(config.dataRepository).toEqual({
      sourcesFile: '/etc/autocrane/sources.json',
      root: '/var/lib/data',
      host: '0.0.0.0',
      port: 0,
      publicUrl: 'http://data.autocrane:8090',
      pollIntervalSeconds: 5,
      keepVersions: 1,
      limits: { maxArchiveBytes: 500 * 2 ** 20, maxEntries: 50, maxExtractedBytes: 2e9 },
      // A max below the first wait is the first wait.
      refusalBackoff: { initialMs: 5000, maxMs: 5000 },
    });
  });

  it('names a data repository limit that is not a byte count', () => {
    expect(() => loadConfig({ AUTOCRANE_DATA_MAX_EXTRACTED_BYTES: '10 gigs' }, { stdoutIsTTY: false })).toThrow(
      /AUTOCRANE_DATA_MAX_EXTRACTED_BYTES.*byte count/,
    );
    expect(() => loadConfig({ AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES: '0' }, { stdoutIsTTY: false })).toThrow(
      /AUTOCRANE_DATA_MAX_ARCHIVE_ENTRIES/,
    );
  });

  it('reads the data rollout settings', () => {
    const config = loadConfig(
      { AUTOCRANE_DATA_AUTO_START: 'false', AUTOCRANE_DATA_STAGES: ' 2, 50% ,100%', AUTOCRANE_DATA_PROBATION_SECONDS: '0' },
      { stdoutIsTTY: false },
    );
    expect(config.dataRollouts).toEqual({ autoStart: false, stageShares: [2, '50%', '100%'], probationSeconds: 0 });
  });

  it('reads the repair settings', () => {
    const config = loadConfig(
      {
        AUTOCRANE_REPAIR_ENABLED: 'false',
        AUTOCRANE_REPAIR_FAILING_SWEEPS: '5',
        AUTOCRANE_REPAIR_INTERVAL_SECONDS: '2',
        AUTOCRANE_REPAIR_GRACE_PERIOD_SECONDS: '0',
        AUTOCRANE_REPAIR_WORKLOAD_LIMIT: '1',
        AUTOCRANE_REPAIR_NAMESPACE_LIMIT: '50%',
        AUTOCRANE_REPAIR_LIMIT_WINDOW_SECONDS: '30',
        AUTOCRANE_REPAIR_UNPROTECTED_PODS: 'evict',
      },
      { stdoutIsTTY: false },
    );
    expect(config.repair).toEqual({
      enabled: false,
      policy: {
        failingSweeps: 5,
        intervalSeconds: 2,
        gracePeriodSeconds: 0,
        workloadLimit: { count: 1 },
        namespaceLimit: { percent: 50 },
        limitWindowSeconds: 30,
        unprotectedPods: 'evict',
      },
    });
  });

  it('reads the watchdog settings', () => {
    const config = loadConfig(
      {
        AUTOCRANE_WATCH_NAMESPACES: ' shop, payments ,shop,',
        AUTOCRANE_PROBE_INTERVAL_SECONDS: '10',
        AUTOCRANE_PROBE_TIMEOUT_SECONDS: '2',
        AUTOCRANE_PROBE_CONCURRENCY: '8',
        AUTOCRANE_PROBE_NOT_READY_PODS: 'true',
        AUTOCRANE_WATCHDOGS_PER_POD: '10',
        AUTOCRANE_WATCHDOG_STATUS_BYTES_PER_POD: '8192',
      },
      { stdoutIsTTY: false },
    );
    expect(config.watchdogs).toEqual({
      namespaces: ['shop', 'payments'],
      probeIntervalSeconds: 10,
      probeTimeoutSeconds: 2,
      probeConcurrency: 8,
      probeNotReadyPods: true,
      caps: { maxWatchdogsPerPod: 10, maxStatusBytesPerPod: 8192 },
    });
  });

  it.each([
    ['AUTOCRANE_WATCH_NAMESPACES', 'shop,Payments', /'Payments' is not a namespace name/],
    ['AUTOCRANE_PROBE_INTERVAL_SECONDS', '1', /from 5 to 3600/],
    ['AUTOCRANE_PROBE_TIMEOUT_SECONDS', '0', /from 1 to 60/],
    ['AUTOCRANE_PROBE_CONCURRENCY', '5000', /from 1 to 1024/],
    ['AUTOCRANE_PROBE_NOT_READY_PODS', 'yes', /true or false/],
    ['AUTOCRANE_WATCHDOGS_PER_POD', '0', /from 1 to 1000/],
    ['AUTOCRANE_WATCHDOG_STATUS_BYTES_PER_POD', '300000', /from 4096 to 200000/],
    ['AUTOCRANE_REPAIR_ENABLED', 'on', /true or false/],
    ['AUTOCRANE_REPAIR_FAILING_SWEEPS', '0', /from 1 to 100/],
    ['AUTOCRANE_REPAIR_INTERVAL_SECONDS', '0', /from 1 to 3600/],
    ['AUTOCRANE_REPAIR_GRACE_PERIOD_SECONDS', '-5', /from 0 to 3600/],
    ['AUTOCRANE_REPAIR_WORKLOAD_LIMIT', '150%', /^a percentage must be from 0% to 100%, got "150%"$/],
    ['AUTOCRANE_REPAIR_NAMESPACE_LIMIT', 'some', /^expected a count \(e\.g\. 2\) or a percentage \(e\.g\. 25%\), got "some"$/],
    ['AUTOCRANE_REPAIR_LIMIT_WINDOW_SECONDS', '100000', /from 1 to 86400/],
    ['AUTOCRANE_REPAIR_UNPROTECTED_PODS', 'delete', /expected one of skip, evict/],
    ['AUTOCRANE_DATA_AUTO_START', 'yes', /true or false/],
    ['AUTOCRANE_DATA_STAGES', '1,0%', /^'0%' is not a share/],
    ['AUTOCRANE_DATA_PROBATION_SECONDS', '90000', /from 0 to 86400/],
    ['AUTOCRANE_DATA_REPOSITORY_URL', 'data:8090', /http\(s\) URL/],
    ['AUTOCRANE_DATA_POLL_INTERVAL_SECONDS', '4', /from 5 to 86400/],
    ['AUTOCRANE_DATA_KEEP_VERSIONS', '0', /from 1 to 1000/],
  ])('names %s when its value is invalid', (variable, value, reason) => {
    const error = configError({ [variable]: value });
    expect(error.problems).toEqual([{ variable, reason: expect.stringMatching(reason) }]);
  });

  it('reads every variable', () => {
    const config = loadConfig(
      {
        AUTOCRANE_LOG_LEVEL: 'debug',
        AUTOCRANE_LOG_FORMAT: 'pretty',
        TEMPORAL_ADDRESS: 'temporal.example:7233',
        TEMPORAL_NAMESPACE: 'rollouts',
        AUTOCRANE_TASK_QUEUE: 'q1',
        KUBECONFIG: '/etc/kube/config',
        KUBERNETES_SERVICE_HOST: '10.0.0.1',
        AUTOCRANE_API_HOST: '0.0.0.0',
        AUTOCRANE_API_PORT: '0',
        AUTOCRANE_API_TOKEN: 's3cret',
        AUTOCRANE_WORKER_SHUTDOWN_GRACE_SECONDS: '5',
        AUTOCRANE_TEMPORAL_UI_URL: 'http://localhost:8233/',
      },
      { stdoutIsTTY: false },
    );
    expect(config).toEqual({
      log: { level: 'debug', format: 'pretty' },
      temporal: { address: 'temporal.example:7233', namespace: 'rollouts', taskQueue: 'q1', uiUrl: 'http://localhost:8233' },
      kubernetes: { kubeconfigPath: '/etc/kube/config', inCluster: true },
      api: { host: '0.0.0.0', port: 0, token: 's3cret' },
      worker: { shutdownGraceSeconds: 5, metricsHost: '127.0.0.1', metricsPort: 9464 },
      watchdogs: expect.any(Object),
      repair: expect.any(Object),
      dataRollouts: expect.any(Object),
      dataRepository: expect.any(Object),
    });
  });

  it('defaults the log format to pretty only on a terminal', () => {
    expect(loadConfig({}, { stdoutIsTTY: true }).log.format).toBe('pretty');
    expect(loadConfig({ AUTOCRANE_LOG_FORMAT: 'json' }, { stdoutIsTTY: true }).log.format).toBe('json');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ AUTOCRANE_API_PORT: '', TEMPORAL_NAMESPACE: '  ' }, { stdoutIsTTY: false })).toMatchObject({
      api: { port: 8080 },
      temporal: { namespace: 'default' },
    });
  });

  it.each([
    ['AUTOCRANE_LOG_LEVEL', 'loud', 'expected one of trace, debug, info, warn, error, got "loud"'],
    ['AUTOCRANE_LOG_FORMAT', 'xml', 'expected one of json, pretty, got "xml"'],
    ['TEMPORAL_ADDRESS', 'localhost', 'expected host:port, e.g. 127.0.0.1:7233, got "localhost"'],
    ['AUTOCRANE_API_PORT', 'abc', 'expected an integer from 0 to 65535, got "abc"'],
    ['AUTOCRANE_API_PORT', '65536', 'expected an integer from 0 to 65535, got "65536"'],
    ['AUTOCRANE_API_PORT', '-1', 'expected an integer from 0 to 65535, got "-1"'],
    ['AUTOCRANE_WORKER_SHUTDOWN_GRACE_SECONDS', '1.5', 'expected an integer from 0 to 3600, got "1.5"'],
    ['AUTOCRANE_TEMPORAL_UI_URL', 'ftp://ui', 'expected an http(s) URL, got "ftp://ui"'],
  ])('names %s when it is %p', (variable, value, reason) => {
    const err = configError({ [variable]: value });
    expect(err.problems).toEqual([{ variable, reason }]);
    expect(err.message).toContain(`${variable}: ${reason}`);
  });

  it('reports every invalid variable in one error', () => {
    const err = configError({ AUTOCRANE_API_PORT: 'abc', AUTOCRANE_LOG_LEVEL: 'loud', TEMPORAL_ADDRESS: 'x' });
    expect(err.problems.map((p) => p.variable).sort()).toEqual(['AUTOCRANE_API_PORT', 'AUTOCRANE_LOG_LEVEL', 'TEMPORAL_ADDRESS']);
    expect(err.message).toMatch(/^Invalid configuration \(3 variables\)/);
  });

  it('documents every variable it reads, in a markdown table', () => {
    const table = configTableMarkdown();
    expect(table.split('\n')[0]).toBe('| Variable | Default | Description |');
    for (const variable of CONFIG_VARIABLES) expect(table).toContain(`| \`${variable.name}\` |`);
    expect(CONFIG_VARIABLES.map((v) => v.name)).toEqual(
      expect.arrayContaining(['AUTOCRANE_API_TOKEN', 'AUTOCRANE_WORKER_SHUTDOWN_GRACE_SECONDS', 'KUBECONFIG']),
    );
  });
});

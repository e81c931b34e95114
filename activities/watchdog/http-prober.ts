/**
 * The HTTP side of the watchdog prober: GETs a probe URL (built by domain/watchdog-probe's
 * probeUrl from the pod's IP) and says what happened. A thin I/O adapter: what to write on
 * the pod is decided by decideProbeWrite, which accepts an HttpProbeResult as is.
 *
 * node:http with a keep-alive agent rather than fetch: redirects are never followed, the
 * body is read up to a limit and dropped, and one deadline covers connect, headers and body.
 * A probe failure is a result, never an exception; only misuse (bad options, duplicate
 * keys, use after close) throws.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { DEFAULTS } from '../../domain/shared/keys';
import type { ProbeResult as DomainProbeResult } from '../../domain/watchdog/watchdog-probe';
import { describeError } from '../../platform/errors';

/** How a probe ended: 'ok' (2xx), or why it is unhealthy. */
export type ProbeOutcome = 'ok' | 'http-status' | 'timeout' | 'refused' | 'error';

export interface HttpProbeResult extends DomainProbeResult {
  healthy: boolean;
  /** The HTTP status, when response headers arrived (also on a timeout while reading the body). */
  status?: number;
  /** One line saying what happened, e.g. "GET http://10.1.2.3:8080/watchdog answered 500: boom". */
  message: string;
  /** Wall time of the probe in whole milliseconds. */
  durationMs: number;
  outcome: ProbeOutcome;
}
/** The name the prober's callers know it by; distinct from domain's minimal ProbeResult. */
export type ProbeResult = HttpProbeResult;

export interface HttpProberOptions {
  /** One deadline per probe covering connect, headers and body. Default DEFAULTS.probeTimeoutSeconds. */
  timeoutMs?: number;
  /** At most this many body bytes are read (the start of an error body goes in the message). Default 4096. */
  maxBodyBytes?: number;
  /** probeAll's parallelism, and the agent's sockets per host. Default 64. */
  concurrency?: number;
  /** Reuse connections (default true). */
  keepAlive?: boolean;
  /**
   * How long an idle kept-alive connection is held, default 4000 ms: below the 5 s idle timeout
   * of Node's http server, so the prober does not race servers closing it.
   */
  idleSocketTimeoutMs?: number;
  /**
   * Idle kept-alive connections held at most, over all pods; past it the longest idle is
   * closed. Default: `concurrency`. Every pod is a host of its own, so without a cap a sweep
   * over 10,000 pods would hold up to 10,000 idle sockets until they time out. Connections
   * are still reused where it pays: several probes of one pod, and probes in quick succession.
   */
  maxIdleSockets?: number;
}

export interface ProbeTargetRequest {
  /** Caller's identity for the probe (e.g. `<namespace>/<pod>/<watchdog>`); unique within a call. */
  key: string;
  url: string;
}

export interface HttpProber {
  probe(url: string): Promise<HttpProbeResult>;
  /**
   * Probes every target with at most `concurrency` in flight; the map has one result per key.
   * onProgress gets the number finished so far, about once a second and once at the end.
   */
  probeAll(targets: ReadonlyArray<ProbeTargetRequest>, onProgress?: (done: number) => void): Promise<Map<string, HttpProbeResult>>;
  /** Closes idle connections and refuses further probes. Probes in flight are aborted. */
  close(): void;
}

export const DEFAULT_MAX_BODY_BYTES = 4096;
export const DEFAULT_PROBE_CONCURRENCY = 64;
export const DEFAULT_IDLE_SOCKET_TIMEOUT_MS = 4000;
/** Characters of an error body quoted in the message (the status annotation holds 1024). */
const MESSAGE_BODY_CHARS = 256;
/** Body bytes past maxBodyBytes still read and dropped to keep the connection; beyond that it is closed. */
const DRAIN_BYTES = 64 * 1024;
const PROGRESS_INTERVAL_MS = 1000;
const USER_AGENT = 'autocrane-prober';

type Phase = 'connecting' | 'waiting for the response' | 'reading the body';

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new RangeError(`http prober: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** The first characters of a body as one printable line. */
function bodyExcerpt(chunks: Buffer[]): string {
  const text = Buffer.concat(chunks)
    .toString('utf8')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const codePoints = Array.from(text);
  return codePoints.length <= MESSAGE_BODY_CHARS ? text : `${codePoints.slice(0, MESSAGE_BODY_CHARS - 1).join('')}…`;
}

function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object') {
    if ('code' in err && typeof err.code === 'string') return err.code;
    // Happy eyeballs (several addresses) reports an AggregateError; the first code will do.
    if (err instanceof AggregateError) for (const e of err.errors) if (errorCode(e)) return errorCode(e);
  }
  return undefined;
}

function describeNetworkError(err: unknown): { outcome: ProbeOutcome; text: string } {
  switch (errorCode(err)) {
    case 'ECONNREFUSED':
      return { outcome: 'refused', text: 'connection refused' };
    case 'ECONNRESET':
      return { outcome: 'error', text: 'connection reset by the server' };
    case 'EHOSTUNREACH':
      return { outcome: 'error', text: 'host unreachable' };
    case 'ENETUNREACH':
      return { outcome: 'error', text: 'network unreachable' };
    case 'EPIPE':
      return { outcome: 'error', text: 'connection closed by the server' };
    default:
      return { outcome: 'error', text: describeError(err) };
  }
}

/**
 * An http.Agent that holds at most `maxIdle` idle kept-alive sockets over all hosts (Node's
 * maxFreeSockets is per host): when one more is freed, the longest idle one is closed.
 */
class IdleCappedAgent extends http.Agent {
  /** Idle sockets, longest idle first (a Set keeps insertion order). */
  private readonly idle = new Set<Duplex>();
  private readonly watched = new WeakSet<Duplex>();

  constructor(
    options: http.AgentOptions,
    private readonly maxIdle: number,
  ) {
    super(options);
  }

  override keepSocketAlive(socket: Duplex): boolean {
    // Node's own check (it declines when the server's keep-alive hint is too short).
    if (this.maxIdle === 0 || (super.keepSocketAlive(socket) as unknown) === false) return false;
    if (!this.watched.has(socket)) {
      this.watched.add(socket);
      socket.once('close', () => this.idle.delete(socket));
    }
    this.idle.add(socket);
    for (const oldest of this.idle) {
      if (this.idle.size <= this.maxIdle) break;
      this.idle.delete(oldest);
      oldest.destroy();
    }
    return true;
  }

  override reuseSocket(socket: Duplex, request: http.ClientRequest): void {
    this.idle.delete(socket);
    super.reuseSocket(socket, request);
  }
}

export function createHttpProber(options: HttpProberOptions = {}): HttpProber {
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.probeTimeoutSeconds * 1000);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 0);
  const concurrency = positiveInteger('concurrency', options.concurrency, DEFAULT_PROBE_CONCURRENCY);
  const idleSocketTimeoutMs = positiveInteger('idleSocketTimeoutMs', options.idleSocketTimeoutMs, DEFAULT_IDLE_SOCKET_TIMEOUT_MS);
  const keepAlive = options.keepAlive ?? true;
  const maxIdleSockets = positiveInteger('maxIdleSockets', options.maxIdleSockets, concurrency, 0);

  // maxSockets is per host; the total is bounded by probeAll's worker pool. No
  // maxTotalSockets: idle sockets count towards it, so requests to new pods would wait for
  // other pods' idle sockets to expire. `timeout` expires idle sockets, maxFreeSockets caps
  // them per host, and maxIdleSockets over all hosts.
  const agent = new IdleCappedAgent(
    {
      keepAlive,
      maxSockets: concurrency,
      maxFreeSockets: Math.max(1, Math.min(concurrency, maxIdleSockets)),
      timeout: idleSocketTimeoutMs,
      scheduling: 'lifo',
    },
    maxIdleSockets,
  );
  let closed = false;

  function probe(url: string): Promise<HttpProbeResult> {
    if (closed) return Promise.reject(new Error('http prober is closed'));
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);

    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return Promise.resolve({ healthy: false, outcome: 'error', message: `GET ${url}: not a valid URL`, durationMs: elapsed() });
    }
    if (parsed.protocol !== 'http:') {
      return Promise.resolve({
        healthy: false,
        outcome: 'error',
        message: `GET ${url}: scheme '${parsed.protocol.slice(0, -1)}' is not supported, probes use plain http`,
        durationMs: elapsed(),
      });
    }

    return new Promise<HttpProbeResult>((resolve) => {
      let settled = false;
      let phase: Phase = 'connecting';
      let status: number | undefined;
      let current: http.ClientRequest | undefined;
      let retried = false;

      const settle = (result: Omit<HttpProbeResult, 'durationMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ ...result, durationMs: elapsed() });
      };

      const deadline = setTimeout(() => {
        settle({
          healthy: false,
          ...(status !== undefined ? { status } : {}),
          outcome: 'timeout',
          message: `GET ${url}: timed out after ${timeoutMs} ms ${phase}`,
        });
        current?.destroy();
      }, timeoutMs);

      const attempt = () => {
        const req = http.request(parsed, {
          method: 'GET',
          agent,
          headers: { 'user-agent': USER_AGENT, accept: '*/*' },
        });
        current = req;

        req.on('socket', (socket) => {
          if (socket.connecting) socket.once('connect', () => (phase = 'waiting for the response'));
          else phase = 'waiting for the response';
        });

        const onError = (err: unknown) => {
          if (settled) return;
          // A kept-alive connection the server closed while idle fails on reuse before any
          // response; that says nothing about the pod, so try once on a new connection.
          if (req.reusedSocket && status === undefined && !retried && errorCode(err) === 'ECONNRESET') {
            retried = true;
            phase = 'connecting';
            attempt();
            return;
          }
          const { outcome, text } = describeNetworkError(err);
          const where = phase === 'reading the body' ? ' while reading the body' : '';
          settle({ healthy: false, ...(status !== undefined ? { status } : {}), outcome, message: `GET ${url}: ${text}${where}` });
        };
        req.on('error', onError);

        req.on('response', (res) => {
          phase = 'reading the body';
          const code = res.statusCode ?? 0;
          status = code;
          const chunks: Buffer[] = [];
          let kept = 0;
          let seen = 0;

          const finish = () => {
            if (code >= 200 && code < 300) {
              settle({ healthy: true, status: code, outcome: 'ok', message: `GET ${url} answered ${code}` });
            } else if (code >= 300 && code < 400) {
              const location = res.headers.location;
              const to = location ? ` to ${bodyExcerpt([Buffer.from(location)])}` : '';
              settle({
                healthy: false,
                status: code,
                outcome: 'http-status',
                message: `GET ${url} answered ${code}, redirect${to} not followed`,
              });
            } else {
              const excerpt = bodyExcerpt(chunks);
              settle({
                healthy: false,
                status: code,
                outcome: 'http-status',
                message: `GET ${url} answered ${code}${excerpt ? `: ${excerpt}` : ''}`,
              });
            }
          };

          res.on('data', (chunk: Buffer) => {
            if (settled) return;
            seen += chunk.length;
            if (kept < maxBodyBytes) {
              const part = chunk.subarray(0, maxBodyBytes - kept);
              chunks.push(part);
              kept += part.length;
            }
            // A body much larger than what is read is not drained: drop the connection.
            if (seen > maxBodyBytes + DRAIN_BYTES) {
              finish();
              res.destroy();
            }
          });
          res.on('end', () => {
            if (!settled) finish();
          });
          // 'aborted' / premature close surfaces as an error on the response (Node >= 15).
          res.on('error', onError);
        });

        req.end();
      };

      attempt();
    });
  }

  async function probeAll(
    targets: ReadonlyArray<ProbeTargetRequest>,
    onProgress?: (done: number) => void,
  ): Promise<Map<string, HttpProbeResult>> {
    if (closed) throw new Error('http prober is closed');
    const keys = new Set<string>();
    for (const { key } of targets) {
      if (keys.has(key)) throw new RangeError(`http prober: duplicate probe key '${key}'`);
      keys.add(key);
    }

    const results = new Map<string, HttpProbeResult>();
    let next = 0;
    let done = 0;
    let lastReport = performance.now();
    let failure: unknown;

    const worker = async () => {
      while (failure === undefined && next < targets.length) {
        const target = targets[next++];
        if (target === undefined) break;
        const result = await probe(target.url);
        results.set(target.key, result);
        done++;
        if (onProgress && done < targets.length && performance.now() - lastReport >= PROGRESS_INTERVAL_MS) {
          lastReport = performance.now();
          onProgress(done);
        }
      }
    };

    const workers = Array.from({ length: Math.min(concurrency, targets.length) }, () =>
      worker().catch((err: unknown) => {
        failure ??= err;
      }),
    );
    await Promise.all(workers);
    if (failure !== undefined) throw failure;
    onProgress?.(done);
    // Insertion order follows completion; give the caller the targets' order.
    return new Map(targets.map(({ key }) => [key, results.get(key) as HttpProbeResult]));
  }

  return {
    probe,
    probeAll,
    close() {
      closed = true;
      agent.destroy();
    },
  };
}

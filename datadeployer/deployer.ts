/**
 * The data deployer's engine: one serial lane per consumed source. A lane follows its
 * request annotation, activates the requested version (download + verify → extract →
 * switch → prune, or only switch when that version is still on disk), and publishes what
 * is active in the source's status annotation. A newer request aborts a download or
 * extraction in progress; a failure is reported (the active version stays) and retried
 * with backoff unless retrying cannot help.
 */
import { rm } from 'node:fs/promises';
import {
  dataRequestKey,
  dataStatusKey,
  formatDataStatus,
  parseDataRequest,
  podDataDeclaration,
  sourceNameError,
  type DataRequest,
} from '../domain/data/data-contract';
import { dataStatusOf, isSatisfied, missingReason, retryDelayMs, type FailureKind, type SourceState } from '../domain/data/data-deployer';
import { describeError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import type { DropFolder } from './drop-folder';
import { downloadVerified } from './download';
import { ActivationError } from './errors';
import { extractArchive, type ExtractLimits } from './extract';

export interface DataDeployerOptions {
  drop: DropFolder;
  limits: ExtractLimits;
  download: { idleTimeoutMs: number; maxBytes: number };
  /** Writes `status.data.autocrane.io/<source>` (a merge patch of that key only). */
  publishStatus: (source: string, value: string) => Promise<void>;
  logger: Logger;
  /** Injectable for tests. */
  retryDelayMs?: (kind: FailureKind, attempt: number) => number | null;
}

/** Longest error message written to an annotation. */
const MAX_MESSAGE_LENGTH = 1000;
const PUBLISH_RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

class Superseded extends Error {
  override readonly name = 'Superseded';
}

export class DataDeployer {
  private readonly lanes = new Map<string, SourceLane>();
  private consumed: string[] = [];
  private readonly invalid = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private stopped = false;

  constructor(private readonly options: DataDeployerOptions) {}

  /** Takes in a version of the pod's annotations (each watch event). */
  observe(annotations: Readonly<Record<string, string>>): void {
    if (this.stopped) return;
    this.consumed = podDataDeclaration(annotations).consumes;
    for (const source of this.consumed) {
      const problem = sourceNameError(source);
      if (problem !== null) {
        if (!this.invalid.has(source)) this.options.logger.error({ source }, `store.autocrane.io/data: ${problem}`);
        this.invalid.set(source, problem);
        continue;
      }
      let lane = this.lanes.get(source);
      if (lane === undefined) {
        lane = new SourceLane(source, this.options, () => this.changed());
        this.lanes.set(source, lane);
      }
      lane.observe(annotations[dataRequestKey(source)], annotations[dataStatusKey(source)]);
    }
  }

  /** Every consumed source, and why it is not active at its requested version (null when it is and its status is written). */
  progress(): { source: string; reason: string | null }[] {
    return this.consumed.map((source) => {
      const invalid = this.invalid.get(source);
      if (invalid !== undefined) return { source, reason: invalid };
      const lane = this.lanes.get(source);
      const reason = missingReason(lane?.state);
      if (reason !== null || lane === undefined) return { source, reason: reason ?? 'no request yet' };
      return { source, reason: lane.statusWritten() ? null : 'active; writing its status annotation' };
    });
  }

  state(source: string): SourceState | undefined {
    return this.lanes.get(source)?.state;
  }

  /** Calls `listener` after every change of any source's state. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Aborts whatever is in progress (tmp/ leftovers are cleared at the next start) and waits for the lanes. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.lanes.values()].map((lane) => lane.stop()));
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

class SourceLane {
  readonly state: SourceState = {};
  private readonly logger: Logger;
  private requestText: string | undefined;
  private observedStatus: string | undefined;
  private running: { request: DataRequest; controller: AbortController } | undefined;
  private attempt = 0;
  private retryAt: number | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private publishing = false;
  private publishAgain = false;
  private publishFailures = 0;
  private publishTimer: NodeJS.Timeout | undefined;
  private readonly loop: Promise<void>;

  constructor(
    readonly source: string,
    private readonly options: DataDeployerOptions,
    private readonly changed: () => void,
  ) {
    this.logger = options.logger.child({ source });
    this.loop = this.run();
  }

  observe(requestText: string | undefined, statusText: string | undefined): void {
    this.observedStatus = statusText;
    if (requestText !== this.requestText) {
      this.requestText = requestText;
      this.attempt = 0;
      this.retryAt = undefined;
      this.state.failure = undefined;
      if (requestText === undefined) {
        this.state.request = undefined;
      } else {
        const parsed = parseDataRequest(requestText);
        this.state.request = parsed.ok ? parsed : { ok: false, problem: parsed.problem };
        if (!parsed.ok) {
          const version = /"version"\s*:\s*"([^"]{0,100})"/.exec(requestText)?.[1] ?? '';
          this.fail(new ActivationError('request', `${dataRequestKey(this.source)}: ${parsed.problem}`), version);
        } else {
          this.logger.info({ version: parsed.value.version, sha256: parsed.value.sha256 }, 'new request');
        }
      }
      const running = this.running;
      const wanted = this.state.request?.ok ? this.state.request.value : undefined;
      if (running && !sameRequest(running.request, wanted))
        running.controller.abort(new Superseded(`superseded by ${wanted?.version ?? 'the removal of the request'}`));
      this.wake?.();
      this.changed();
    }
    this.publish();
  }

  /** Whether the status annotation says what the state does. */
  statusWritten(): boolean {
    return !this.publishing && this.observedStatus === this.desiredStatus();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.running?.controller.abort(new Superseded('the data deployer is stopping'));
    clearTimeout(this.publishTimer);
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    try {
      this.state.active = await this.options.drop.readActive(this.source);
      if (this.state.active) this.logger.info({ version: this.state.active.version }, 'active on disk');
    } catch (err) {
      this.fail(err, '');
    }
    this.publish();
    this.changed();
    while (!this.stopped) {
      const request = this.state.request;
      const due = this.state.failure === undefined || (this.retryAt !== undefined && Date.now() >= this.retryAt);
      if (request?.ok && !isSatisfied(this.state) && due) {
        await this.activate(request.value);
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = this.retryAt === undefined ? undefined : setTimeout(resolve, Math.max(0, this.retryAt - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  private async activate(request: DataRequest): Promise<void> {
    const { drop, limits } = this.options;
    const controller = new AbortController();
    const { signal } = controller;
    this.running = { request, controller };
    const log = this.logger.child({ version: request.version });
    try {
      const active = this.state.active;
      if (active?.version === request.version && active.sha256 !== request.sha256) {
        throw new ActivationError(
          'request',
          `version ${request.version} is active with SHA-256 ${active.sha256}, the request names ${request.sha256}`,
        );
      }
      if (await drop.hasVersion(this.source, request.version, request.sha256)) {
        log.info('version still on disk: switching without a download');
      } else {
        const archive = drop.tmpPath(`download-${this.source}-${request.version}`);
        try {
          const startedAt = Date.now();
          log.info({ url: request.url }, 'downloading');
          const { bytes } = await downloadVerified(request.url, archive, request.sha256, { ...this.options.download, signal });
          log.info({ bytes, ms: Date.now() - startedAt }, 'downloaded; SHA-256 verified');
          let extracted = { entries: 0, bytes: 0 };
          await drop.install(
            this.source,
            request.version,
            request.sha256,
            async (dir) => (extracted = await extractArchive(archive, dir, limits, signal)),
          );
          log.info(extracted, 'extracted');
        } finally {
          await rm(archive, { force: true });
        }
      }
      signal.throwIfAborted();
      const previous = await drop.switchTo(this.source, request.version);
      this.state.active = await drop.readActive(this.source);
      this.state.failure = undefined;
      this.attempt = 0;
      this.retryAt = undefined;
      log.info({ previous: previous ?? null }, 'activated');
      try {
        const removed = await drop.prune(
          this.source,
          previous === undefined || previous === request.version ? [request.version] : [request.version, previous],
        );
        if (removed.length > 0) log.info({ removed }, 'removed older versions');
      } catch (err) {
        log.warn(`removing older versions failed: ${describeError(err)}`);
      }
    } catch (err) {
      if (signal.aborted) {
        log.info(`activation stopped: ${describeError(signal.reason)}`);
        return;
      }
      this.fail(err, request.version);
    } finally {
      this.running = undefined;
      this.publish();
      this.changed();
    }
  }

  private fail(err: unknown, version: string): void {
    const kind: FailureKind = err instanceof ActivationError ? err.kind : 'filesystem';
    const message = (err instanceof ActivationError ? err.message : describeError(err)).slice(0, MAX_MESSAGE_LENGTH);
    const previous = this.state.failure;
    // The same failure again keeps its first time, so retries do not rewrite the annotation.
    const same = previous?.version === version && previous.kind === kind && previous.message === message;
    this.state.failure = { version, kind, message, at: same ? previous.at : new Date().toISOString() };
    this.attempt += 1;
    const delay = (this.options.retryDelayMs ?? retryDelayMs)(kind, this.attempt);
    this.retryAt = delay === null ? undefined : Date.now() + delay;
    this.logger.warn({ version, kind, retryInMs: delay }, `activation failed: ${message}`);
  }

  private desiredStatus(): string | undefined {
    if (this.state.active === undefined && this.state.failure === undefined) return this.observedStatus;
    return formatDataStatus(dataStatusOf(this.state));
  }

  /** Writes the status annotation when it differs from what the pod shows; one write at a time, retried. */
  private publish(): void {
    if (this.publishing) {
      this.publishAgain = true;
      return;
    }
    const value = this.desiredStatus();
    if (value === undefined || value === this.observedStatus || this.stopped) return;
    this.publishing = true;
    this.publishAgain = false;
    clearTimeout(this.publishTimer);
    this.options.publishStatus(this.source, value).then(
      () => {
        this.observedStatus = value;
        this.publishFailures = 0;
        this.publishing = false;
        this.publish();
        this.changed();
      },
      (err: unknown) => {
        this.publishing = false;
        const delay = PUBLISH_RETRY_MS[Math.min(this.publishFailures++, PUBLISH_RETRY_MS.length - 1)];
        this.logger.warn({ retryInMs: delay }, `writing ${dataStatusKey(this.source)} failed: ${describeError(err)}`);
        this.publishTimer = setTimeout(() => this.publish(), delay);
      },
    );
  }
}

const sameRequest = (a: DataRequest, b: DataRequest | undefined) =>
  b !== undefined && a.version === b.version && a.sha256 === b.sha256 && a.url === b.url;

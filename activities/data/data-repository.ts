/**
 * The data repository's one activity: poll a source, store a new version, and announce every
 * version not announced yet to each watched namespace's data-rollout workflow, by
 * signal-with-start (so the first announcement creates the workflow).
 *
 * Idempotent. The same content packs to the same archive, so a retry finds the version the
 * manifest already holds and stores nothing. Announcing is recorded in the manifest entry
 * (`announced`) only after every namespace was signalled: a poll that stored a version and
 * failed to announce it announces it on its retry or on the next poll. A crash between the
 * signals and that record repeats the signals; the data-rollout workflow ignores a version it
 * already knows.
 */
import { ApplicationFailure, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import type { Refusal } from '../../domain/data/data-archive-rules';
import { isNewRefusal } from '../../domain/data/data-refusal-event';
import { publicVersion, type PinnedVersions } from '../../domain/data/data-repository';
import { SourceFetchError } from '../../datarepository/fetch';
import type { DataRepository } from '../../datarepository/repository';
import { describeError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import {
  DATA_ROLLOUT_STATUS_QUERY,
  dataRolloutWorkflowId,
  VERSION_AVAILABLE_SIGNAL,
  type DataRolloutStatus,
  type DataRolloutWorkflowInput,
  type VersionAnnouncement,
} from '../../domain/data/data-rollout-types';
import { DATA_ROLLOUT_WORKFLOW_TYPE } from '../../contracts/workflow-types';

export interface DataPollInput {
  source: string;
}

export interface DataPollSummary {
  source: string;
  /** The version this poll stored, or null. */
  created: string | null;
  pruned: string[];
  /** Versions announced by this poll (to every namespace). */
  announced: string[];
  namespaces: number;
  /** The source's content was refused (not stored), by this poll or one whose back-off is not over. */
  refused?: Refusal | null;
  /** `refused` was made by this poll, not repeated from one whose back-off is not over. */
  newRefusal?: boolean;
  /** The watched namespaces this repository announces to, which the source is declared to. */
  watchedNamespaces?: string[];
  /** The main task queue, whose worker records the refusal's Event (this process has no cluster access). */
  mainTaskQueue?: string;
}

export interface DataRepositoryActivityDeps {
  repository: DataRepository;
  /** Signals the data-rollout workflows. */
  client: Client;
  /** Namespaces whose data-rollout workflow hears of each new version (AUTOCRANE_WATCH_NAMESPACES). */
  namespaces: readonly string[];
  /** The main task queue, where the data-rollout workflows run. */
  taskQueue: string;
  /** Base URL of this repository as pods reach it. */
  publicUrl: string;
  logger: Logger;
}

export const archiveUrl = (publicUrl: string, source: string, id: string): string =>
  `${publicUrl.replace(/\/+$/, '')}/v1/sources/${encodeURIComponent(source)}/versions/${encodeURIComponent(id)}/archive`;

const HEARTBEAT_MS = 5000;
const PIN_QUERY_DEADLINE_MS = 5000;

export function createDataRepositoryActivities(deps: DataRepositoryActivityDeps) {
  const { repository, client, logger } = deps;

  async function announce(source: string, announcement: VersionAnnouncement): Promise<void> {
    for (const namespace of deps.namespaces) {
      await client.workflow.signalWithStart(DATA_ROLLOUT_WORKFLOW_TYPE, {
        workflowId: dataRolloutWorkflowId(namespace, source),
        taskQueue: deps.taskQueue,
        args: [{ namespace, source } satisfies DataRolloutWorkflowInput],
        signal: VERSION_AVAILABLE_SIGNAL,
        signalArgs: [announcement] satisfies [VersionAnnouncement],
      });
    }
  }

  /**
   * The versions each watched namespace's data-rollout workflow still needs (its LKG and the
   * version it is rolling out), so pruning never deletes an archive a pod may have to
   * download to revert or to join. A namespace without a workflow pins nothing; one that
   * cannot be asked (no worker answering) makes the pins unknown, and this poll prunes nothing.
   */
  async function pinnedVersions(source: string): Promise<PinnedVersions> {
    const pinned = new Set<string>();
    for (const namespace of deps.namespaces) {
      try {
        const handle = client.workflow.getHandle(dataRolloutWorkflowId(namespace, source));
        // A query waits for a worker; with none polling it would hold the poll for the RPC's whole default deadline.
        const status = await client.connection.withDeadline(Date.now() + PIN_QUERY_DEADLINE_MS, () =>
          handle.query<DataRolloutStatus>(DATA_ROLLOUT_STATUS_QUERY),
        );
        if (status.lkg) pinned.add(status.lkg.version.id);
        if (status.rollout) pinned.add(status.rollout.version);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) continue;
        logger.warn({ source, namespace, err: describeError(err) }, 'data-rollout workflow not answering: this poll prunes no version');
        return 'unknown';
      }
    }
    return pinned;
  }

  return {
    async pollDataSource(input: DataPollInput): Promise<DataPollSummary> {
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(), HEARTBEAT_MS);
      try {
        if (!repository.source(input.source)) {
          throw ApplicationFailure.nonRetryable(
            `no data source named '${input.source}' is configured in this data repository`,
            'UnknownDataSource',
          );
        }
        const refusalBefore = repository.refusal(input.source);
        let result;
        try {
          result = await repository.poll(input.source, context.cancellationSignal, () => pinnedVersions(input.source));
        } catch (err) {
          throw ApplicationFailure.create({
            message: `poll of data source '${input.source}': ${describeError(err)}`,
            type: 'DataSourcePollFailed',
            nonRetryable: err instanceof SourceFetchError && !err.retryable,
            cause: err instanceof Error ? err : undefined,
          });
        }
        const announced: string[] = [];
        for (const version of result.unannounced) {
          try {
            await announce(input.source, {
              version: publicVersion(version),
              archiveUrl: archiveUrl(deps.publicUrl, input.source, version.id),
            });
          } catch (err) {
            throw ApplicationFailure.retryable(
              `announcing version ${version.id} of '${input.source}': ${describeError(err)}`,
              'DataAnnouncementFailed',
            );
          }
          await repository.markAnnounced(input.source, [version.id]);
          announced.push(version.id);
        }
        if (announced.length > 0)
          logger.info({ source: input.source, versions: announced, namespaces: deps.namespaces }, 'data versions announced');
        return {
          source: input.source,
          created: result.created?.id ?? null,
          pruned: result.pruned,
          announced,
          namespaces: deps.namespaces.length,
          refused: result.refused,
          newRefusal: isNewRefusal(refusalBefore, result.refused),
          watchedNamespaces: [...deps.namespaces],
          mainTaskQueue: deps.taskQueue,
        };
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
}

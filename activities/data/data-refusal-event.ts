/**
 * Tells each namespace a data source is declared to that the data repository refused the
 * source's archive: a Warning Event, reason `DataArchiveRefused`. Runs on the main worker, which
 * has the cluster access the repository process (the one parsing hostile archives) does not.
 *
 * The Event is about the source's ConfigMap mirror (`autocrane-data-<source>`) where it exists;
 * before the source's first version reached a namespace there is no mirror, and the Event is
 * about the Namespace itself (the source is declared to it by the watched namespaces list).
 */
import { hostname } from 'node:os';
import { ApplicationFailure } from '@temporalio/activity';
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type KubeConfig,
  type V1ObjectReference,
} from '@kubernetes/client-node';
import type { Refusal } from '../../domain/data/data-archive-rules';
import { dataArchiveRefusedEventName, dataArchiveRefusedMessage } from '../../domain/data/data-refusal-event';
import { dataMirrorName } from '../../domain/data/data-rollout';
import {
  DATA_ARCHIVE_REFUSED_EVENT_REASON,
  EVENT_REPORTING_CONTROLLER,
  FIELD_MANAGER,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from '../../domain/shared/keys';
import { kubernetesErrorStatus } from '../../platform/kubernetes';
import { apiserverAnswer, EVENT_NOTE_MAX_BYTES, truncateUtf8 } from '../shared/pod-write-refusals';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface DataArchiveRefusalInput {
  source: string;
  refusal: Refusal;
  /** The namespaces the source is declared to (the repository's watched namespaces). */
  namespaces: readonly string[];
}

export interface DataArchiveRefusalRecord {
  /** Per namespace: `created`, `counted` (an existing Event's count raised) or why it was not recorded. */
  namespaces: Record<string, 'created' | 'counted' | string>;
}

/** The apiserver answers that a retry may change: none at all, timeouts, throttling, 5xx. */
const retryableStatus = (status: number | undefined): boolean => status === undefined || status === 408 || status === 429 || status >= 500;

export type DataRefusalEventApi = Pick<CoreV1Api, 'readNamespacedConfigMap' | 'createNamespacedEvent' | 'patchNamespacedEvent'>;

export function dataArchiveRefusedEvent(input: {
  source: string;
  refusal: Refusal;
  namespace: string;
  regarding: V1ObjectReference;
  reportingInstance: string;
}): CoreV1Event {
  const { source, refusal, namespace } = input;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: dataArchiveRefusedEventName(source, refusal.ref, refusal.reason),
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    },
    involvedObject: input.regarding,
    reason: DATA_ARCHIVE_REFUSED_EVENT_REASON,
    type: 'Warning',
    message: truncateUtf8(dataArchiveRefusedMessage(source, refusal), EVENT_NOTE_MAX_BYTES),
    source: { component: EVENT_REPORTING_CONTROLLER, host: input.reportingInstance },
    reportingComponent: EVENT_REPORTING_CONTROLLER,
    reportingInstance: input.reportingInstance.slice(0, 128),
    firstTimestamp: new Date(refusal.at),
    lastTimestamp: new Date(refusal.at),
    // The repository's count of consecutive refusals of the source: a retried activity sets
    // the same count again instead of counting one refusal twice.
    count: refusal.count,
  };
}

export function createDataRefusalEventActivities(
  kc: KubeConfig,
  api: DataRefusalEventApi = kc.makeApiClient(CoreV1Api),
  reportingInstance = hostname(),
) {
  async function regarding(namespace: string, source: string): Promise<V1ObjectReference> {
    const name = dataMirrorName(source);
    try {
      const mirror = await api.readNamespacedConfigMap({ namespace, name });
      return { apiVersion: 'v1', kind: 'ConfigMap', namespace, name, uid: mirror.metadata?.uid };
    } catch (err) {
      if (kubernetesErrorStatus(err) !== 404) throw err;
      // A core Event's object must carry the Event's namespace, a cluster-scoped one's too.
      return { apiVersion: 'v1', kind: 'Namespace', namespace, name: namespace };
    }
  }

  async function recordIn(namespace: string, input: DataArchiveRefusalInput): Promise<'created' | 'counted'> {
    const body = dataArchiveRefusedEvent({ ...input, namespace, regarding: await regarding(namespace, input.source), reportingInstance });
    try {
      await api.createNamespacedEvent({ namespace, body, fieldManager: FIELD_MANAGER });
      return 'created';
    } catch (err) {
      if (kubernetesErrorStatus(err) !== 409) throw err;
    }
    const patch = { count: body.count, lastTimestamp: body.lastTimestamp?.toISOString(), message: body.message };
    await api.patchNamespacedEvent({ namespace, name: body.metadata.name ?? '', body: patch, fieldManager: FIELD_MANAGER }, mergePatch);
    return 'counted';
  }

  return {
    /**
     * One namespace refusing the Event never stops the others. Fails retryably when a namespace
     * failed for a reason a retry may change (the Events recorded meanwhile are set, not
     * counted, again); a namespace that refuses for good (forbidden, invalid) is only reported.
     */
    async recordDataArchiveRefusal(input: DataArchiveRefusalInput): Promise<DataArchiveRefusalRecord> {
      const namespaces: DataArchiveRefusalRecord['namespaces'] = {};
      const retryable: string[] = [];
      for (const namespace of input.namespaces) {
        try {
          namespaces[namespace] = await recordIn(namespace, input);
        } catch (err) {
          const answer = apiserverAnswer(err);
          namespaces[namespace] = `${answer.httpStatus === undefined ? 'no answer' : `HTTP ${answer.httpStatus}`}: ${answer.message}`;
          if (retryableStatus(answer.httpStatus)) retryable.push(`${namespace} (${namespaces[namespace]})`);
        }
      }
      if (retryable.length > 0) {
        throw ApplicationFailure.retryable(
          `DataArchiveRefused Event of data source '${input.source}' not recorded in ${retryable.join(', ')}`,
          'DataRefusalEventFailed',
        );
      }
      return { namespaces };
    },
  };
}

export type DataRefusalEventActivities = ReturnType<typeof createDataRefusalEventActivities>;

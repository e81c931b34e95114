/**
 * The data rollout workflows as the API sees them (one per namespace and source): the port the
 * data-rollout router depends on and its Temporal implementation.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { DataRolloutControl } from '../../domain/gate/stage-controls';
import {
  dataRolloutControlUpdates,
  dataRolloutStatusQuery,
  dataRolloutWorkflowId,
  startDataRolloutUpdate,
  type DataControlRequest,
  type DataRolloutStatus,
  type DataStartRequest,
} from '../../contracts/data-rollout-messages';

/** The data rollout workflows as the routes see them; temporalDataRolloutWorkflows is the real one. */
export interface DataRolloutWorkflows {
  status(namespace: string, source: string): Promise<DataRolloutStatus>;
  start(namespace: string, source: string, request: DataStartRequest): Promise<DataRolloutStatus>;
  control(namespace: string, source: string, control: DataRolloutControl, request: DataControlRequest): Promise<DataRolloutStatus>;
}

/** No workflow for the source (the routes answer 404). */
export class DataRolloutUnavailableError extends Error {}
/** The workflow refused a start or a control; the message is its reason (409). */
export class DataRolloutRefusedError extends Error {}

export function temporalDataRolloutWorkflows(client: Client): DataRolloutWorkflows {
  const call = async <T>(namespace: string, source: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new DataRolloutUnavailableError(
          `no data rollout workflow for source ${source} in namespace ${namespace}: it starts when the data repository announces a version of ${source}`,
        );
      }
      if (err instanceof WorkflowUpdateFailedError) throw new DataRolloutRefusedError(err.cause?.message ?? err.message);
      throw err;
    }
  };
  const handle = (namespace: string, source: string) => client.workflow.getHandle(dataRolloutWorkflowId(namespace, source));
  return {
    status: (namespace, source) => call(namespace, source, () => handle(namespace, source).query(dataRolloutStatusQuery)),
    start: (namespace, source, request) =>
      call(namespace, source, () => handle(namespace, source).executeUpdate(startDataRolloutUpdate, { args: [request] })),
    control: (namespace, source, control, request) =>
      call(namespace, source, () => handle(namespace, source).executeUpdate(dataRolloutControlUpdates[control], { args: [request] })),
  };
}

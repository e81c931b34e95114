/** A rollout's status as the API answers it, for the CLI's tests; a test overrides the fields it is about. */
import type { RolloutStatusBody } from '../../api/rollout/rollouts';
export const T0 = '2026-11-22T08:00:00.000Z';

export const rolloutStatusBody = (overrides: Partial<RolloutStatusBody> = {}): RolloutStatusBody => ({
  rolloutId: '3f9a0c1b2d4e',
  workflowId: 'rollout/shop/Deployment/web',
  runId: 'run-1',
  statusUrl: '/v1/rollouts/3f9a0c1b2d4e',
  target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
  summary: 'Deployment shop/web: images web=shop/web:2; 25% → 100%, automatic rollback',
  state: 'Baking',
  stage: 0,
  totalReplicas: 4,
  stages: [
    {
      index: 0,
      replicas: '25%',
      count: 1,
      bakeSeconds: 300,
      approval: { timeoutSeconds: 600, onTimeout: 'rollback' },
      result: 'baking',
      startedAt: T0,
      endedAt: null,
      reason: null,
    },
    {
      index: 1,
      replicas: '100%',
      count: 4,
      bakeSeconds: 0,
      approval: null,
      result: 'pending',
      startedAt: null,
      endedAt: null,
      reason: null,
    },
  ],
  pods: { updated: 1, ready: 1, erroring: [] },
  podsLive: true,
  decisions: [
    { at: T0, kind: 'started', stage: null, reason: 'started through the API' },
    { at: '2026-11-22T08:00:01.000Z', kind: 'stageStarted', stage: 0, reason: '1 of 4 replicas on the new template' },
  ],
  decisionsDropped: 0,
  startedAt: T0,
  endedAt: null,
  requestId: null,
  supersededBy: null,
  ...overrides,
});

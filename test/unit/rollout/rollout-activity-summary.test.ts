import { activitySummary, describeTarget } from '../../../domain/rollout/rollout-summary';

const target = { namespace: 'shop', kind: 'Deployment', name: 'web' } as const;

describe('activity summaries (the Temporal UI timeline)', () => {
  test('a workload is named as messages name it', () => {
    expect(describeTarget(target)).toBe('Deployment shop/web');
    expect(describeTarget({ namespace: 'db', kind: 'StatefulSet', name: 'pg' })).toBe('StatefulSet db/pg');
  });

  test('stages count from 1 of all, with the replica counts', () => {
    expect(activitySummary.advance(0, 3, 3, 30)).toBe('stage 1/3: scale to 3 of 30 replicas on the new template');
    expect(activitySummary.advance(2, 3, 30, 30)).toBe('stage 3/3: scale to 30 of 30 replicas on the new template');
  });

  test('a bake names its length; a watch without bake (promote skipped it, or bake 0) says it waits for the gate', () => {
    expect(activitySummary.bake(1, 3, 600)).toBe('stage 2/3: bake 600s with the gate watched');
    expect(activitySummary.bake(1, 3, 0)).toBe('stage 2/3: watch the gate until it passes');
  });

  test('holds say why the rollout is held', () => {
    expect(activitySummary.hold(0, 2, 'paused')).toBe('stage 1/2: watch the gate while paused');
    expect(activitySummary.hold(1, 2, 'awaiting approval')).toBe('stage 2/2: watch the gate while awaiting approval');
  });

  test('promotion, rollback and release', () => {
    expect(activitySummary.prepare(target)).toBe('prepare the rollout of Deployment shop/web');
    expect(activitySummary.promote(target, 30)).toBe('promote: all 30 replicas of Deployment shop/web on the new template');
    expect(activitySummary.finish(target)).toBe('release Deployment shop/web');
    expect(activitySummary.rollback('aborted by an operator')).toBe('roll back: aborted by an operator');
  });

  test('a long rollback reason is cut at 160 characters (counted as characters, not UTF-16 units), the decision keeps it whole', () => {
    const reason = '🚨'.repeat(200);
    const summary = activitySummary.rollback(reason);
    const kept = Array.from(summary.slice('roll back: '.length));
    expect(kept).toHaveLength(160);
    expect(kept.at(-1)).toBe('…');
    expect(kept.slice(0, -1).every((c) => c === '🚨')).toBe(true);
    expect(activitySummary.rollback('x'.repeat(160))).toBe(`roll back: ${'x'.repeat(160)}`);
  });
});

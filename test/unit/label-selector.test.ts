import { labelSelectorError, labelSelectorMatches, type LabelSelector } from '../../domain/shared/label-selector';

const pod = { app: 'web', tier: 'front', empty: '' };

describe('labelSelectorMatches: null and empty selectors (policy/v1 PodDisruptionBudget semantics)', () => {
  test.each([null, undefined])('a %p selector selects nothing, not even a pod without labels', (selector) => {
    expect(labelSelectorMatches(selector, pod)).toBe(false);
    expect(labelSelectorMatches(selector, {})).toBe(false);
    expect(labelSelectorMatches(selector, undefined)).toBe(false);
  });

  test.each<LabelSelector>([{}, { matchLabels: {} }, { matchExpressions: [] }, { matchLabels: null, matchExpressions: null }])(
    'an empty selector %p selects every pod, with or without labels',
    (selector) => {
      expect(labelSelectorMatches(selector, pod)).toBe(true);
      expect(labelSelectorMatches(selector, {})).toBe(true);
      expect(labelSelectorMatches(selector, null)).toBe(true);
    },
  );
});

describe('labelSelectorMatches: matchLabels', () => {
  test('every pair must be present with the same value', () => {
    expect(labelSelectorMatches({ matchLabels: { app: 'web' } }, pod)).toBe(true);
    expect(labelSelectorMatches({ matchLabels: { app: 'web', tier: 'front' } }, pod)).toBe(true);
    expect(labelSelectorMatches({ matchLabels: { app: 'web', tier: 'back' } }, pod)).toBe(false);
    expect(labelSelectorMatches({ matchLabels: { app: 'api' } }, pod)).toBe(false);
  });

  test('a missing label never matches, not even a selector asking for the empty value', () => {
    expect(labelSelectorMatches({ matchLabels: { zone: '' } }, pod)).toBe(false);
    expect(labelSelectorMatches({ matchLabels: { empty: '' } }, pod)).toBe(true);
    expect(labelSelectorMatches({ matchLabels: { app: 'web' } }, {})).toBe(false);
    expect(labelSelectorMatches({ matchLabels: { app: 'web' } }, undefined)).toBe(false);
  });

  test('keys inherited from Object.prototype are not labels', () => {
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'toString', operator: 'Exists' }] }, {})).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'constructor', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });
});

describe('labelSelectorMatches: matchExpressions', () => {
  const expr = (key: string, operator: string, values?: string[]): LabelSelector => ({
    matchExpressions: [{ key, operator, values }],
  });

  test('In: the label is present and its value is one of the values', () => {
    expect(labelSelectorMatches(expr('app', 'In', ['api', 'web']), pod)).toBe(true);
    expect(labelSelectorMatches(expr('app', 'In', ['api']), pod)).toBe(false);
    expect(labelSelectorMatches(expr('zone', 'In', ['a']), pod)).toBe(false);
    expect(labelSelectorMatches(expr('empty', 'In', ['']), pod)).toBe(true);
  });

  test('NotIn: the label is absent, or its value is none of the values', () => {
    expect(labelSelectorMatches(expr('app', 'NotIn', ['api']), pod)).toBe(true);
    expect(labelSelectorMatches(expr('app', 'NotIn', ['api', 'web']), pod)).toBe(false);
    expect(labelSelectorMatches(expr('zone', 'NotIn', ['a']), pod)).toBe(true);
  });

  test('Exists and DoesNotExist look at the key only', () => {
    expect(labelSelectorMatches(expr('app', 'Exists'), pod)).toBe(true);
    expect(labelSelectorMatches(expr('empty', 'Exists'), pod)).toBe(true);
    expect(labelSelectorMatches(expr('zone', 'Exists'), pod)).toBe(false);
    expect(labelSelectorMatches(expr('zone', 'DoesNotExist'), pod)).toBe(true);
    expect(labelSelectorMatches(expr('app', 'DoesNotExist'), pod)).toBe(false);
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'app', operator: 'Exists', values: null }] }, pod)).toBe(true);
  });

  test('all requirements, of both kinds, must hold', () => {
    const selector: LabelSelector = {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['front'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    };
    expect(labelSelectorMatches(selector, pod)).toBe(true);
    expect(labelSelectorMatches(selector, { ...pod, canary: 'true' })).toBe(false);
    expect(labelSelectorMatches(selector, { ...pod, tier: 'back' })).toBe(false);
    expect(labelSelectorMatches(selector, { ...pod, app: 'api' })).toBe(false);
  });
});

describe('invalid selectors', () => {
  test.each([
    [{ key: 'app', operator: 'In', values: [] }, "matchExpressions[0] (key 'app'): operator In needs at least one value"],
    [{ key: 'app', operator: 'NotIn' }, "matchExpressions[0] (key 'app'): operator NotIn needs at least one value"],
    [{ key: 'app', operator: 'Exists', values: ['web'] }, "matchExpressions[0] (key 'app'): operator Exists takes no values"],
    [{ key: 'app', operator: 'DoesNotExist', values: ['web'] }, 'operator DoesNotExist takes no values'],
    [{ key: 'app', operator: 'in', values: ['web'] }, "unknown operator 'in' (expected In, NotIn, Exists or DoesNotExist)"],
  ])('%p is refused with a message naming it and where it is', (requirement, message) => {
    const selector = { matchExpressions: [requirement] };
    expect(labelSelectorError(selector, 'PodDisruptionBudget web')).toContain(`PodDisruptionBudget web: `);
    expect(labelSelectorError(selector)).toContain(message);
    expect(() => labelSelectorMatches(selector, pod, 'PodDisruptionBudget web')).toThrow(RangeError);
    expect(() => labelSelectorMatches(selector, pod, 'PodDisruptionBudget web')).toThrow(message);
  });

  test('a valid selector has no error', () => {
    expect(labelSelectorError({})).toBeNull();
    expect(
      labelSelectorError({
        matchExpressions: [
          { key: 'a', operator: 'In', values: ['x'] },
          { key: 'b', operator: 'Exists' },
        ],
      }),
    ).toBeNull();
  });

  test('the position of the faulty requirement is named', () => {
    const selector = {
      matchExpressions: [
        { key: 'a', operator: 'Exists' },
        { key: 'b', operator: 'Bogus' },
      ],
    };
    expect(labelSelectorError(selector)).toBe(
      "label selector: matchExpressions[1] (key 'b'): unknown operator 'Bogus' (expected In, NotIn, Exists or DoesNotExist)",
    );
  });
});

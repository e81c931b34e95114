import {
  dns1123LabelError,
  dns1123SubdomainError,
  labelValueError,
  qualifiedNameError,
  qualifiedNamePartError,
} from '../../../domain/shared/k8s-names';
import { HEALTH_LABEL, PROBE_ANNOTATION_PREFIX, STATUS_ANNOTATION_PREFIX } from '../../../domain/shared/keys';

describe('qualifiedNamePartError', () => {
  test.each([['a'], ['A1'], ['a-b_c.d'], ['x'.repeat(63)], ['1.2']])('accepts %j', (name) => {
    expect(qualifiedNamePartError(name)).toBeNull();
  });
  test.each([[''], ['x'.repeat(64)], ['-a'], ['a-'], ['_a'], ['a.'], ['a b'], ['a/b'], ['é']])('refuses %j', (name) => {
    expect(qualifiedNamePartError(name)).not.toBeNull();
  });
});

describe('dns1123SubdomainError', () => {
  test.each([['autocrane.io'], ['status.autocrane.io'], ['a'], ['a-b.c-d'], [`${'a'.repeat(63)}.${'b'.repeat(63)}`]])('accepts %j', (p) => {
    expect(dns1123SubdomainError(p)).toBeNull();
  });
  test.each([[''], ['Autocrane.io'], ['-a.io'], ['a-.io'], ['a..io'], ['.a'], ['a.'], ['a_b.io'], [`${'a.'.repeat(127)}a`]])(
    'refuses %j',
    (p) => {
      expect(dns1123SubdomainError(p)).not.toBeNull();
    },
  );
});

describe('qualifiedNameError', () => {
  test.each([['name'], ['example.com/name'], [`${STATUS_ANNOTATION_PREFIX}wd`], [`${PROBE_ANNOTATION_PREFIX}wd`], [HEALTH_LABEL]])(
    'accepts %j',
    (key) => {
      expect(qualifiedNameError(key)).toBeNull();
    },
  );
  test.each<[string, RegExp]>([
    ['', /name part/],
    ['a/b/c', /at most one '\/'/],
    ['/name', /prefix/],
    ['Example.com/name', /prefix/],
    ['example.com/', /name part/],
    [`example.com/${'x'.repeat(64)}`, /at most 63/],
    ['example.com/-x', /name part/],
  ])('refuses %j', (key, why) => {
    expect(qualifiedNameError(key)).toMatch(why);
  });
});

describe('labelValueError', () => {
  test.each([[''], ['error'], ['unknown'], ['Unknown'], ['a.b-c_d'], ['x'.repeat(63)]])('accepts %j', (v) => {
    expect(labelValueError(v)).toBeNull();
  });
  test.each([['x'.repeat(64)], ['-error'], ['error '], ['a/b'], ['a:b']])('refuses %j', (v) => {
    expect(labelValueError(v)).toMatch(/label value/);
  });
});

describe('dns1123LabelError', () => {
  test.each(['default', 'a', 'team-1', 'x'.repeat(63)])('accepts %s', (name) => {
    expect(dns1123LabelError(name)).toBeNull();
  });
  test.each([
    ['', /empty/],
    ['x'.repeat(64), /at most 63/],
    ['Default', /lowercase/],
    ['-team', /beginning and ending/],
    ['team-', /beginning and ending/],
    ['a.b', /lowercase letters, digits and '-'/],
  ])('refuses %j', (name, reason) => {
    expect(dns1123LabelError(name)).toMatch(reason);
  });
});

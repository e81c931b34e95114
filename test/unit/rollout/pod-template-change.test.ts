import {
  applyTemplateChange,
  canonicalJson,
  containerNames,
  fnv1a64,
  selectorMismatches,
  templateHash,
  templatesEqual,
  type PodTemplate,
  type TemplateChangeResult,
} from '../../../domain/rollout/pod-template-change';

const base = (): PodTemplate => ({
  metadata: { labels: { app: 'web' } },
  spec: {
    initContainers: [{ name: 'proxy', image: 'envoy:1', restartPolicy: 'Always' }],
    containers: [
      {
        name: 'web',
        image: 'web:1',
        env: [
          { name: 'A', value: '1' },
          { name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          { name: 'DUP', value: 'x' },
          { name: 'B', value: '$(A)-2' },
          { name: 'DUP', value: 'y' },
        ],
      },
      { name: 'sidecar', image: 'log:1' },
    ],
  },
});

function applied(result: TemplateChangeResult): PodTemplate {
  if (!result.ok) throw new Error(result.error);
  return result.template;
}

type AnyContainer = { name: string; image: string; env?: { name: string; value?: string; valueFrom?: unknown }[] };
const container = (template: PodTemplate, name: string): AnyContainer => {
  const spec = template.spec as { containers: AnyContainer[]; initContainers?: AnyContainer[] };
  return [...spec.containers, ...(spec.initContainers ?? [])].find((c) => c.name === name)!;
};

describe('applyTemplateChange: images', () => {
  it('sets images of containers and init containers by name, leaving the rest alone', () => {
    const before = base();
    const snapshot = JSON.stringify(before);
    const after = applied(applyTemplateChange(before, { images: { web: 'web:2', proxy: 'envoy:2' } }));
    expect(container(after, 'web').image).toBe('web:2');
    expect(container(after, 'proxy').image).toBe('envoy:2');
    expect(container(after, 'sidecar').image).toBe('log:1');
    expect(container(after, 'web').env).toEqual(container(before, 'web').env);
    expect(JSON.stringify(before)).toBe(snapshot); // input untouched
  });

  it('reports no change when the image is already the one asked for', () => {
    const result = applyTemplateChange(base(), { images: { web: 'web:1' } });
    expect(result).toMatchObject({ ok: true, changed: false });
  });

  it.each([
    [{ images: { api: 'x:1' } }, ['api'], "the pod template has no container 'api' (it has 'web', 'sidecar', 'proxy')"],
    [
      { images: { web: 'x:1', zeta: 'x', alpha: 'y' }, env: { alpha: { A: '1' } } },
      ['alpha', 'zeta'],
      "the pod template has no container 'alpha', 'zeta' (it has 'web', 'sidecar', 'proxy')",
    ],
    [{ env: { Web: { A: '1' } } }, ['Web'], "the pod template has no container 'Web' (it has 'web', 'sidecar', 'proxy')"],
  ])('names unknown containers: %j', (change, unknown, error) => {
    expect(applyTemplateChange(base(), change)).toEqual({ ok: false, error, unknownContainers: unknown });
  });

  it('names unknown containers of a template without any', () => {
    expect(applyTemplateChange({ spec: {} }, { images: { web: 'x' } })).toEqual({
      ok: false,
      error: "the pod template has no container 'web' (it has none)",
      unknownContainers: ['web'],
    });
    expect(applyTemplateChange({}, { images: { web: 'x' } }).ok).toBe(false);
  });
});

describe('applyTemplateChange: env', () => {
  const envAfter = (edits: Record<string, string | null>, name = 'web') =>
    container(applied(applyTemplateChange(base(), { env: { [name]: edits } })), name).env;

  it.each<[string, Record<string, string | null>, unknown]>([
    [
      'replaces a value in place',
      { A: '9' },
      [
        { name: 'A', value: '9' },
        { name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'DUP', value: 'x' },
        { name: 'B', value: '$(A)-2' },
        { name: 'DUP', value: 'y' },
      ],
    ],
    [
      'turns a valueFrom into a value',
      { SECRET: 'plain' },
      [
        { name: 'A', value: '1' },
        { name: 'SECRET', value: 'plain' },
        { name: 'DUP', value: 'x' },
        { name: 'B', value: '$(A)-2' },
        { name: 'DUP', value: 'y' },
      ],
    ],
    [
      'keeps the first of duplicates and drops the rest',
      { DUP: 'z' },
      [
        { name: 'A', value: '1' },
        { name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'DUP', value: 'z' },
        { name: 'B', value: '$(A)-2' },
      ],
    ],
    [
      'appends a new variable',
      { NEW: '$(B)' },
      [
        { name: 'A', value: '1' },
        { name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'DUP', value: 'x' },
        { name: 'B', value: '$(A)-2' },
        { name: 'DUP', value: 'y' },
        { name: 'NEW', value: '$(B)' },
      ],
    ],
    [
      'removes every entry of a name',
      { DUP: null, SECRET: null },
      [
        { name: 'A', value: '1' },
        { name: 'B', value: '$(A)-2' },
      ],
    ],
    [
      'ignores removing a variable that is not there',
      { NOPE: null },
      [
        { name: 'A', value: '1' },
        { name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'DUP', value: 'x' },
        { name: 'B', value: '$(A)-2' },
        { name: 'DUP', value: 'y' },
      ],
    ],
    [
      'sets an empty string',
      { A: '' },
      [
        { name: 'A', value: '' },
        { name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'DUP', value: 'x' },
        { name: 'B', value: '$(A)-2' },
        { name: 'DUP', value: 'y' },
      ],
    ],
  ])('%s', (_what, edits, expected) => {
    expect(envAfter(edits)).toEqual(expected);
  });

  it('creates env on a container without one, and removes the key when it empties', () => {
    expect(envAfter({ X: '1' }, 'sidecar')).toEqual([{ name: 'X', value: '1' }]);
    expect(envAfter({ X: null }, 'sidecar')).toBeUndefined();
    const emptied = applied(applyTemplateChange(base(), { env: { web: { A: null, SECRET: null, DUP: null, B: null } } }));
    expect(container(emptied, 'web')).not.toHaveProperty('env');
  });

  it('applies images and env together, env of an init container too', () => {
    const after = applied(applyTemplateChange(base(), { images: { web: 'web:2' }, env: { proxy: { LEVEL: 'debug' } } }));
    expect(container(after, 'web').image).toBe('web:2');
    expect(container(after, 'proxy').env).toEqual([{ name: 'LEVEL', value: 'debug' }]);
  });

  it('says whether anything changed', () => {
    expect(applyTemplateChange(base(), { env: { web: { A: '1' } } })).toMatchObject({ ok: true, changed: false });
    expect(applyTemplateChange(base(), { env: { web: { NOPE: null } } })).toMatchObject({ ok: true, changed: false });
    expect(applyTemplateChange(base(), { env: { web: { A: '2' } } })).toMatchObject({ ok: true, changed: true });
  });
});

describe('applyTemplateChange: whole template', () => {
  it('returns a copy of the given template', () => {
    const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:9' }] } };
    const result = applyTemplateChange(base(), { template });
    expect(result).toEqual({ ok: true, template, changed: true });
    if (result.ok) expect(result.template).not.toBe(template);
    expect(applyTemplateChange(base(), { template: base() as typeof template })).toMatchObject({ changed: false });
  });
});

describe('containerNames and selectorMismatches', () => {
  it('lists containers then init containers', () => {
    expect(containerNames(base())).toEqual(['web', 'sidecar', 'proxy']);
    expect(containerNames({})).toEqual([]);
    expect(containerNames({ spec: { containers: [{ image: 'x' }, 'junk', { name: 'a' }] } })).toEqual(['a']);
  });

  it.each([
    [{ app: 'web' }, []],
    [{}, []],
    [{ app: 'api' }, ['app=api']],
    [{ app: 'web', tier: 'front' }, ['tier=front']],
  ])('selector %j → %j', (selector, expected) => {
    expect(selectorMismatches(base(), selector)).toEqual(expected);
  });

  it('treats a template without labels as matching nothing', () => {
    expect(selectorMismatches({ spec: {} }, { app: 'web' })).toEqual(['app=web']);
  });
});

describe('templatesEqual, canonicalJson, templateHash', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['key order', { a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }, true],
    ['empty values', { a: 1, b: null, c: {}, d: [], e: { f: {} } }, { a: 1 }, true],
    [
      'creationTimestamp null',
      { metadata: { creationTimestamp: null, labels: { app: 'x' } } },
      { metadata: { labels: { app: 'x' } } },
      true,
    ],
    ['array order matters', { a: [1, 2] }, { a: [2, 1] }, false],
    ['values', { a: '1' }, { a: 1 }, false],
    ['empty string is a value', { a: '' }, {}, false],
    ['zero and false are values', { a: 0, b: false }, {}, false],
    ['nested difference', base(), applied(applyTemplateChange(base(), { images: { proxy: 'envoy:2' } })), false],
  ])('%s', (_what, a, b, equal) => {
    expect(templatesEqual(a, b)).toBe(equal);
    expect(templateHash(a) === templateHash(b)).toBe(equal);
  });

  it('writes canonical JSON', () => {
    expect(canonicalJson({ b: [{ y: 1, x: null }], a: 'é' })).toBe('{"a":"é","b":[{"y":1}]}');
    expect(canonicalJson(undefined)).toBe('null');
  });

  it.each([
    ['', 'cbf29ce484222325'],
    ['a', 'af63dc4c8601ec8c'],
    ['foobar', '85944171f73967e8'],
  ])('fnv1a64(%p) matches the reference vectors', (text, hash) => {
    expect(fnv1a64(text)).toBe(hash);
  });

  it('hashes UTF-8 bytes: multi-byte characters and lone surrogates as TextEncoder encodes them', () => {
    for (const text of ['é', '€', '😀', 'a\uD800b']) {
      const viaBytes = (() => {
        let hash = 0xcbf29ce484222325n;
        for (const byte of new TextEncoder().encode(text)) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
        return hash.toString(16).padStart(16, '0');
      })();
      expect(fnv1a64(text)).toBe(viaBytes);
    }
  });

  it('gives 10 lowercase hex digits, stable across runs', () => {
    expect(templateHash(base())).toMatch(/^[0-9a-f]{10}$/);
    expect(templateHash(base())).toBe(templateHash(JSON.parse(JSON.stringify(base())) as unknown));
    expect(templateHash({ spec: { containers: [{ name: 'web', image: 'web:1' }] } })).toBe(
      fnv1a64('{"spec":{"containers":[{"image":"web:1","name":"web"}]}}').slice(0, 10),
    );
  });
});

import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import {
  envVarNameError,
  formatIssuePath,
  imageReferenceError,
  parseRolloutSpec,
  requestIdError,
  RolloutSpecSchema,
  type RolloutSpec,
  type SpecProblem,
} from '../../../domain/rollout/rollout-spec';
import { formatShare, parseShare } from '../../../domain/rollout/rollout-shares';
import { summarizeSpec, targetKey } from '../../../domain/rollout/rollout-summary';

const minimal = () => ({
  target: { namespace: 'shop', kind: 'Deployment', name: 'web' },
  change: { images: { web: 'registry.local:5000/shop/web:2.0' } },
  stages: [{ replicas: '10%', bakeSeconds: 60 }],
});

function parsed(input: unknown): RolloutSpec {
  const result = parseRolloutSpec(input);
  if (!result.ok) throw new Error(`expected a valid spec, got ${JSON.stringify(result.problems)}`);
  return result.spec;
}

function problems(input: unknown): SpecProblem[] {
  const result = parseRolloutSpec(input);
  if (result.ok) throw new Error('expected problems, the spec was accepted');
  return result.problems;
}

/** Sets `value` at a dotted path of a fresh minimal spec (`undefined` deletes). */
function withField(path: string, value: unknown): Record<string, unknown> {
  const spec = minimal() as unknown as Record<string, unknown>;
  const keys = path.split('.');
  let node = spec;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return spec;
}

function expectOneProblem(input: unknown, path: string, message: string): void {
  const found = problems(input);
  expect(found).toHaveLength(1);
  expect(found[0]!.path).toBe(path);
  expect(found[0]!.message).toContain(message);
}

describe('parseRolloutSpec: defaults', () => {
  it('fills gate, rollback, supersede and approval defaults', () => {
    const spec = parsed({ ...minimal(), stages: [{ replicas: 1, bakeSeconds: 0, approval: { timeoutSeconds: 30 } }] });
    expect(spec.gate).toEqual({ maxErrorPods: 0, minReadySeconds: 0, noData: 'wait', progressDeadlineSeconds: 600 });
    expect(spec.rollback).toBe('automatic');
    expect(spec.supersede).toBe(false);
    expect(spec.requestId).toBeUndefined();
    expect(spec.stages[0]!.approval).toEqual({ timeoutSeconds: 30, onTimeout: 'rollback' });
  });

  it('keeps every field given', () => {
    const input = {
      target: { namespace: 'a-b', kind: 'StatefulSet', name: 'db.primary' },
      change: { images: { db: 'postgres:16' }, env: { db: { MODE: 'fast', OLD: null } } },
      stages: [
        { replicas: 1, bakeSeconds: 0 },
        { replicas: '50%', bakeSeconds: 300, approval: { timeoutSeconds: 3600, onTimeout: 'proceed' } },
        { replicas: '100%', bakeSeconds: 86400 },
      ],
      gate: { maxErrorPods: 2, minReadySeconds: 10, watchdogs: ['http', 'latency'], noData: 'fail', progressDeadlineSeconds: 120 },
      rollback: 'freeze',
      requestId: '3f2c-AB_1.x',
      supersede: true,
    };
    expect(parsed(input)).toEqual(input);
  });

  it('accepts a whole template, keeping fields the schema does not know', () => {
    const template = {
      metadata: { labels: { app: 'web' }, annotations: { a: 'b' } },
      spec: {
        containers: [{ name: 'web', image: 'web:2', ports: [{ containerPort: 80 }] }],
        initContainers: [{ name: 'init', image: 'busybox' }],
        nodeSelector: { x: 'y' },
      },
    };
    expect(parsed({ ...minimal(), change: { template } }).change.template).toEqual(template);
  });
});

describe('parseRolloutSpec: stage shares', () => {
  it.each([['1%'], ['9%'], ['10%'], ['99%'], ['100%'], [1], [7], [1000]])('accepts %p', (replicas) => {
    expect(parsed({ ...minimal(), stages: [{ replicas, bakeSeconds: 0 }] }).stages[0]!.replicas).toBe(replicas);
  });

  it.each([['0%'], ['101%'], ['05%'], ['10.5%'], ['10'], ['%'], [' 10%'], ['10 %'], [0], [-1], [1.5], [null], [true], [{}]])(
    'refuses %p naming stages[0].replicas',
    (replicas) => {
      expect(problems({ ...minimal(), stages: [{ replicas, bakeSeconds: 0 }] })).toEqual([
        { path: 'stages[0].replicas', message: 'expected a percentage from "1%" to "100%" or a whole number of replicas of at least 1' },
      ]);
    },
  );

  it('reports a missing share as required', () => {
    expect(problems({ ...minimal(), stages: [{ bakeSeconds: 0 }] })).toEqual([{ path: 'stages[0].replicas', message: 'required' }]);
  });

  it.each([
    [['10%', '50%', '100%'], []],
    [['50%', '50%'], []],
    [[1, 2, 2, 5], []],
    [['10%', 3, '50%', 5], []],
    // Mixed units cannot be compared without the replica count: resolved by rollout-shares.
    [[5, '10%'], []],
    [['50%', '10%'], [{ path: 'stages[1].replicas', message: "10% is less than stages[0]'s 50%: shares must not decrease" }]],
    [[3, '10%', 2], [{ path: 'stages[2].replicas', message: "2 replicas is less than stages[0]'s 3 replicas: shares must not decrease" }]],
    [
      ['100%', '20%', 2, 1],
      [
        { path: 'stages[1].replicas', message: "20% is less than stages[0]'s 100%: shares must not decrease" },
        { path: 'stages[3].replicas', message: "1 replica is less than stages[2]'s 2 replicas: shares must not decrease" },
      ],
    ],
  ])('order %p', (shares, expected) => {
    const input = { ...minimal(), stages: shares.map((replicas) => ({ replicas, bakeSeconds: 0 })) };
    const result = parseRolloutSpec(input);
    expect(result.ok ? [] : result.problems).toEqual(expected);
  });

  it('needs 1 to 10 stages', () => {
    expect(problems({ ...minimal(), stages: [] })).toEqual([{ path: 'stages', message: 'must list at least one stage' }]);
    const eleven = Array.from({ length: 11 }, () => ({ replicas: '10%', bakeSeconds: 0 }));
    expect(problems({ ...minimal(), stages: eleven })).toEqual([{ path: 'stages', message: 'must list at most 10 stages' }]);
    const ten = eleven.slice(1);
    expect(parsed({ ...minimal(), stages: ten }).stages).toHaveLength(10);
  });

  it.each([
    [0, true],
    [86400, true],
    [86401, false],
    [-1, false],
    [1.5, false],
    ['60', false],
  ])('bakeSeconds %p valid=%p', (bakeSeconds, valid) => {
    const result = parseRolloutSpec({ ...minimal(), stages: [{ replicas: 1, bakeSeconds }] });
    expect(result.ok).toBe(valid);
    if (!result.ok)
      expect(result.problems).toEqual([{ path: 'stages[0].bakeSeconds', message: 'expected seconds, a whole number from 0 to 86400' }]);
  });

  it('checks approvals', () => {
    const stage = (approval: unknown) => ({
      ...minimal(),
      stages: [
        { replicas: 1, bakeSeconds: 0 },
        { replicas: 2, bakeSeconds: 0, approval },
      ],
    });
    expect(problems(stage({ timeoutSeconds: 0 }))).toEqual([
      { path: 'stages[1].approval.timeoutSeconds', message: 'expected seconds, a whole number from 1 to 604800' },
    ]);
    expect(problems(stage({ onTimeout: 'proceed' }))).toEqual([{ path: 'stages[1].approval.timeoutSeconds', message: 'required' }]);
    expect(problems(stage({ timeoutSeconds: 5, onTimeout: 'continue' }))).toEqual([
      { path: 'stages[1].approval.onTimeout', message: 'expected one of proceed, rollback, got "continue"' },
    ]);
    expect(problems(stage({ timeoutSeconds: 5, extra: 1 }))).toEqual([{ path: 'stages[1].approval.extra', message: 'unknown field' }]);
    expect(problems(stage(true))).toEqual([{ path: 'stages[1].approval', message: 'expected a JSON object, got boolean' }]);
  });
});

describe('parseRolloutSpec: target', () => {
  it.each([
    ['target.namespace', 'Shop', 'target.namespace', "'Shop' is not a namespace name"],
    ['target.namespace', 'a.b', 'target.namespace', "'a.b' is not a namespace name"],
    ['target.namespace', '', 'target.namespace', "'' is not a namespace name: must not be empty"],
    ['target.name', 'Web', 'target.name', "'Web' is not a workload name"],
    ['target.name', 'x'.repeat(254), 'target.name', 'must be at most 253 characters'],
    ['target.kind', 'DaemonSet', 'target.kind', 'expected one of Deployment, StatefulSet, got "DaemonSet"'],
    ['target.kind', 'deployment', 'target.kind', 'expected one of Deployment, StatefulSet, got "deployment"'],
    ['target.kind', undefined, 'target.kind', 'required'],
    ['target.name', 5, 'target.name', 'expected a string'],
    ['target', 'shop/web', 'target', 'expected a JSON object, got string'],
  ])('%s = %p', (field, value, path, message) => {
    expectOneProblem(withField(field, value), path, message);
  });

  it('accepts a dotted workload name', () => {
    expect(parsed(withField('target.name', 'web.v2')).target.name).toBe('web.v2');
  });
});

describe('parseRolloutSpec: change', () => {
  it.each([
    [{}, 'change', 'must give images and/or env, or a whole template'],
    [{ images: {} }, 'change.images', 'must name at least one container'],
    [{ env: {} }, 'change.env', 'must name at least one container'],
    [{ env: { web: {} } }, 'change.env.web', 'must name at least one variable'],
    [{ images: { Web: 'x:1' } }, 'change.images.Web', "'Web' is not a container name"],
    [{ images: { web: 'Shop/Web:2' } }, 'change.images.web', "'Shop/Web:2' is not an image reference"],
    [{ images: { web: 'web:' } }, 'change.images.web', "'web:' is not an image reference"],
    [{ images: { web: '' } }, 'change.images.web', 'image must not be empty'],
    [{ images: { web: 2 } }, 'change.images.web', 'expected a string'],
    [{ env: { web: { '1X': 'a' } } }, 'change.env.web["1X"]', "'1X' is not an environment variable name"],
    [{ env: { web: { 'A=B': 'a' } } }, 'change.env.web["A=B"]', "'A=B' is not an environment variable name"],
    [{ env: { web: { A: 1 } } }, 'change.env.web.A', 'expected a string value, or null to remove the variable'],
    [
      { images: { web: 'x:1' }, template: { spec: { containers: [{ name: 'web', image: 'x:1' }] } } },
      'change.template',
      'give either template, or images and/or env, not both',
    ],
    [{ template: { spec: { containers: [] } } }, 'change.template.spec.containers', 'must list at least one container'],
    [{ template: {} }, 'change.template.spec', 'required'],
    [{ template: { spec: { containers: [{ name: 'web' }] } } }, 'change.template.spec.containers[0].image', 'required'],
    [
      { template: { spec: { containers: [{ name: 'web', image: 'a' }], initContainers: [{ name: 'web', image: 'b' }] } } },
      'change.template.spec.initContainers[0].name',
      "container name 'web' is used twice in the template",
    ],
    [{ image: { web: 'x' } }, 'change.image', 'unknown field'],
  ])('%j → %s', (change, path, message) => {
    const found = problems({ ...minimal(), change });
    expect(found.map((p) => p.path)).toContain(path);
    expect(found.find((p) => p.path === path)!.message).toContain(message);
  });

  it('refuses more than 64 containers and 256 variables', () => {
    const images = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`c${i}`, 'x:1']));
    expect(problems({ ...minimal(), change: { images } })).toEqual([
      { path: 'change.images', message: 'must name at most 64 containers (got 65)' },
    ]);
    const vars = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`V${i}`, 'x']));
    expect(problems({ ...minimal(), change: { env: { web: vars } } })).toEqual([
      { path: 'change.env.web', message: 'must name at most 256 variables (got 257)' },
    ]);
  });

  it('lets env values be empty strings and null', () => {
    expect(parsed({ ...minimal(), change: { env: { web: { EMPTY: '', GONE: null } } } }).change.env).toEqual({
      web: { EMPTY: '', GONE: null },
    });
  });
});

describe('parseRolloutSpec: gate, rollback, requestId, supersede', () => {
  it.each([
    ['gate.maxErrorPods', -1, 'gate.maxErrorPods', 'expected a pod count, a whole number from 0 to 10000'],
    ['gate.maxErrorPods', 0.5, 'gate.maxErrorPods', 'expected a pod count'],
    ['gate.minReadySeconds', 86401, 'gate.minReadySeconds', 'expected seconds, a whole number from 0 to 86400'],
    ['gate.progressDeadlineSeconds', 0, 'gate.progressDeadlineSeconds', 'from 1 to 86400'],
    ['gate.noData', 'skip', 'gate.noData', 'expected one of wait, pass, fail, got "skip"'],
    ['gate.watchdogs', [], 'gate.watchdogs', 'must name at least one watchdog'],
    ['gate.watchdogs', ['http', 'bad name'], 'gate.watchdogs[1]', "watchdog name 'bad name'"],
    ['gate.watchdogs', ['http', 'http'], 'gate.watchdogs[1]', "watchdog 'http' is named twice"],
    ['gate.watchdogs', 'http', 'gate.watchdogs', 'expected a JSON array'],
    ['gate.extra', 1, 'gate.extra', 'unknown field'],
    ['rollback', 'manual', 'rollback', 'expected one of automatic, freeze, got "manual"'],
    ['requestId', '', 'requestId', 'must be 1 to 64 characters (got 0)'],
    ['requestId', 'x'.repeat(65), 'requestId', 'must be 1 to 64 characters (got 65)'],
    ['requestId', '-abc', 'requestId', "must be letters, digits, '.', '_' or '-'"],
    ['requestId', 'a b', 'requestId', 'must be letters, digits'],
    ['supersede', 'yes', 'supersede', 'expected true or false'],
    ['extra', 1, 'extra', 'unknown field'],
  ])('%s = %p', (field, value, path, message) => {
    expectOneProblem(withField(field, value), path, message);
  });

  it('accepts gate values at their bounds', () => {
    const gate = parsed({
      ...minimal(),
      gate: {
        maxErrorPods: 10000,
        minReadySeconds: 86400,
        progressDeadlineSeconds: 1,
        watchdogs: Array.from({ length: 32 }, (_, i) => `w${i}`),
      },
    }).gate;
    expect(gate.maxErrorPods).toBe(10000);
    expect(gate.watchdogs).toHaveLength(32);
    expect(problems({ ...minimal(), gate: { watchdogs: Array.from({ length: 33 }, (_, i) => `w${i}`) } })).toEqual([
      { path: 'gate.watchdogs', message: 'must name at most 32 watchdogs' },
    ]);
  });

  it('reports every problem at once, in input order', () => {
    const found = problems({
      target: { namespace: 'X', kind: 'Pod', name: 'web' },
      change: { images: { web: 'UPPER' } },
      stages: [{ replicas: '0%', bakeSeconds: -1 }],
      rollback: 'nope',
    });
    expect(found.map((p) => p.path)).toEqual([
      'target.namespace',
      'target.kind',
      'change.images.web',
      'stages[0].replicas',
      'stages[0].bakeSeconds',
      'rollback',
    ]);
  });

  it.each([[null], [[]], ['spec'], [42], [undefined]])('refuses a body that is not an object: %p', (input) => {
    const found = problems(input);
    expect(found).toHaveLength(1);
    expect(found[0]!.path).toBe('');
  });
});

describe('field checks', () => {
  it.each([
    ['nginx', true],
    ['nginx:1.25', true],
    ['nginx:1.25-alpine', true],
    ['library/nginx:latest', true],
    ['registry.local:5000/shop/web:2.0', true],
    ['localhost:5000/web', true],
    ['[::1]:5000/web:1', true],
    ['ghcr.io/org/my_app__x/web-app:v1.2.3', true],
    [`web@sha256:${'a'.repeat(64)}`, true],
    [`web:1@sha256:${'a'.repeat(64)}`, true],
    ['Nginx', false],
    ['nginx:', false],
    ['nginx:-1', false],
    [':1', false],
    ['web@sha256:abc', false],
    ['web app', false],
    ['web//app', false],
    [`web:${'t'.repeat(129)}`, false],
    ['x'.repeat(1025), false],
  ])('imageReferenceError(%p) valid=%p', (image, valid) => {
    expect(imageReferenceError(image) === null).toBe(valid);
  });

  it.each([
    ['PATH', true],
    ['_x', true],
    ['a.b-c', true],
    ['-x', true],
    ['9X', false],
    ['A B', false],
    ['A=B', false],
    ['', false],
  ])('envVarNameError(%p) valid=%p', (name, valid) => {
    expect(envVarNameError(name) === null).toBe(valid);
  });

  it.each([
    ['a', true],
    ['0b1c-uuid-4', true],
    ['x'.repeat(64), true],
    ['_a', false],
    ['a/b', false],
    ['a:b', false],
  ])('requestIdError(%p) valid=%p', (id, valid) => {
    expect(requestIdError(id) === null).toBe(valid);
  });

  it.each([
    [['stages', 1, 'replicas'], 'stages[1].replicas'],
    [['change', 'env', 'web', 'A.B'], 'change.env.web["A.B"]'],
    [['change', 'images', 'my-app'], 'change.images.my-app'],
    [[], ''],
    [[0], '[0]'],
  ])('formatIssuePath(%j) = %s', (path, text) => {
    expect(formatIssuePath(path)).toBe(text);
  });

  it('parses and formats shares', () => {
    expect(parseShare('25%')).toEqual({ unit: 'percent', value: 25 });
    expect(parseShare(3)).toEqual({ unit: 'count', value: 3 });
    expect(formatShare('25%')).toBe('25%');
    expect(formatShare(1)).toBe('1 replica');
    expect(formatShare(3)).toBe('3 replicas');
  });
});

describe('summarizeSpec', () => {
  it('summarizes images, env names (never values), stages and policy', () => {
    const spec = parsed({
      ...minimal(),
      change: { images: { web: 'web:2' }, env: { web: { TOKEN: 's3cret', OLD: null } } },
      stages: [
        { replicas: 1, bakeSeconds: 0 },
        { replicas: '50%', bakeSeconds: 60, approval: { timeoutSeconds: 600 } },
      ],
      requestId: 'r1',
    });
    const summary = summarizeSpec(spec);
    expect(summary).toEqual({
      text: 'Deployment shop/web: images web=web:2; env web.TOKEN, web.OLD removed; 1 replica → 50%, automatic rollback',
      target: 'shop/Deployment/web',
      change: 'images web=web:2; env web.TOKEN, web.OLD removed',
      stages: ['1 replica', '50%, bake 60s, approval (rollback after 600s)'],
      rollback: 'automatic',
      requestId: 'r1',
    });
    expect(JSON.stringify(summary)).not.toContain('s3cret');
  });

  it('summarizes a whole template by its images and bounds the change text', () => {
    const template = { spec: { containers: [{ name: 'web', image: 'web:3' }], initContainers: [{ name: 'init', image: 'busybox:1' }] } };
    expect(summarizeSpec(parsed({ ...minimal(), change: { template } })).change).toBe('whole template (web=web:3, init=busybox:1)');
    const images = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`container-${i}`, 'registry.example.com/team/image:1.0.0']));
    const summary = summarizeSpec(parsed({ ...minimal(), change: { images } }));
    expect(summary.change.length).toBe(200);
    expect(summary.change.endsWith('…')).toBe(true);
    expect(summary).not.toHaveProperty('requestId');
  });

  it('targetKey matches the AutoCraneTarget form', () => {
    expect(targetKey({ namespace: 'ns', kind: 'StatefulSet', name: 'db' })).toBe('ns/StatefulSet/db');
  });
});

describe('OpenAPI', () => {
  it('generates a document from the validation schema itself', () => {
    const registry = new OpenAPIRegistry();
    registry.registerPath({
      method: 'post',
      path: '/v1/rollouts',
      request: { body: { content: { 'application/json': { schema: RolloutSpecSchema } } } },
      responses: { 202: { description: 'accepted' } },
    });
    const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: { title: 'AutoCrane', version: '1' },
    });
    const schemas = document.components?.schemas as Record<
      string,
      { properties?: Record<string, Record<string, unknown>>; required?: string[] }
    >;
    expect(Object.keys(schemas).sort()).toEqual([
      'PodTemplate',
      'RolloutApproval',
      'RolloutChange',
      'RolloutGate',
      'RolloutSpec',
      'RolloutStage',
      'RolloutTarget',
    ]);
    expect(schemas.RolloutSpec!.required).toEqual(['target', 'change', 'stages']);
    expect(schemas.RolloutTarget!.properties!.kind).toMatchObject({ enum: ['Deployment', 'StatefulSet'] });
    expect(schemas.RolloutGate!.properties!.noData).toMatchObject({ enum: ['wait', 'pass', 'fail'], default: 'wait' });
    expect(schemas.RolloutStage!.properties!.bakeSeconds).toMatchObject({ type: 'integer', minimum: 0, maximum: 86400 });
    expect(JSON.stringify(document.paths?.['/v1/rollouts'])).toContain('#/components/schemas/RolloutSpec');
  });
});

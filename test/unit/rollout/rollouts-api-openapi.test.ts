import request from 'supertest';
import { setup } from '../../support/rollouts-api-setup';

describe('GET /openapi.json', () => {
  type Doc = {
    openapi: string;
    paths: Record<
      string,
      Record<string, { requestBody?: unknown; responses: Record<string, unknown>; parameters?: { name: string; in: string }[] }>
    >;
    components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
  };

  it('is served without authentication, generated from the validation schemas', async () => {
    const { app } = setup();
    const res = await request(app).get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body as Doc;
    expect(doc.openapi).toBe('3.1.0');
    expect(
      Object.keys(doc.paths)
        .filter((p) => p.startsWith('/v1/rollouts'))
        .sort(),
    ).toEqual([
      '/v1/rollouts',
      '/v1/rollouts/{id}',
      '/v1/rollouts/{id}/abort',
      '/v1/rollouts/{id}/approve',
      '/v1/rollouts/{id}/pause',
      '/v1/rollouts/{id}/promote',
      '/v1/rollouts/{id}/resume',
    ]);
    expect(Object.keys(doc.paths['/v1/rollouts']!).sort()).toEqual(['get', 'post']);
    expect(JSON.stringify(doc.paths['/v1/rollouts']!.post!.requestBody)).toContain('#/components/schemas/RolloutSpec');
    expect(Object.keys(doc.paths['/v1/rollouts']!.post!.responses).sort()).toEqual([
      '200',
      '202',
      '400',
      '401',
      '403',
      '409',
      '413',
      '415',
      '422',
      '503',
    ]);
    expect(doc.paths['/v1/rollouts']!.get!.parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(['query:namespace', 'query:state']);
    expect(doc.paths['/v1/rollouts/{id}']!.get!.parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(['path:id']);
    expect(JSON.stringify(doc.paths['/v1/rollouts/{id}/pause']!.post!.requestBody)).toContain('#/components/schemas/RolloutControlRequest');
    expect(JSON.stringify(doc.paths['/v1/rollouts']!.post!.responses['409'])).toContain('#/components/schemas/RolloutConflict');
    expect(JSON.stringify(doc.paths['/v1/rollouts/{id}']!.get!.responses['404'])).toContain('#/components/schemas/Error');
  });

  it('describes the spec as the validator reads it: fields, requirements, limits and defaults', async () => {
    const { app } = setup();
    const { components } = (await request(app).get('/openapi.json')).body as Doc;
    const { schemas } = components;
    expect(schemas.RolloutSpec!.required).toEqual(['target', 'change', 'stages']);
    expect(Object.keys(schemas.RolloutSpec!.properties!)).toEqual([
      'target',
      'change',
      'stages',
      'gate',
      'rollback',
      'requestId',
      'supersede',
    ]);
    expect(schemas.RolloutStage!.properties!.bakeSeconds).toMatchObject({ type: 'integer', minimum: 0, maximum: 86400 });
    expect(schemas.RolloutGate!.properties!.noData).toMatchObject({ enum: ['wait', 'pass', 'fail'], default: 'wait' });
    expect(schemas.RolloutControlRequest!.properties!.reason).toMatchObject({ type: 'string', maxLength: 256 });
    expect(schemas.RolloutStatus!.properties).toHaveProperty('decisions');
    expect(schemas.RolloutState).toMatchObject({ enum: expect.arrayContaining(['Baking', 'RolledBack']) });
  });

  it('follows a change of the spec schema', async () => {
    jest.resetModules();
    jest.doMock('../../../domain/rollout/rollout-spec', () => {
      const actual = jest.requireActual<typeof import('../../../domain/rollout/rollout-spec')>('../../../domain/rollout/rollout-spec');
      const { z } = jest.requireActual<typeof import('zod')>('zod');
      return {
        ...actual,
        RolloutSpecSchema: actual.RolloutSpecSchema.extend({ dryRun: z.boolean().optional() }).meta({ id: 'RolloutSpec' }),
      };
    });
    const { openApiDocument } = jest.requireActual<typeof import('../../../api/openapi')>('../../../api/openapi');
    const changed = openApiDocument() as unknown as Doc;
    jest.dontMock('../../../domain/rollout/rollout-spec');
    expect(changed.components.schemas.RolloutSpec!.properties).toHaveProperty('dryRun');
    const { app } = setup();
    const { components } = (await request(app).get('/openapi.json')).body as Doc;
    expect(components.schemas.RolloutSpec!.properties).not.toHaveProperty('dryRun');
    // Re-requiring the API module graph after resetModules is compiled afresh: seconds on a busy machine.
  }, 60_000);
});

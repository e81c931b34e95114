import type { LiveWorkload } from '../../../api/rollout/rollout-workloads';
import { liveChangeProblems } from '../../../domain/rollout/rollout-request';
import { parseRolloutSpec, type RolloutSpecInput } from '../../../domain/rollout/rollout-spec';
import { EMBEDDED, startRollout, spec, setup } from '../../support/rollouts-api-setup';

describe('POST /v1/rollouts', () => {
  describe('a change checked against the live workload before anything starts', () => {
    const template = (labels: Record<string, string>) => ({
      metadata: { labels },
      spec: { containers: [{ name: 'web', image: 'shop/web:3' }] },
    });

    it.each<[string, Partial<RolloutSpecInput>, { field: string; message: string }[]]>([
      [
        'an unknown container in change.images',
        { change: { images: { nope: 'shop/nope:2' } } },
        [{ field: 'change.images.nope', message: "Deployment shop/web: the pod template has no container 'nope' (it has 'web', 'proxy')" }],
      ],
      [
        'an unknown container in change.env',
        { change: { images: { web: 'shop/web:2' }, env: { sidecar: { MODE: 'b' } } } },
        [
          {
            field: 'change.env.sidecar',
            message: "Deployment shop/web: the pod template has no container 'sidecar' (it has 'web', 'proxy')",
          },
        ],
      ],
      [
        'the same unknown container in both',
        { change: { images: { nope: 'shop/nope:2' }, env: { nope: { A: '1' } } } },
        [
          { field: 'change.images.nope', message: expect.stringContaining("no container 'nope'") as string },
          { field: 'change.env.nope', message: expect.stringContaining("no container 'nope'") as string },
        ],
      ],
      [
        'a change that alters nothing',
        { change: { images: { web: 'shop/web:1' } } },
        [{ field: 'change', message: 'the change leaves the pod template of Deployment shop/web as it is' }],
      ],
      [
        "a whole template without the selector's labels",
        { change: { template: template({ app: 'other' }) } },
        [
          {
            field: 'change.template.metadata.labels',
            message: "the new template lacks the selector's labels app=web: its pods would not belong to Deployment shop/web",
          },
        ],
      ],
    ])('422 for %s, naming the field; nothing starts', async (_what, over, details) => {
      const { app, started } = setup();
      const res = await startRollout(app, EMBEDDED, spec(over));
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ error: 'the change cannot be rolled out to Deployment shop/web as it is now', details });
      expect(started).toEqual([]);
    });

    it('202 for a whole template carrying the selector labels, and for an env change of the sidecar', async () => {
      const { app, started } = setup();
      expect((await startRollout(app, EMBEDDED, spec({ change: { template: template({ app: 'web', tier: 'front' }) } }))).status).toBe(202);
      const db = { namespace: 'shop', kind: 'StatefulSet' as const, name: 'db' };
      expect((await startRollout(app, EMBEDDED, spec({ target: db, change: { env: { proxy: { MODE: 'b' } } } }))).status).toBe(202);
      expect(started).toHaveLength(2);
    });

    it('is not made while a rollout holds the workload: the start answers 409, or supersedes', async () => {
      const { app, live, started } = setup();
      await startRollout(app, EMBEDDED, spec());
      // The running rollout's annotation is on the workload (a StatefulSet's template, say, already written).
      live.get('shop/Deployment/web')!.heldBy = 'aaaaaaaaaaaa';
      const noop = spec({ change: { images: { web: 'shop/web:1' } } });
      expect((await startRollout(app, EMBEDDED, noop)).status).toBe(409);
      expect((await startRollout(app, EMBEDDED, { ...noop, supersede: true })).status).toBe(202);
      expect(started).toHaveLength(2);
    });

    it('a repeated start answers 200 existing even once the workload runs the new template', async () => {
      const { app, live, rollouts } = setup();
      const first = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-90' }));
      Object.assign(rollouts[0]!, { running: false, state: 'Succeeded', executionStatus: 'COMPLETED' });
      live.set('shop/Deployment/web', {
        ...live.get('shop/Deployment/web')!,
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              { name: 'web', image: 'shop/web:2' },
              { name: 'proxy', image: 'shop/proxy:1' },
            ],
          },
        },
      });
      const again = await startRollout(app, EMBEDDED, spec({ requestId: 'ci-90' }));
      expect(again.status).toBe(200);
      expect(again.body.rolloutId).toBe(first.body.rolloutId);
      // Without the request ID, the same change now alters nothing.
      expect((await startRollout(app, EMBEDDED, spec())).status).toBe(422);
    });

    it('liveChangeProblems: none for a valid change; a selector label the live template lacks too', () => {
      const parsedSpec = parseRolloutSpec(spec());
      if (!parsedSpec.ok) throw new Error('spec');
      const liveWeb: LiveWorkload = {
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'shop/web:1' }] } },
        matchLabels: { app: 'web' },
        heldBy: null,
      };
      expect(liveChangeProblems(liveWeb, parsedSpec.spec)).toEqual([]);
      expect(liveChangeProblems({ ...liveWeb, matchLabels: { app: 'web', 'app.kubernetes.io/part': 'shop' } }, parsedSpec.spec)).toEqual([
        {
          field: 'change',
          message:
            "the new template lacks the selector's labels app.kubernetes.io/part=shop: its pods would not belong to Deployment shop/web",
        },
      ]);
    });
  });
});

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createDataRolloutActivities, DEFAULT_DATA_ROLLOUT_OPTIONS } from '../../../activities/data/data-rollout';
import type { AdvanceDataStageInput } from '../../../domain/data/data-rollout-types';
import { dataRequestKey, dataStatusKey } from '../../../domain/data/data-contract';
import { DATA_SOURCES_ANNOTATION } from '../../../domain/shared/keys';

// advanceDataStage against a stubbed apiserver (plain HTTP): consumers acknowledge the request
// they are given at once, except "big", whose request is refused 422 as too long.

const SOURCE = 'catalog';
const release = (id: string, digit: string) => ({
  version: { id, sha256: digit.repeat(64), size: 1, createdAt: '2026-12-01T00:00:00Z', origin: { kind: 'http' as const, ref: 'etag' } },
  archiveUrl: `http://repo/${id}.tar.gz`,
});
const LKG = release('20240101T000000Z-111111111111', '1');
const NEW = release('20240102T000000Z-222222222222', '2');
const TOO_LONG = {
  kind: 'Status',
  code: 422,
  message: 'Pod "big" is invalid: metadata.annotations: Too long: must have at most 262144 bytes',
};

type Pod = {
  metadata: { name: string; uid: string; namespace: string; annotations: Record<string, string> };
  status: { phase: string; conditions: object[] };
};

function fakeApiserver(names: string[]) {
  const pods = new Map<string, Pod>(
    names.map((name) => [
      name,
      {
        metadata: { name, uid: `uid-${name}`, namespace: 'shop', annotations: { [DATA_SOURCES_ANNOTATION]: SOURCE } },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      },
    ]),
  );
  const body = async (req: IncomingMessage) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return text ? (JSON.parse(text) as { metadata?: { annotations?: Record<string, string> } }) : {};
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const answer = (code: number, value: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    const path = req.url!.split('?')[0]!;
    if (req.method === 'GET' && path === '/api/v1/namespaces/shop/pods') return answer(200, { items: [...pods.values()] });
    const patched = /^\/api\/v1\/namespaces\/shop\/pods\/([^/]+)$/.exec(path);
    if (req.method === 'PATCH' && patched) {
      const pod = pods.get(decodeURIComponent(patched[1]!))!;
      const annotations = (await body(req)).metadata?.annotations ?? {};
      if (pod.metadata.name === 'big') return answer(422, TOO_LONG);
      Object.assign(pod.metadata.annotations, annotations);
      // The pod's data deployer acknowledges at once.
      const asked = JSON.parse(annotations[dataRequestKey(SOURCE)] ?? '{}') as { version?: string; sha256?: string };
      pod.metadata.annotations[dataStatusKey(SOURCE)] = JSON.stringify({
        version: asked.version,
        sha256: asked.sha256,
        activatedAt: new Date().toISOString(),
      });
      return answer(200, pod);
    }
    if (req.method === 'POST' && path.includes('/events')) return answer(201, await body(req));
    return answer(404, { kind: 'Status', code: 404, message: `not stubbed: ${req.method} ${path}` });
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  return { server, pods };
}

async function advance(names: string[], maxErrorPods: number) {
  const { server } = fakeApiserver(names);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'stub', skipTLSVerify: true, server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }],
      users: [{ name: 'stub' }],
      contexts: [{ name: 'stub', cluster: 'stub', user: 'stub' }],
      currentContext: 'stub',
    });
    const activities = createDataRolloutActivities(kc, { ...DEFAULT_DATA_ROLLOUT_OPTIONS, pollMs: 20 });
    const input: AdvanceDataStageInput = {
      namespace: 'shop',
      source: SOURCE,
      lkg: LKG,
      target: NEW,
      share: '100%',
      // Short: the old behaviour (wait it out, then fail every pod) shows as the outcome, not as a timing.
      ackTimeoutSeconds: 3,
      maxErrorPods,
      movedBefore: [],
      stageStartedAt: new Date(Date.now() - 1000).toISOString(),
    };
    return await activities.advanceDataStage(input);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('a consumer whose request is refused is an erroring pod within maxErrorPods: the stage goes on without waiting for it', async () => {
  const outcome = await advance(['a', 'big', 'c'], 1);
  expect(outcome).toMatchObject({
    outcome: 'acknowledged',
    refused: [{ pod: 'big', reason: expect.stringMatching(/^too-large, HTTP 422: .*Too long/) }],
  });
});

test('over maxErrorPods the stage fails at once, naming the pod and why', async () => {
  const outcome = await advance(['a', 'big', 'c'], 0);
  expect(outcome).toMatchObject({
    outcome: 'failed',
    reason: expect.stringMatching(
      /1 erroring pod\(s\), more than maxErrorPods 0: the apiserver refused the request to big \(too-large, HTTP 422/,
    ),
  });
});

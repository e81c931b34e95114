import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { versionId, type DataRequest } from '../../domain/data/data-contract';
import { filesArchive, serveArchives, sha256Hex, type ArchiveServer } from '../support/archives';
import { createDataPod, dataStatus, requestData, spawnDataDeployer } from '../support/data-deployers';
import { eventually, freshNamespace, type KubeClients, sandboxClients } from '../support/kube';
import { killAndWait } from '../support/processes';
import { tierStack } from '../support/stacks';

/** The real data-deployer process per kwok pod, each with its own drop folder, against the sandbox apiserver. */
describe('data-deployer on the sandbox', () => {
  let k: KubeClients;
  let namespace: string;
  let server: ArchiveServer;
  let root: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    k = sandboxClients();
    namespace = await freshNamespace(k.core, 'data');
    server = await serveArchives();
    root = await mkdtemp(join(tmpdir(), 'data-deployer-it-'));
  });
  afterAll(async () => {
    for (const child of children) await killAndWait(child, 'SIGKILL');
    await server.close();
    await k.core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  const logFile = (name: string) => join(tierStack('integration').stateDir, 'logs', `data-deployer-${namespace}-${name}.log`);
  const start = (pod: string, args: string[] = []) => {
    const child = spawnDataDeployer({ namespace, pod, kubeconfig: tierStack('integration').kubeconfig!, logFile: logFile(pod), args });
    children.push(child);
    return child;
  };
  const exitOf = (child: ChildProcess) =>
    new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
    );

  let day = 0;
  /** A new version of a one-file archive, served at /<name>. */
  async function publish(
    name: string,
    files: Record<string, string>,
    options?: { bytesPerSecond?: number },
  ): Promise<DataRequest & { body: Buffer }> {
    const body = await filesArchive(files);
    const sha256 = sha256Hex(body);
    return { version: versionId(new Date(Date.UTC(2025, 0, ++day)), sha256), sha256, url: server.put(`/${name}`, body, options), body };
  }
  const acknowledged = (pod: string, v: DataRequest) =>
    eventually(async () => {
      const status = await dataStatus(k.core, namespace, pod, 'cfg');
      if (status?.version !== v.version || status.sha256 !== v.sha256)
        throw new Error(`status is ${JSON.stringify(status)}, waiting for ${v.version}`);
      return status;
    }, 30_000);

  test('a request is downloaded, activated and reported; a second version swaps the link and keeps the first; a hash mismatch is refused and reported', async () => {
    const drop = join(root, 'web-0');
    await createDataPod(k.core, namespace, 'web-0', drop, ['cfg']);
    start('web-0');

    const v1 = await publish('v1', { 'config.json': '{"v":1}' });
    await requestData(k.core, namespace, 'web-0', 'cfg', v1);
    const status1 = await acknowledged('web-0', v1);
    expect(status1).toEqual({ version: v1.version, sha256: v1.sha256, activatedAt: expect.any(String) });
    expect(await readFile(join(drop, 'cfg', 'config.json'), 'utf8')).toBe('{"v":1}');

    const v2 = await publish('v2', { 'config.json': '{"v":2}' });
    await requestData(k.core, namespace, 'web-0', 'cfg', v2);
    const status2 = await acknowledged('web-0', v2);
    expect(await readlink(join(drop, 'cfg'))).toBe(`.autocrane/versions/cfg/${v2.version}`);
    expect(await readFile(join(drop, 'cfg', 'config.json'), 'utf8')).toBe('{"v":2}');
    expect((await readdir(join(drop, '.autocrane', 'versions', 'cfg'))).filter((n) => !n.endsWith('.json')).sort()).toEqual([
      v1.version,
      v2.version,
    ]);

    // The bytes of one archive under the hash of another.
    const v3 = await publish('v3', { 'config.json': '{"v":3}' });
    const forged = { ...v3, sha256: v1.sha256.split('').reverse().join('') };
    forged.version = versionId(new Date(Date.UTC(2025, 5, 1)), forged.sha256);
    await requestData(k.core, namespace, 'web-0', 'cfg', forged);
    const refused = await eventually(async () => {
      const status = await dataStatus(k.core, namespace, 'web-0', 'cfg');
      if (!status?.error) throw new Error(`no error in ${JSON.stringify(status)}`);
      return status;
    });
    expect(refused).toEqual({
      version: v2.version,
      sha256: v2.sha256,
      activatedAt: status2.activatedAt,
      error: {
        version: forged.version,
        message: expect.stringMatching(new RegExp(`^hash mismatch: .*has SHA-256 ${v3.sha256}, the request names ${forged.sha256}`)),
        at: expect.any(String),
      },
    });
    expect(await readFile(join(drop, 'cfg', 'config.json'), 'utf8')).toBe('{"v":2}');
    expect(await readdir(join(drop, '.autocrane', 'tmp'))).toEqual([]);
  });

  test('a deployer killed in the middle of a slow download converges after a restart', async () => {
    const drop = join(root, 'web-1');
    await createDataPod(k.core, namespace, 'web-1', drop, ['cfg']);
    let child = start('web-1');

    // About 1 MB compressed at 256 KiB/s: about 4 s of download.
    const blob = randomBytes(1_000_000).toString('base64');
    const big = await publish('big', { 'blob.b64': blob }, { bytesPerSecond: 256 * 1024 });
    const sentBefore = server.bytesSent();
    await requestData(k.core, namespace, 'web-1', 'cfg', big);
    await eventually(
      async () => {
        if (server.bytesSent() - sentBefore < 300_000) throw new Error(`only ${server.bytesSent() - sentBefore} bytes sent`);
      },
      30_000,
      50,
    );
    const partial = await readdir(join(drop, '.autocrane', 'tmp'));
    expect(partial).toEqual([expect.stringMatching(/^download-cfg-/)]);
    await killAndWait(child, 'SIGKILL');
    expect(await dataStatus(k.core, namespace, 'web-1', 'cfg')).toBeUndefined();

    // Full speed now; the restarted deployer starts over and gets there.
    server.put('/big', big.body);
    child = start('web-1');
    await acknowledged('web-1', big);
    expect(await readFile(join(drop, 'cfg', 'blob.b64'), 'utf8')).toBe(blob);
    expect(await readdir(join(drop, '.autocrane', 'tmp'))).toEqual([]);
    await killAndWait(child, 'SIGTERM');
    expect(child.exitCode).toBe(0);
  });

  test('init mode exits 1 at its timeout naming each missing source, and 0 once every source is active', async () => {
    const drop = join(root, 'web-2');
    await createDataPod(k.core, namespace, 'web-2', drop, ['cfg', 'model']);
    const v1 = await publish('init-v1', { 'a.txt': 'a' });
    await requestData(k.core, namespace, 'web-2', 'cfg', v1);
    const early = start('web-2', ['--mode', 'init', '--timeout', '3']);
    expect(await exitOf(early)).toBe(1);
    const log = await readFile(logFile('web-2'), 'utf8');
    expect(log).toContain('data not active after 3s: model: no request yet');

    await requestData(k.core, namespace, 'web-2', 'model', v1);
    const late = start('web-2', ['--mode', 'init', '--timeout', '30']);
    expect(await exitOf(late)).toBe(0);
    expect(await dataStatus(k.core, namespace, 'web-2', 'model')).toMatchObject({ version: v1.version });
    expect(await readFile(join(drop, 'model', 'a.txt'), 'utf8')).toBe('a');
  });
});

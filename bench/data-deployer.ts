/**
 * Benchmark of one data deployer's peak RSS (its budget: at most 100 MB): the real
 * `autocrane data-deployer` process (dist/cli/main.js) for one kwok pod on a private sandbox
 * stack activates a large archive (default 200 MB of incompressible data in 20 files),
 * served from a local HTTP server that streams it from disk. Prints the time from the
 * request to the status acknowledgement and the deployer's peak RSS (VmHWM), whose target
 * is at most 100 MB whatever the archive's size.
 *
 *   npm run build && node dist/bench/data-deployer.js [--mb 200] [--node-options '<flags for the deployer's node>']
 *
 * The deployer's node is started with DATA_DEPLOYER_NODE_FLAGS, as deployed (docs/data-rollouts.md,
 * "The data deployer's memory"); `--node-options ''` measures it without them.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pack } from 'tar-stream';
import { dataRequestKey, dataStatusKey, formatDataRequest, parseDataStatus, versionId } from '../domain/data/data-contract';
import { DATA_LOCATION_ANNOTATION, DATA_SOURCES_ANNOTATION } from '../domain/shared/keys';
import { down, up } from '../stack/stack';
import { REPO_ROOT } from '../stack/stack-state';
import { DATA_DEPLOYER_NODE_FLAGS } from '../cli/data-deployer';
import { ensureNamespace, procMemoryMb, sleep } from './support';

const NAMESPACE = 'bench-data';
const POD = 'consumer-0';
const FILES = 20;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Writes a gzip-compressed tar of `mb` MB (FILES files) to `file`, streaming; returns its SHA-256 and size. */
async function writeArchive(file: string, mb: number): Promise<{ sha256: string; bytes: number }> {
  // One random MiB repeated: farther apart than gzip's 32 KiB window, so it does not compress.
  const block = randomBytes(2 ** 20);
  const tar = pack();
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const written = pipeline(tar as unknown as NodeJS.ReadableStream, createGzip({ level: 1 }), meter, createWriteStream(file));
  const perFile = Math.floor(mb / FILES);
  for (let f = 0; f < FILES; f++) {
    const size = (f === FILES - 1 ? mb - perFile * (FILES - 1) : perFile) * 2 ** 20;
    await new Promise<void>((resolve, reject) => {
      const entry = tar.entry({ name: `data/part-${f}.bin`, size }, (err) => (err ? reject(err) : resolve()));
      const writeBlocks = (left: number) => {
        while (left > 0) {
          left -= block.length;
          if (!entry.write(block)) {
            entry.once('drain', () => writeBlocks(left));
            return;
          }
        }
        entry.end(undefined);
      };
      writeBlocks(size);
    });
  }
  tar.finalize();
  await written;
  return { sha256: hash.digest('hex'), bytes };
}

async function main(): Promise<void> {
  const mbArg = process.argv.indexOf('--mb');
  const mb = mbArg >= 0 ? Number(process.argv[mbArg + 1]) : 200;
  if (!Number.isInteger(mb) || mb < FILES) {
    process.stderr.write(`usage: node dist/bench/data-deployer.js [--mb N] (N a whole number ≥ ${FILES})\n`);
    process.exit(2);
  }
  const nodeOptionsArg = process.argv.indexOf('--node-options');
  const nodeOptions = nodeOptionsArg >= 0 ? (process.argv[nodeOptionsArg + 1] ?? '') : DATA_DEPLOYER_NODE_FLAGS.join(' ');
  const work = await mkdtemp(join(tmpdir(), 'bench-data-deployer-'));
  const stateDir = join(REPO_ROOT, '.autocrane', 'bench-data-deployer');
  const archive = join(work, 'archive.tar.gz');
  try {
    process.stderr.write(`writing a ${mb} MB archive…\n`);
    const { sha256, bytes } = await writeArchive(archive, mb);
    const server = createServer((req, res) => {
      res.setHeader('Content-Length', bytes);
      createReadStream(archive).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/archive`;

    const stack = await up({ stateDir, log: (l) => process.stderr.write(`[stack] ${l}\n`) });
    const kc = new KubeConfig();
    kc.loadFromFile(stack.kubeconfig!);
    const core = kc.makeApiClient(CoreV1Api);
    await ensureNamespace(core, NAMESPACE);
    await core.deleteNamespacedPod({ name: POD, namespace: NAMESPACE, gracePeriodSeconds: 0 }).catch(() => undefined);
    await sleep(500);
    const drop = join(work, 'drop');
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: POD, annotations: { [DATA_LOCATION_ANNOTATION]: drop, [DATA_SOURCES_ANNOTATION]: 'bulk' } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      },
    });

    const deployer = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'data-deployer', '--max-extracted-bytes', '1Ti'], {
      env: {
        ...process.env,
        NODE_OPTIONS: nodeOptions,
        KUBECONFIG: stack.kubeconfig!,
        POD_NAME: POD,
        POD_NAMESPACE: NAMESPACE,
        AUTOCRANE_LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await sleep(1000);
    const idleRss = await procMemoryMb(deployer.pid!);
    const version = versionId(new Date(), sha256);
    const requestedAt = Date.now();
    await core.patchNamespacedPod(
      {
        namespace: NAMESPACE,
        name: POD,
        body: { metadata: { annotations: { [dataRequestKey('bulk')]: formatDataRequest({ version, sha256, url }) } } },
      },
      mergePatch,
    );
    for (;;) {
      const text = (await core.readNamespacedPod({ namespace: NAMESPACE, name: POD })).metadata?.annotations?.[dataStatusKey('bulk')];
      const status = text === undefined ? undefined : parseDataStatus(text);
      if (status?.ok && status.value.version === version) break;
      if (status?.ok && status.value.error) throw new Error(`the deployer failed: ${status.value.error.message}`);
      await sleep(100);
    }
    const seconds = (Date.now() - requestedAt) / 1000;
    const peak = await procMemoryMb(deployer.pid!);
    deployer.kill('SIGTERM');
    server.close();
    const extracted = (await stat(join(drop, 'bulk', 'data', 'part-0.bin'))).size;
    const result = {
      date: new Date().toISOString().slice(0, 10),
      machine: `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      deployerNodeOptions: nodeOptions,
      archiveMB: Math.round(bytes / 2 ** 20),
      extractedFileMB: Math.round(extracted / 2 ** 20),
      requestToAckSeconds: seconds,
      deployerIdleRssMB: idleRss,
      deployerPeakRssMB: peak,
      targetMet: peak <= 100,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await down({ stateDir }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

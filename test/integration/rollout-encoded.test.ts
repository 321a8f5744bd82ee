/**
 * A sparse model travels compressed, end to end over the real broker: `prune-magnitude`
 * zeroes 90% of a classifier's weights, the real server stores it and records a gzip layout
 * (gzip saves far more than an eighth), the signed manifest carries `encoding` and
 * `encodedSize`, the chunk server sends the encoded chunks, and two real agents decode,
 * verify the decoded digest, load the model in onnxruntime and pass its smoke test. A dense
 * fp32 model (gzip saves ~7%) travels as it is.
 */
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createDevice, type Device } from '@edgefleet/agent/device';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { compressModel } from '@edgefleet/compress/compress-model';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { parseTrustedKey, sha256Hex, type GoldenSet } from '@edgefleet/shared';
import { linkOptions } from '../helpers/agent-fixtures.js';
import { createHeldClock } from '../helpers/held-clock.js';
import { buildClassifier, CLASSES, INPUTS, seededFloats } from '../fixtures/deploy-models.js';

t.setTimeout(180_000);
const silent = pino({ level: 'silent' });
const dir = t.testdir();

const dense = buildClassifier(55, 512);
const { bytes: sparse, report } = await compressModel(dense, [{ pass: 'prune-magnitude', sparsity: 0.9 }]);

/** Golden rows labelled by the model's own predictions (the smoke test checks the deployed bytes compute them). */
async function goldenOf(model: Uint8Array): Promise<GoldenSet> {
  const rows = 8;
  const data = seededFloats(rows * INPUTS, 77);
  const s = await createOrtSession(model);
  const out = await s.run({ x: { dtype: 'float32', dims: [rows, INPUTS], data } });
  await s.release();
  const y = out.y?.data as Float32Array;
  const labels = Array.from({ length: rows }, (_r, i) => {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if ((y[i * CLASSES + c] ?? 0) > (y[i * CLASSES + best] ?? 0)) best = c;
    return best;
  });
  return {
    inputs: { x: { dims: [rows, INPUTS], data: Buffer.from(data.buffer).toString('base64') } },
    labels,
    minAccuracy: 1,
  };
}

const config = loadServerConfig({
  flags: {
    dataDir: join(dir, 'server'),
    port: 0,
    host: '127.0.0.1',
    'log.level': 'silent',
    'auth.enabled': false,
    apiPort: -1,
  },
});
const server = createServer(config, { logger: silent, clock: createHeldClock() });
const address = await server.start();
const trusted = server.deploy().keyring.publicKeys.map((k) => parseTrustedKey(k.publicKey));
const devices = new Map<string, Device>();
for (const id of ['gz-0', 'gz-1']) {
  const d = await createDevice({
    link: linkOptions({ brokerUrl: address.brokerUrl, deviceId: id, logger: silent }),
    dataDir: join(dir, 'devices', id),
    trustedKeys: trusted,
    logger: silent,
    serve: { port: 0 },
    download: { windowChunks: 8, windowTimeoutMs: 400, maxStalls: 4 },
  });
  await d.start();
  devices.set(id, d);
}
t.teardown(async () => {
  await Promise.all([...devices.values()].map((d) => d.stop({ clean: false }).catch(() => undefined)));
  await server.stop();
});

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

await until(
  'both devices online',
  async () => (await server.repos().devices.list()).filter((d) => d.state === 'online').length === 2,
);

t.test('prune-magnitude reports its sparsity and the gzip size the deployment will carry', async (t) => {
  t.ok((report.pruning?.sparsity?.zeros ?? 0) / (report.pruning?.sparsity?.weights ?? 1) >= 0.89, 'about 90% zeros');
  t.ok(report.size.afterGzipBytes < report.size.beforeGzipBytes / 3, `gzip ${report.size.afterGzipBytes} bytes`);
});

t.test('the sparse variant rolls out gzip-encoded; agents store and serve the decoded model', async (t) => {
  const layout = await server.deploy().artifacts.put(sparse);
  t.equal(layout.encoding, 'gzip', 'the server chose gzip');
  t.ok(
    (layout.encodedSize ?? Infinity) < sparse.byteLength / 3,
    `${layout.encodedSize} of ${sparse.byteLength} bytes travel`,
  );
  t.equal(layout.chunkCount, Math.ceil((layout.encodedSize ?? 0) / layout.chunkSize));
  t.same(await server.deploy().artifacts.layout(layout.sha256), layout, 'the recorded layout keeps the encoding');
  const sentBefore = server.deploy().chunks.stats().bytesSent;
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { sha256: layout.sha256 },
    variantId: 'sparse-90',
    golden: await goldenOf(sparse),
    policy: { canary: { count: 1 }, deviceTimeoutMs: 60_000 },
  });
  await until('the rollout to finish', async () => {
    await server.deploy().rollouts.tick();
    return ['completed', 'aborted'].includes((await server.deploy().rollouts.status(started.rollout.id)).rollout.state);
  });
  const done = await server.deploy().rollouts.status(started.rollout.id);
  t.equal(done.rollout.state, 'completed', JSON.stringify(done.devices.map((d) => d.failure)));
  t.equal(
    server.deploy().chunks.stats().bytesSent - sentBefore,
    2 * (layout.encodedSize ?? 0),
    'each device received the encoded bytes once',
  );
  for (const [id, d] of devices) {
    t.same(Buffer.from(await d.store.read(sha256Hex(sparse))), Buffer.from(sparse), `${id}: decoded bytes stored`);
    t.equal((await d.store.loadState()).lastKnownGood?.sha256, sha256Hex(sparse), `${id}: serving the sparse model`);
  }
});

t.test('a dense fp32 model travels as it is', async (t) => {
  const layout = await server.deploy().artifacts.put(dense);
  t.equal(layout.encoding, undefined, 'gzip would save too little');
  t.equal(layout.chunkCount, Math.ceil(dense.byteLength / layout.chunkSize));
});

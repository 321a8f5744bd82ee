/**
 * Artifacts that travel gzip-encoded [EF-PROTO 6.3], on a real agent over a real broker: the
 * chunks cut the encoded bytes, the agent decodes while it verifies, the digest and size it
 * checks are the decoded model's, and encoded bytes that decode too far, not at all, or to
 * other bytes are refused by name while the old model keeps serving.
 */
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { createDevice, type Device } from '@edgefleet/agent/device';
import {
  createManifestSigner,
  generateSigningKeyPem,
  parseTrustedKey,
  sha256Hex,
  type DeployReport,
  type Desired,
} from '@edgefleet/shared';
import { createGraph, createModel, floatTensor, loadModel, writeModel } from '@edgefleet/compress/ir/index';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';
import { startTestBroker } from '../helpers/broker.js';
import { startChunkServer, type ChunkServer } from '../helpers/chunk-server.js';
import { buildClassifier, goldenFor, INPUTS, seededFloats, signedDesired } from '../fixtures/deploy-models.js';

t.setTimeout(120_000);
const signer = createManifestSigner(generateSigningKeyPem());

/** The fixture classifier plus an unused block of zeros: it computes the same, and gzips to a fraction. */
function compressible(seed: number): Uint8Array {
  const m = loadModel(buildClassifier(seed));
  const g = createGraph({ name: m.graph.name });
  for (const vi of m.graph.inputs) g.addInput(vi);
  for (const vi of m.graph.outputs) g.addOutput(vi);
  for (const init of m.graph.initializers.values()) g.addInitializer(init);
  g.addInitializer(floatTensor('padding', [16384], new Float32Array(16384)));
  for (const n of m.graph.nodes) g.addNode({ opType: n.opType, name: n.name, inputs: n.inputs, outputs: n.outputs });
  return writeModel(createModel({ graph: g, opsets: { '': 13 } }));
}

const model = compressible(11);
const encoded = gzipSync(model, { level: 9 });

async function rig(t: Test): Promise<{ server: ChunkServer; device: Device }> {
  const broker = await startTestBroker();
  const server = await startChunkServer(broker.url);
  const { logger } = recordingLogger();
  const device = await createDevice({
    link: linkOptions({ brokerUrl: broker.url, deviceId: 'dev-gz', logger }),
    dataDir: t.testdir(),
    trustedKeys: [parseTrustedKey(signer.publicKey)],
    logger,
    serve: { port: 0 },
    download: { windowChunks: 4, windowTimeoutMs: 400, maxStalls: 4 },
  });
  t.teardown(async () => {
    await device.stop({ clean: false }).catch(() => undefined);
    await server.close();
    await broker.close();
  });
  await device.start();
  return { server, device };
}

async function servingSha(d: Device): Promise<string | undefined> {
  const api = d.api();
  const res = await fetch(`${api?.url}/v1/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: { x: { dims: [1, INPUTS], data: Array.from(seededFloats(INPUTS, 5)) } } }),
  });
  return ((await res.json()) as { model?: { sha256: string } }).model?.sha256;
}

const terminal = (id: string) => (r: DeployReport) =>
  r.deploymentId === id && ['succeeded', 'failed', 'rolled-back'].includes(r.state);

async function deploy(server: ChunkServer, id: string, bytes: Uint8Array, wire: Uint8Array): Promise<DeployReport> {
  const desired: Desired = signedDesired(signer, {
    deviceId: 'dev-gz',
    deploymentId: id,
    variantId: id,
    bytes,
    golden: goldenFor(11),
    encoded: wire,
  });
  server.artifacts.set(desired.body.artifact.sha256, wire);
  await server.publishDesired(desired);
  return server.waitReport(terminal(id));
}

t.test('a gzip-encoded artifact travels in fewer chunks and is stored and served decoded', async (t) => {
  const { server, device } = await rig(t);
  t.ok(
    encoded.byteLength < model.byteLength / 2,
    `the wire carries ${encoded.byteLength} of ${model.byteLength} bytes`,
  );
  const report = await deploy(server, 'gz-1', model, encoded);
  t.equal(report.state, 'succeeded', JSON.stringify(report.failure ?? {}));
  t.equal(report.chunks.total, Math.ceil(encoded.byteLength / 2048), 'chunks cut the encoded bytes');
  t.equal(server.totalSent(), report.chunks.total, 'each encoded chunk sent once');
  t.equal(report.sha256, sha256Hex(model), 'the report names the decoded model');
  t.equal(await servingSha(device), sha256Hex(model), 'the local API serves the decoded model');
  t.same(
    Buffer.from(await device.store.read(sha256Hex(model))),
    Buffer.from(model),
    'the store holds the decoded bytes',
  );
});

t.test('encoded bytes that decode too far, not at all, or to other bytes are refused by name', async (t) => {
  const { server, device } = await rig(t);
  t.equal((await deploy(server, 'ok', model, encoded)).state, 'succeeded');
  const other = Buffer.from(model);
  other[other.length - 9] = (other[other.length - 9] ?? 0) ^ 0x33;
  const cases = [
    { id: 'bomb', wire: gzipSync(Buffer.concat([model, Buffer.alloc(1 << 20)])), reason: 'size-mismatch' },
    { id: 'not-gzip', wire: Buffer.from(seededFloats(600, 3).buffer), reason: 'digest-mismatch' },
    { id: 'other-bytes', wire: gzipSync(other), reason: 'digest-mismatch' },
  ];
  for (const c of cases) {
    const report = await deploy(server, c.id, compressible(22), c.wire);
    t.equal(report.state, 'failed', `${c.id}: refused`);
    t.equal(report.failure?.step, 'verify', `${c.id}: at the verify step`);
    t.equal(report.failure?.reason, c.reason, `${c.id}: ${report.failure?.detail}`);
    t.equal(await servingSha(device), sha256Hex(model), `${c.id}: the old model keeps serving`);
    t.notOk(await device.store.has(sha256Hex(compressible(22))), `${c.id}: nothing entered the store`);
  }
});

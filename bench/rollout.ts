/**
 * npm run bench:rollout — time to deliver a 1 MB and a 10 MB artifact to 10, 100 and 1,000
 * simulated devices through the production chunk server (embedded aedes, QoS 1, 128 KiB
 * chunks as base64 JSON, fair download slots), next to a raw MQTT pub/sub moving the same
 * bytes as binary 128 KiB QoS 1 messages on the same machine. Simulated devices are the
 * agent's own downloader (agent/src/artifacts, no onnxruntime), one MQTT connection each,
 * all in this process. Prints a table and writes JSON to bench/results/.
 * Usage: npm run bench:rollout [-- --max-devices 100 --max-mb 10 --budget-mb 1200]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { downloadChunks, openArtifactStore, systemClock } from '@edgefleet/agent';
import { createBrokerClient, openStore, startEmbeddedBroker } from '@edgefleet/server';
import { buildDesired, createArtifactStore, createChunkServer } from '@edgefleet/server/deploy/index';
import { createManifestSigner, decodeMessage, deviceTopic, encodeMessage, generateSigningKeyPem, type Chunk, type ChunkNack } from '@edgefleet/shared';

const arg = (name: string, def: number): number => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : def; };
const MAX_DEVICES = arg('max-devices', 1000);
const MAX_MB = arg('max-mb', 10);
// Total bytes moved per case; above this the case is skipped as too slow/large for a small box.
const BUDGET_MB = arg('budget-mb', 1200);
const log = pino({ level: 'silent' });
const work = mkdtempSync(join(tmpdir(), 'ef-bench-rollout-'));

function randomBytesSeeded(n: number): Buffer {
  const b = Buffer.alloc(n);
  let a = 12345;
  for (let i = 0; i < n; i += 1) { a = (a * 1103515245 + 12345) >>> 0; b[i] = a >>> 24; }
  return b;
}

async function connectMany(url: string, n: number, prefix: string): Promise<MqttClient[]> {
  const out: MqttClient[] = [];
  for (let i = 0; i < n; i += 50) {
    out.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => mqtt.connectAsync(url, { clientId: `${prefix}-${i + k}`, protocolVersion: 4, clean: true, reconnectPeriod: 0 }))));
  }
  return out;
}

async function ours(url: string, bytes: Buffer, n: number): Promise<number> {
  const dataDir = join(work, `srv-${n}-${bytes.length}`);
  const store = openStore({ dataDir });
  const artifacts = createArtifactStore({ dataDir, tables: store.rollouts, now: Date.now });
  const layout = await artifacts.put(bytes);
  const server = await createBrokerClient({ url, clientId: `bench-server-${n}`, logger: log });
  const chunks = createChunkServer({ publish: server.publish.bind(server), artifacts, logger: log, now: Date.now, slots: { max: 64 },
    tables: { deploymentTarget: (id) => ({ rolloutId: 'bench', deviceId: id.slice('dep-'.length), sha256: layout.sha256, purpose: 'rollout' }) } });
  server.onMessage(chunks.handleMessage);
  await server.subscribe(['ef/v1/devices/+/chunk-req'], 1);
  const signer = createManifestSigner(generateSigningKeyPem());
  const clients = await connectMany(url, n, `sim-${n}-${bytes.length}`);
  const t0 = performance.now();
  await Promise.all(clients.map(async (c, i) => {
    const id = `sim-${i}`;
    const handlers = new Set<(m: Chunk | ChunkNack) => void>();
    c.on('message', (topic, payload) => { const d = decodeMessage(topic, payload); if (d.ok && (d.message.type === 'chunk' || d.message.type === 'chunk-nack')) for (const h of handlers) h(d.message); });
    await c.subscribeAsync(deviceTopic(id, 'chunks'), { qos: 1 });
    const body = buildDesired(signer, { deviceId: id, deviceClass: 'sim', deploymentId: `dep-${id}`, rolloutId: 'bench', purpose: 'rollout', variantId: 'v', layout, golden: { inputs: {}, labels: [0], minAccuracy: 0 }, budgets: null, previous: null, issuedAt: 0 }).body;
    const dir = join(work, `dev-${n}-${bytes.length}-${i}`);
    mkdirSync(dir, { recursive: true });
    const agentStore = await openArtifactStore(dir);
    await downloadChunks(body, {
      deviceId: id, store: agentStore, clock: systemClock, random: Math.random, windowChunks: 8, windowTimeoutMs: 30_000, maxStalls: 20,
      transport: { request: (r) => c.publishAsync(deviceTopic(id, 'chunk-req'), encodeMessage(r), { qos: 1 }).then(() => undefined), listen: (h) => { handlers.add(h); return () => handlers.delete(h); } },
    });
    if (!(await agentStore.has(layout.sha256))) throw new Error(`${id} did not store the artifact`);
    rmSync(dir, { recursive: true, force: true });
  }));
  const ms = performance.now() - t0;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await server.close();
  store.close();
  return ms;
}

async function raw(url: string, bytes: Buffer, n: number): Promise<number> {
  const pub = await mqtt.connectAsync(url, { clientId: `raw-pub-${n}`, protocolVersion: 4 });
  const subs = await connectMany(url, n, `raw-${n}-${bytes.length}`);
  const chunk = 128 * 1024;
  const count = Math.ceil(bytes.length / chunk);
  const done = subs.map((s, i) => new Promise<void>((resolve) => {
    let got = 0;
    s.on('message', () => { got += 1; if (got === count) resolve(); });
    void s.subscribeAsync(deviceTopic(`raw-${i}`, 'chunks'), { qos: 1 });
  }));
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  // Same pacing as a pull protocol would not have: the publisher pushes everything at once.
  await Promise.all(subs.map(async (_, i) => { for (let k = 0; k < count; k += 1) await pub.publishAsync(deviceTopic(`raw-${i}`, 'chunks'), bytes.subarray(k * chunk, (k + 1) * chunk), { qos: 1 }); }));
  await Promise.all(done);
  const ms = performance.now() - t0;
  await Promise.all([...subs, pub].map((c) => c.endAsync(true)));
  return ms;
}

const broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', drainTimeoutMs: 60_000, maxPayloadBytes: 256 * 1024, logger: log, onReject: () => undefined });
const rows: Array<Record<string, unknown>> = [];
for (const mb of [1, 10].filter((m) => m <= MAX_MB)) {
  const bytes = randomBytesSeeded(mb * 1_000_000);
  for (const n of [10, 100, 1000].filter((d) => d <= MAX_DEVICES)) {
    if (mb * n > BUDGET_MB) { rows.push({ artifactMB: mb, devices: n, skipped: `${mb * n} MB total exceeds --budget-mb ${BUDGET_MB} on this box` }); continue; }
    const oursMs = await ours(broker.url, bytes, n);
    const rawMs = await raw(broker.url, bytes, n);
    const row = { artifactMB: mb, devices: n, totalMB: mb * n, oursMs: Math.round(oursMs), rawMs: Math.round(rawMs), ratio: Number((oursMs / rawMs).toFixed(2)), oursMBps: Number(((mb * n) / (oursMs / 1000)).toFixed(1)), rawMBps: Number(((mb * n) / (rawMs / 1000)).toFixed(1)) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
await broker.close();
rmSync(work, { recursive: true, force: true });
console.log('\nartifact  devices  chunk server  raw MQTT  ratio  (MB/s ours / raw)');
for (const r of rows) console.log(r.skipped ? `${r.artifactMB} MB  ${r.devices}  skipped: ${String(r.skipped)}` : `${r.artifactMB} MB  ${r.devices}  ${r.oursMs} ms  ${r.rawMs} ms  ${r.ratio}x  (${r.oursMBps} / ${r.rawMBps})`);
const out = join('bench', 'results', `rollout-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, `${JSON.stringify({ node: process.version, cpus: (await import('node:os')).cpus().length, note: 'one process: aedes broker, chunk server and all simulated downloaders share the CPU', rows }, null, 2)}\n`);
console.log(`wrote ${out}`);

/**
 * npm run bench:rollout — time to deliver a 1 MB and a 10 MB artifact to 10, 100 and 1,000
 * simulated devices through the production chunk server (embedded aedes, QoS 1, 128 KiB
 * chunks, fair download slots), next to a raw MQTT pub/sub moving the same bytes as binary
 * 128 KiB QoS 1 messages on the same broker, in the same run. Simulated devices are the
 * agent's own downloader (agent/src/artifacts: real files, fsync, resumable bitmap; no
 * onnxruntime), one MQTT connection each, all in this process; each reports `verifying`
 * when its download is done, as the agent does, which frees its download slot. A device's
 * data directory is removed as soon as it finishes. Prints a table and writes JSON to
 * bench/results/ (git-ignored).
 *
 * Usage: npm run bench:rollout [-- --max-devices 1000 --max-mb 10 --budget-mb 10000
 *          --window N (agent default) --slots N (server default) --cells 1x1000,10x100 --raw 0]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { downloadChunks, openArtifactStore } from '@edgefleet/agent';
import { createBrokerClient, createInboundRouter, openSqliteStore, startEmbeddedBroker } from '@edgefleet/server';
import { buildDesired, createArtifactStore, createChunkServer, type ChunkServer } from '@edgefleet/server/deploy/index';
import {
  createManifestSigner,
  decodeMessage,
  deviceTopic,
  encodeMessage,
  generateSigningKeyPem,
  PROTOCOL_VERSION,
  systemClock,
  stripUndefined,
  type ArtifactLayout,
  type Chunk,
  type ChunkNack,
  type ManifestBody,
} from '@edgefleet/shared';

const arg = (name: string, def: number | undefined): number | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const MAX_DEVICES = arg('max-devices', 1000) ?? 1000;
const MAX_MB = arg('max-mb', 10) ?? 10;
// Total bytes moved per cell; above this a cell is reported as skipped, never faked.
const BUDGET_MB = arg('budget-mb', 10_000) ?? 10_000;
const WINDOW = arg('window', undefined);
const SLOTS = arg('slots', undefined);
const RUN_RAW = (arg('raw', 1) ?? 1) !== 0;
const cellsArg = process.argv.indexOf('--cells') > 0 ? (process.argv[process.argv.indexOf('--cells') + 1] ?? '') : '';
const ONLY = new Set(cellsArg.split(',').filter(Boolean));
const log = pino({ level: 'silent' });
const work = mkdtempSync(join(tmpdir(), 'ef-bench-rollout-'));

function randomBytesSeeded(n: number): Buffer {
  const b = Buffer.alloc(n);
  let a = 12345;
  for (let i = 0; i < n; i += 1) {
    a = (a * 1103515245 + 12345) >>> 0;
    b[i] = a >>> 24;
  }
  return b;
}

async function connectMany(url: string, n: number, prefix: string): Promise<MqttClient[]> {
  const out: MqttClient[] = [];
  for (let i = 0; i < n; i += 50) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, k) =>
          mqtt.connectAsync(url, {
            clientId: `${prefix}-${i + k}`,
            protocolVersion: 4,
            clean: true,
            reconnectPeriod: 0,
          }),
        ),
      )),
    );
  }
  return out;
}

/** Peak RSS while `work` runs, sampled every 200 ms. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakRssMB: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 200);
  try {
    const result = await work();
    return { result, peakRssMB: Math.round(Math.max(peak, process.memoryUsage.rss()) / 1e6) };
  } finally {
    clearInterval(timer);
  }
}

/** One simulated device: download through the chunk server, check the store, report `verifying`, drop its directory. */
async function simulateDevice(c: MqttClient, i: number, body: ManifestBody, n: number): Promise<void> {
  const id = body.deviceId;
  const handlers = new Set<(m: Chunk | ChunkNack) => void>();
  c.on('message', (topic, payload) => {
    const d = decodeMessage(topic, payload);
    if (d.ok && (d.message.type === 'chunk' || d.message.type === 'chunk-nack')) for (const h of handlers) h(d.message);
  });
  await c.subscribeAsync(deviceTopic(id, 'chunks'), { qos: 1 });
  const dir = join(work, `dev-${n}-${body.artifact.size}-${i}`);
  mkdirSync(dir, { recursive: true });
  const agentStore = await openArtifactStore(dir);
  const counts = await downloadChunks(body, {
    deviceId: id,
    store: agentStore,
    clock: systemClock,
    random: Math.random,
    windowTimeoutMs: 30_000,
    maxStalls: 20,
    ...stripUndefined({ windowChunks: WINDOW }),
    transport: {
      request: (r) => c.publishAsync(deviceTopic(id, 'chunk-req'), encodeMessage(r), { qos: 1 }).then(() => undefined),
      listen: (h) => {
        handlers.add(h);
        return () => handlers.delete(h);
      },
    },
  });
  if (!(await agentStore.has(body.artifact.sha256))) throw new Error(`${id} did not store the artifact`);
  // What the agent sends next; the deployer frees the device's download slot on it (deploy-service.ts).
  await c.publishAsync(
    deviceTopic(id, 'events'),
    encodeMessage({
      type: 'deploy-report',
      v: PROTOCOL_VERSION,
      deviceId: id,
      deploymentId: body.deploymentId,
      rolloutId: body.rolloutId,
      variantId: body.variantId,
      sha256: body.artifact.sha256,
      state: 'verifying',
      chunks: counts,
      serving: null,
      sentAt: Date.now(),
    }),
    { qos: 1 },
  );
  rmSync(dir, { recursive: true, force: true });
}

function manifestFor(
  signer: ReturnType<typeof createManifestSigner>,
  id: string,
  layout: ArtifactLayout,
): ManifestBody {
  return buildDesired(signer, {
    deviceId: id,
    deviceClass: 'sim',
    deploymentId: `dep-${id}`,
    rolloutId: 'bench',
    purpose: 'rollout',
    variantId: 'v',
    layout,
    golden: { inputs: {}, labels: [0], minAccuracy: 0 },
    budgets: null,
    previous: null,
    issuedAt: 0,
  }).body;
}

async function ours(
  url: string,
  bytes: Buffer,
  n: number,
): Promise<{ ms: number; stats: ReturnType<ChunkServer['stats']> }> {
  const dataDir = join(work, `srv-${n}-${bytes.length}`);
  const store = openSqliteStore({ dataDir });
  const artifacts = createArtifactStore({ dataDir, artifacts: store.repos.artifacts, now: Date.now });
  const layout = await artifacts.put(bytes);
  const server = await createBrokerClient({ url, clientId: `bench-server-${n}`, logger: log });
  const chunks = createChunkServer({
    publish: server.publish.bind(server),
    artifacts,
    logger: log,
    now: Date.now,
    ...(SLOTS === undefined ? {} : { slots: { max: SLOTS } }),
    rollouts: {
      deploymentTarget: async (id) => ({
        rolloutId: 'bench',
        deviceId: id.slice('dep-'.length),
        sha256: layout.sha256,
        purpose: 'rollout',
      }),
    },
  });
  // Decoded once, as in the server: requests to the chunk server, and any report past
  // `downloading` releases the device's slot, as the production deployer does.
  const inbound = createInboundRouter({ logger: log, onReject: () => undefined });
  inbound.on('chunk-req', (request) => chunks.accept(request));
  inbound.on('deploy-report', (report) => {
    if (report.state !== 'downloading') chunks.release(report.deviceId);
  });
  server.onMessage(inbound.handleMessage);
  await server.subscribe(['ef/v1/devices/+/chunk-req', 'ef/v1/devices/+/events'], 1);
  const signer = createManifestSigner(generateSigningKeyPem());
  const clients = await connectMany(url, n, `sim-${n}-${bytes.length}`);
  const t0 = performance.now();
  await Promise.all(clients.map((c, i) => simulateDevice(c, i, manifestFor(signer, `sim-${i}`, layout), n)));
  const ms = performance.now() - t0;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await server.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
  return { ms, stats: chunks.stats() };
}

async function raw(url: string, bytes: Buffer, n: number): Promise<number> {
  const pub = await mqtt.connectAsync(url, { clientId: `raw-pub-${n}`, protocolVersion: 4 });
  const subs = await connectMany(url, n, `raw-${n}-${bytes.length}`);
  const chunk = 128 * 1024;
  const count = Math.ceil(bytes.length / chunk);
  const done = subs.map(
    (s, i) =>
      new Promise<void>((resolve) => {
        let got = 0;
        s.on('message', () => {
          got += 1;
          if (got === count) resolve();
        });
        void s.subscribeAsync(deviceTopic(`raw-${i}`, 'chunks'), { qos: 1 });
      }),
  );
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  // No pacing, no request round trips, no disk: the publisher pushes everything at once.
  await Promise.all(
    subs.map(async (_, i) => {
      for (let k = 0; k < count; k += 1)
        await pub.publishAsync(deviceTopic(`raw-${i}`, 'chunks'), bytes.subarray(k * chunk, (k + 1) * chunk), {
          qos: 1,
        });
    }),
  );
  await Promise.all(done);
  const ms = performance.now() - t0;
  await Promise.all([...subs, pub].map((c) => c.endAsync(true)));
  return ms;
}

async function cell(url: string, mb: number, n: number, bytes: Buffer): Promise<Record<string, unknown>> {
  const measured = await withPeakRss(async () => {
    const o = await ours(url, bytes, n);
    const rawMs = RUN_RAW ? await raw(url, bytes, n) : null;
    return { o, rawMs };
  });
  const { o, rawMs } = measured.result;
  const mbps = (ms: number) => Number(((mb * n) / (ms / 1000)).toFixed(1));
  return {
    artifactMB: mb,
    devices: n,
    totalMB: mb * n,
    oursMs: Math.round(o.ms),
    rawMs: rawMs === null ? null : Math.round(rawMs),
    ratio: rawMs === null ? null : Number((o.ms / rawMs).toFixed(2)),
    oursMBps: mbps(o.ms),
    rawMBps: rawMs === null ? null : mbps(rawMs),
    requests: o.stats.requests,
    chunksSent: o.stats.chunksSent,
    busyReplies: o.stats.slots.busyReplies,
    peakRssMB: measured.peakRssMB,
  };
}

const started = performance.now();
const broker = await startEmbeddedBroker({
  port: 0,
  host: '127.0.0.1',
  drainTimeoutMs: 60_000,
  maxPayloadBytes: 256 * 1024,
  logger: log,
  onReject: () => undefined,
});
const rows: Array<Record<string, unknown>> = [];
for (const mb of [1, 10].filter((m) => m <= MAX_MB)) {
  const bytes = randomBytesSeeded(mb * 1_000_000);
  for (const n of [10, 100, 1000].filter((d) => d <= MAX_DEVICES && (ONLY.size === 0 || ONLY.has(`${mb}x${d}`)))) {
    if (mb * n > BUDGET_MB) {
      rows.push({ artifactMB: mb, devices: n, skipped: `${mb * n} MB total exceeds --budget-mb ${BUDGET_MB}` });
      continue;
    }
    const row = await cell(broker.url, mb, n, bytes);
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
await broker.close();
rmSync(work, { recursive: true, force: true });
const settings = `window ${WINDOW ?? 'agent default'}, slots ${SLOTS ?? 'server default'}`;
console.log(`\n${settings}; total bench time ${Math.round((performance.now() - started) / 1000)} s`);
console.log('artifact  devices  chunk server  raw MQTT  ratio  (MB/s ours / raw)  peak RSS');
for (const r of rows) {
  console.log(
    r.skipped
      ? `${r.artifactMB} MB  ${r.devices}  skipped: ${String(r.skipped)}`
      : `${r.artifactMB} MB  ${r.devices}  ${r.oursMs} ms  ${r.rawMs ?? '-'} ms  ${r.ratio ?? '-'}x  (${r.oursMBps} ` +
          `/ ${r.rawMBps ?? '-'})  ${r.peakRssMB} MB`,
  );
}
mkdirSync(join('bench', 'results'), { recursive: true });
const out = join('bench', 'results', `rollout-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const note = 'one process: aedes broker, chunk server and all simulated downloaders share the CPU';
const result = { node: process.version, cpus: cpus().length, settings, note, rows };
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}`);

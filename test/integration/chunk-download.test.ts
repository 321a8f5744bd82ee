/**
 * The agent's chunk downloader on its own, over a real broker with real files: chunks
 * damaged in transit and chunks with the wrong digest are fetched again and the result is
 * byte-exact; an attempt stopped in the middle of a window keeps (synced and recorded) what
 * it verified, and the next attempt reuses exactly those chunks and fetches only the rest.
 */
import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import {
  downloadChunks,
  openArtifactStore,
  systemClock,
  type ArtifactStore,
  type ChunkTransport,
} from '@edgefleet/agent';
import {
  createManifestSigner,
  decodeMessage,
  deviceTopic,
  encodeMessage,
  generateSigningKeyPem,
  stripUndefined,
  type Chunk,
  type ChunkNack,
  type ManifestBody,
} from '@edgefleet/shared';
import { startTestBroker } from '../helpers/broker.js';
import { startChunkServer, type ChunkServer } from '../helpers/chunk-server.js';
import { buildClassifier, goldenFor, signedDesired } from '../fixtures/deploy-models.js';

t.setTimeout(60_000);
const signer = createManifestSigner(generateSigningKeyPem());
const artifact = buildClassifier(55, 1024);

interface Rig {
  server: ChunkServer;
  transport: ChunkTransport;
  store: ArtifactStore;
  body: ManifestBody;
}

async function rig(t: Test, deviceId: string): Promise<Rig> {
  const broker = await startTestBroker();
  const server = await startChunkServer(broker.url);
  const device = await mqtt.connectAsync(broker.url, { clientId: deviceId, protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(async () => {
    await device.endAsync(true);
    await server.close();
    await broker.close();
  });
  const handlers = new Set<(m: Chunk | ChunkNack) => void>();
  device.on('message', (topic, payload) => {
    const d = decodeMessage(topic, payload);
    if (d.ok && (d.message.type === 'chunk' || d.message.type === 'chunk-nack')) for (const h of handlers) h(d.message);
  });
  await device.subscribeAsync(deviceTopic(deviceId, 'chunks'), { qos: 1 });
  const desired = signedDesired(signer, {
    deviceId,
    deploymentId: `dl-${deviceId}`,
    variantId: 'v',
    bytes: artifact,
    golden: goldenFor(55),
  });
  await server.publishDesired(desired);
  server.artifacts.set(desired.body.artifact.sha256, artifact);
  const transport: ChunkTransport = {
    request: (r) =>
      device.publishAsync(deviceTopic(deviceId, 'chunk-req'), encodeMessage(r), { qos: 1 }).then(() => undefined),
    listen: (h) => {
      handlers.add(h);
      return () => {
        handlers.delete(h);
      };
    },
  };
  return { server, transport, store: await openArtifactStore(t.testdir()), body: desired.body };
}

const options = (r: Rig, extra: { signal?: AbortSignal; windowTimeoutMs?: number } = {}) => ({
  deviceId: r.body.deviceId,
  store: r.store,
  transport: r.transport,
  clock: systemClock,
  random: () => 0.5,
  windowChunks: 4,
  windowTimeoutMs: extra.windowTimeoutMs ?? 300,
  maxStalls: 6,
  backoff: { initialMs: 10, factor: 2, maxMs: 50, jitter: 0 },
  ...stripUndefined({ signal: extra.signal }),
});

t.test('transit damage and a wrong digest are both fetched again; the artifact is byte-exact', async (t) => {
  const r = await rig(t, 'dl-faults');
  r.server.faults.corruptOnce.add(1);
  r.server.faults.wrongDigestOnce.add(6);
  const counts = await downloadChunks(r.body, options(r));
  const total = r.body.artifact.chunkCount;
  t.same(counts, { total, fetched: total, reused: 0, corrupt: 2 });
  t.equal(r.server.sent.get(1), 2, 'the damaged chunk was sent twice');
  t.equal(r.server.sent.get(6), 2, 'the wrong-digest chunk was sent twice');
  t.ok(Buffer.from(await r.store.read(r.body.artifact.sha256)).equals(artifact), 'stored bytes equal the artifact');
  t.equal(r.server.totalSent(), total + 2, 'nothing else was sent twice');
});

t.test('stopped mid-window: verified chunks are recorded, and only the rest is fetched next time', async (t) => {
  const r = await rig(t, 'dl-resume');
  const total = r.body.artifact.chunkCount;
  r.server.faults.stopAfter = 6;
  const abort = new AbortController();
  // A long window timeout: the second window (chunks 4..7) is still open when we stop.
  const first = downloadChunks(r.body, options(r, { signal: abort.signal, windowTimeoutMs: 30_000 }));
  while (r.server.totalSent() < 6) await new Promise((res) => setTimeout(res, 10));
  await new Promise((res) => setTimeout(res, 200));
  abort.abort();
  t.match(
    await first.then(
      () => null,
      (err: unknown) => err,
    ),
    { details: { step: 'download', reason: 'superseded' } },
    'the stopped attempt says why',
  );
  const kept = JSON.parse(await readFile(r.store.bitmapPath(r.body.artifact.sha256), 'utf8')) as { done: number[] };
  t.same(kept.done, [0, 1, 2, 3, 4, 5], 'the finished window and the two chunks of the open one are recorded');

  const sentBefore = new Map(r.server.sent);
  r.server.faults.stopAfter = null;
  const counts = await downloadChunks(r.body, options(r));
  t.same(counts, { total, fetched: total - 6, reused: 6, corrupt: 0 });
  for (const index of kept.done)
    t.equal(r.server.sent.get(index), sentBefore.get(index), `chunk ${index} not sent again`);
  t.ok(Buffer.from(await r.store.read(r.body.artifact.sha256)).equals(artifact), 'stored bytes equal the artifact');
});

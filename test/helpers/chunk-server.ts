/**
 * A minimal test "chunk server" built only from the shared protocol (schemas, topics, chunk
 * math): it publishes retained desired manifests and answers `chunk-req` from artifacts held
 * in memory, over a real broker. Fault knobs let tests corrupt, tamper with or withhold chunks.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  allDevicesFilter,
  chunkRange,
  decodeMessage,
  deviceTopic,
  encodeMessage,
  PROTOCOL_VERSION,
  requestedIndices,
  sha256Hex,
  type ChunkRequest,
  type DeployReport,
  type Desired,
} from '@edgefleet/shared';

export interface ChunkServerFaults {
  /** Chunk indices sent once with a flipped byte (the message's chunkSha256 stays the original: transit damage). */
  corruptOnce: Set<number>;
  /**
   * Chunk indices sent once with a flipped byte and a chunkSha256 that matches it: consistent, but not the manifest's
   * chunk.
   */
  wrongDigestOnce: Set<number>;
  /** Serve these bytes instead of the real ones (a tampered artifact), sha256 → bytes. */
  tampered: Map<string, Uint8Array>;
  /** Stop answering once this many chunks were sent (null: never). */
  stopAfter: number | null;
}

export interface ChunkServer {
  readonly artifacts: Map<string, Uint8Array>;
  readonly faults: ChunkServerFaults;
  /** Chunks sent, by index (all artifacts). */
  readonly sent: Map<number, number>;
  readonly requests: ChunkRequest[];
  readonly reports: DeployReport[];
  publishDesired(desired: Desired): Promise<void>;
  clearDesired(deviceId: string): Promise<void>;
  /** Resolves with the first report matching `pred` (already received or future). */
  waitReport(pred: (r: DeployReport) => boolean): Promise<DeployReport>;
  totalSent(): number;
  close(): Promise<void>;
}

export async function startChunkServer(brokerUrl: string): Promise<ChunkServer> {
  const client: MqttClient = await mqtt.connectAsync(brokerUrl, {
    clientId: `chunk-server-${process.pid}-${Date.now()}`,
    protocolVersion: 4,
    clean: true,
  });
  const artifacts = new Map<string, Uint8Array>();
  const faults: ChunkServerFaults = {
    corruptOnce: new Set(),
    wrongDigestOnce: new Set(),
    tampered: new Map(),
    stopAfter: null,
  };
  const sent = new Map<number, number>();
  const requests: ChunkRequest[] = [];
  const reports: DeployReport[] = [];
  const waiters: { pred: (r: DeployReport) => boolean; resolve: (r: DeployReport) => void }[] = [];
  const totalSent = () => [...sent.values()].reduce((a, b) => a + b, 0);
  const chunkSizes = new Map<string, number>();

  function handleRequest(req: ChunkRequest): void {
    requests.push(req);
    const bytes = faults.tampered.get(req.sha256) ?? artifacts.get(req.sha256);
    const chunkSize = chunkSizes.get(req.sha256);
    if (!bytes || chunkSize === undefined) {
      void client.publishAsync(
        deviceTopic(req.deviceId, 'chunks'),
        encodeMessage({
          type: 'chunk-nack',
          v: PROTOCOL_VERSION,
          deviceId: req.deviceId,
          deploymentId: req.deploymentId,
          requestId: req.requestId,
          reason: 'unknown-artifact',
          sentAt: Date.now(),
        }),
        { qos: 1 },
      );
      return;
    }
    for (const index of requestedIndices(req)) {
      if (faults.stopAfter !== null && totalSent() >= faults.stopAfter) return;
      const { start, end } = chunkRange(index, chunkSize, bytes.byteLength);
      const data = Buffer.from(bytes.subarray(start, end));
      if (faults.wrongDigestOnce.delete(index)) data[0] = (data[0] ?? 0) ^ 0xff;
      const chunkSha256 = sha256Hex(data);
      if (faults.corruptOnce.delete(index)) data[0] = (data[0] ?? 0) ^ 0xff;
      sent.set(index, (sent.get(index) ?? 0) + 1);
      void client.publishAsync(
        deviceTopic(req.deviceId, 'chunks'),
        encodeMessage({
          type: 'chunk',
          v: PROTOCOL_VERSION,
          deviceId: req.deviceId,
          deploymentId: req.deploymentId,
          sha256: req.sha256,
          requestId: req.requestId,
          index,
          chunkSha256,
          size: data.byteLength,
          data,
          sentAt: Date.now(),
        }),
        { qos: 1 },
      );
    }
  }

  client.on('message', (topic, payload) => {
    const decoded = decodeMessage(topic, payload);
    if (!decoded.ok) return;
    const m = decoded.message;
    if (m.type === 'chunk-req') handleRequest(m);
    if (m.type === 'deploy-report') {
      reports.push(m);
      for (const w of [...waiters])
        if (w.pred(m)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
    }
  });
  await client.subscribeAsync({
    [allDevicesFilter('chunk-req')]: { qos: 1 },
    [allDevicesFilter('events')]: { qos: 1 },
  });

  return {
    artifacts,
    faults,
    sent,
    requests,
    reports,
    totalSent,
    publishDesired: async (desired) => {
      chunkSizes.set(desired.body.artifact.sha256, desired.body.artifact.chunkSize);
      await client.publishAsync(deviceTopic(desired.deviceId, 'desired'), encodeMessage(desired), {
        qos: 1,
        retain: true,
      });
    },
    clearDesired: async (deviceId) => {
      await client.publishAsync(deviceTopic(deviceId, 'desired'), Buffer.alloc(0), { qos: 1, retain: true });
    },
    waitReport: (pred) => {
      const found = reports.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    close: async () => {
      await client.endAsync(true);
    },
  };
}

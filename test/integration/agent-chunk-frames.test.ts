/**
 * Binary chunk frames [EF-PROTO 6.4] end to end through the embedded broker (its size guard
 * on, ordinary limit 1 KiB) into the agent's link: a full 128 KiB frame passes the guard and
 * reaches the handler byte for byte, broken frames are counted by reason without closing
 * anything, and a frame over the chunk limit is refused by the broker.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { createAgentLink } from '@edgefleet/agent';
import { startEmbeddedBroker } from '@edgefleet/server';
import {
  CHUNK_FRAME_MAGIC,
  deviceTopic,
  encodeMessage,
  MAX_CHUNK_BYTES,
  MAX_CHUNK_MESSAGE_BYTES,
  sha256Hex,
  type AnyMessage,
  type Chunk,
  type RejectReason,
} from '@edgefleet/shared';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';

const ID = 'dev-frames';

function bytesOf(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 1) b[i] = (i * 131 + 17) & 0xff;
  return b;
}

function chunk(data: Buffer, index: number): Chunk {
  return {
    type: 'chunk',
    v: 1,
    deviceId: ID,
    deploymentId: 'dep-f',
    sha256: 'b'.repeat(64),
    requestId: 0,
    index,
    chunkSha256: sha256Hex(data),
    size: data.byteLength,
    data,
    sentAt: 1,
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('full frames pass the broker guard and reach the agent; broken ones are counted by reason', async (t) => {
  const refused: RejectReason[] = [];
  const broker = await startEmbeddedBroker({
    port: 0,
    host: '127.0.0.1',
    drainTimeoutMs: 5_000,
    maxPayloadBytes: 1024,
    logger: pino({ level: 'silent' }),
    onReject: (r) => refused.push(r.reason),
  });
  t.teardown(() => broker.close());
  const link = createAgentLink(
    linkOptions({ brokerUrl: broker.url, deviceId: ID, logger: recordingLogger().logger, maxPayloadBytes: 1024 }),
  );
  t.teardown(() => link.stop());
  const received: AnyMessage[] = [];
  link.on('chunks', (m) => {
    if (m) received.push(m);
  });
  await link.start();
  const sender = await mqtt.connectAsync(broker.url, {
    clientId: 'frame-sender',
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  t.teardown(() => sender.endAsync(true));

  const full = bytesOf(MAX_CHUNK_BYTES);
  // The link subscribes right after CONNACK; resend until the subscription is live.
  while (received.length === 0) {
    await sender.publishAsync(deviceTopic(ID, 'chunks'), encodeMessage(chunk(full, 0)), { qos: 1 });
    await new Promise((r) => setTimeout(r, 50));
  }
  const first = received[0];
  t.equal(first?.type, 'chunk');
  if (first?.type === 'chunk') t.ok(Buffer.from(first.data).equals(full), 'all 128 KiB arrive unchanged');

  const good = encodeMessage(chunk(bytesOf(2048), 1));
  const badMagic = Buffer.from(good);
  badMagic[3] = 0x32;
  const broken: Array<[Buffer, RejectReason]> = [
    [badMagic, 'malformed-json'],
    [Buffer.from(CHUNK_FRAME_MAGIC), 'malformed-json'],
    [good.subarray(0, good.byteLength - 1), 'schema'],
    [Buffer.from(JSON.stringify({ ...chunk(bytesOf(16), 2), data: bytesOf(16).toString('base64') })), 'schema'],
  ];
  for (const [payload] of broken) await sender.publishAsync(deviceTopic(ID, 'chunks'), payload, { qos: 1 });
  // QoS 1 from one publisher keeps order: once this chunk is in, every broken one was handled.
  await sender.publishAsync(deviceTopic(ID, 'chunks'), good, { qos: 1 });
  await until(() => received.some((m) => m.type === 'chunk' && m.index === 1), 'the good frame after the broken ones');
  const rejected = link.stats().rejected;
  t.equal(rejected['malformed-json'], 2, 'bad magic and a bare magic: malformed-json');
  t.equal(rejected.schema, 2, 'data one byte short, and a JSON chunk with base64 data: schema');
  const after = received
    .filter((m) => m.type !== 'chunk' || m.index !== 0)
    .map((m) => (m.type === 'chunk' ? m.index : m.type));
  t.same(after, [1], 'of everything after the full frame, only the well-formed chunk reached the handler');
  t.equal(refused.length, 0, 'the broker refused none of them');
  t.ok(sender.connected, 'the sender stays connected');

  const big = await mqtt.connectAsync(broker.url, {
    clientId: 'frame-oversize',
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
  big.publish(deviceTopic(ID, 'chunks'), Buffer.concat([good, Buffer.alloc(MAX_CHUNK_MESSAGE_BYTES)]), { qos: 1 });
  await closed;
  await big.endAsync(true);
  t.same(refused, ['oversize'], 'a frame over the chunk limit is refused at the broker');
  t.equal(link.stats().state, 'online');
});

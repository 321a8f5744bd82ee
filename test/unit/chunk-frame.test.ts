/**
 * The binary chunk frame [EF-PROTO 6.4]: round trips through the one encoder and decoder,
 * every malformed shape rejected with a reason (never a throw), the size limits, and the
 * embedded broker's guard letting a full frame through on `chunks` only.
 */
import t from 'tap';
import { checkPublish } from '@edgefleet/server/broker/guard';
import {
  CHUNK_FRAME_MAGIC,
  CHUNK_FRAME_PREFIX_BYTES,
  decodeMessage,
  deviceTopic,
  encodeChunkFrame,
  encodeMessage,
  MAX_CHUNK_BYTES,
  MAX_CHUNK_FRAME_HEADER_BYTES,
  MAX_CHUNK_MESSAGE_BYTES,
  sha256Hex,
  type Chunk,
  type ChunkNack,
} from '@edgefleet/shared';

const ID = 'dev-1';
const TOPIC = deviceTopic(ID, 'chunks');

/** Deterministic bytes, so a failure names the same chunk every run. */
function bytesOf(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 1) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function chunkOf(data: Buffer, extra: Partial<Chunk> = {}): Chunk {
  return {
    type: 'chunk',
    v: 1,
    deviceId: ID,
    deploymentId: 'dep-1',
    sha256: 'a'.repeat(64),
    requestId: 3,
    index: 5,
    chunkSha256: sha256Hex(data),
    size: data.byteLength,
    data,
    sentAt: 1_700_000_000_000,
    ...extra,
  };
}

function headerOf(data: Buffer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { data: _bytes, ...header } = chunkOf(data);
  return { ...header, ...extra };
}

/** A frame assembled by hand, so every field of the prefix can be wrong on purpose. */
function rawFrame(parts: { magic?: ArrayLike<number>; headerLength?: number; header: Buffer; data: Buffer }): Buffer {
  const prefix = Buffer.alloc(CHUNK_FRAME_PREFIX_BYTES);
  prefix.set(parts.magic ?? CHUNK_FRAME_MAGIC, 0);
  prefix.writeUInt32BE(parts.headerLength ?? parts.header.byteLength, 4);
  return Buffer.concat([prefix, parts.header, parts.data]);
}

const json = (x: unknown) => Buffer.from(JSON.stringify(x));

t.test('a chunk round-trips through encodeMessage and decodeMessage as a binary frame', async (t) => {
  for (const n of [1, 1000, MAX_CHUNK_BYTES]) {
    const chunk = chunkOf(bytesOf(n));
    const wire = encodeMessage(chunk);
    t.same([...wire.subarray(0, 4)], [...CHUNK_FRAME_MAGIC], `${n} bytes: starts with the magic`);
    t.ok(wire.byteLength - n < 600, `${n} bytes: ${wire.byteLength - n} bytes of framing, no base64`);
    const r = decodeMessage(TOPIC, wire);
    t.ok(r.ok, `${n} bytes decode`);
    if (!r.ok || r.message.type !== 'chunk') continue;
    const { data, ...header } = r.message;
    const { data: sent, ...sentHeader } = chunk;
    t.same(header, sentHeader, `${n} bytes: header fields unchanged`);
    t.ok(Buffer.from(data).equals(sent), `${n} bytes: data unchanged`);
  }
});

t.test('a full chunk is accepted on chunks even when the ordinary limit is far smaller', async (t) => {
  const wire = encodeMessage(
    chunkOf(bytesOf(MAX_CHUNK_BYTES), {
      deploymentId: `d${'x'.repeat(127)}`,
      deviceId: ID,
      requestId: Number.MAX_SAFE_INTEGER,
    }),
  );
  t.ok(wire.byteLength <= MAX_CHUNK_MESSAGE_BYTES, `${wire.byteLength} ≤ ${MAX_CHUNK_MESSAGE_BYTES}`);
  t.ok(decodeMessage(TOPIC, wire, { maxPayloadBytes: 1024 }).ok);
});

t.test('chunk-nack stays JSON on the same channel', async (t) => {
  const nack: ChunkNack = {
    type: 'chunk-nack',
    v: 1,
    deviceId: ID,
    deploymentId: 'dep-1',
    requestId: 1,
    reason: 'busy',
    retryAfterMs: 500,
    sentAt: 1,
  };
  const wire = encodeMessage(nack);
  t.equal(wire[0], '{'.charCodeAt(0));
  t.match(decodeMessage(TOPIC, wire), { ok: true, message: nack });
});

const data = bytesOf(4096);
const good = json(headerOf(data));
// [name, payload, reason]: every way a payload on `chunks` can be wrong.
const MALFORMED: Array<[string, Buffer, string]> = [
  ['bad magic', rawFrame({ magic: Buffer.from('EFC2'), header: good, data }), 'malformed-json'],
  ['binary garbage', bytesOf(64, 200), 'malformed-json'],
  ['magic alone', Buffer.from(CHUNK_FRAME_MAGIC), 'malformed-json'],
  ['prefix cut short', rawFrame({ header: good, data }).subarray(0, 6), 'malformed-json'],
  ['header length zero', rawFrame({ headerLength: 0, header: Buffer.alloc(0), data }), 'malformed-json'],
  [
    'header length beyond the payload',
    rawFrame({ headerLength: good.byteLength + data.byteLength + 1, header: good, data }),
    'malformed-json',
  ],
  [
    'header length over the limit',
    rawFrame({ headerLength: MAX_CHUNK_FRAME_HEADER_BYTES + 1, header: good, data }),
    'malformed-json',
  ],
  [
    'header cut (length one short)',
    rawFrame({ headerLength: good.byteLength - 1, header: good, data }),
    'malformed-json',
  ],
  ['header not JSON', rawFrame({ header: Buffer.from('{"type":"chunk",'), data }), 'malformed-json'],
  ['header an array', rawFrame({ header: json(['chunk']), data }), 'malformed-json'],
  ['header carries data', rawFrame({ header: json(headerOf(data, { data: 'AAAA' })), data }), 'schema'],
  ['data shorter than size', rawFrame({ header: good, data: data.subarray(1) }), 'schema'],
  ['data longer than size', rawFrame({ header: good, data: Buffer.concat([data, Buffer.alloc(1)]) }), 'schema'],
  ['no data at all', rawFrame({ header: good, data: Buffer.alloc(0) }), 'schema'],
  ['size zero', rawFrame({ header: json(headerOf(data, { size: 0 })), data: Buffer.alloc(0) }), 'schema'],
  [
    'size above 128 KiB',
    rawFrame({ header: json(headerOf(data, { size: MAX_CHUNK_BYTES + 1 })), data: bytesOf(MAX_CHUNK_BYTES + 1) }),
    'schema',
  ],
  [
    'header misses chunkSha256',
    rawFrame({ header: json({ ...headerOf(data), chunkSha256: undefined }), data }),
    'schema',
  ],
  ['header with an unknown field', rawFrame({ header: json(headerOf(data, { priority: 1 })), data }), 'schema'],
  ['wrong protocol version', rawFrame({ header: json(headerOf(data, { v: 2 })), data }), 'schema'],
  ['negative index', rawFrame({ header: json(headerOf(data, { index: -1 })), data }), 'schema'],
  ['old JSON chunk with base64 data', json({ ...headerOf(data), data: data.toString('base64') }), 'schema'],
  [
    'a chunk-nack inside a frame',
    rawFrame({
      header: json({
        type: 'chunk-nack',
        v: 1,
        deviceId: ID,
        deploymentId: 'dep-1',
        requestId: 1,
        reason: 'busy',
        sentAt: 1,
      }),
      data,
    }),
    'schema',
  ],
  ['unknown type in the header', rawFrame({ header: json(headerOf(data, { type: 'blob' })), data }), 'unknown-type'],
  ['a hello inside a frame', rawFrame({ header: json({ type: 'hello', v: 1 }), data }), 'wrong-channel'],
  [
    "someone else's device id",
    rawFrame({ header: json(headerOf(data, { deviceId: 'dev-2' })), data }),
    'device-mismatch',
  ],
  [
    'frame over the chunk message limit',
    rawFrame({ header: good, data: bytesOf(MAX_CHUNK_MESSAGE_BYTES) }),
    'oversize',
  ],
];

for (const [name, payload, reason] of MALFORMED) {
  t.test(`rejects ${name} as ${reason}`, async (t) => {
    let r: ReturnType<typeof decodeMessage> | undefined;
    // A small ordinary limit: chunks keep their own (MAX_CHUNK_MESSAGE_BYTES), nothing more.
    t.doesNotThrow(() => {
      r = decodeMessage(TOPIC, payload, { maxPayloadBytes: 1024 });
    });
    t.match(r, { ok: false, reason, deviceId: ID });
    if (r && !r.ok) t.ok(r.detail.length > 0, r.detail);
  });
}

t.test('a chunk frame belongs on chunks only', async (t) => {
  const wire = encodeMessage(chunkOf(data));
  t.match(decodeMessage(deviceTopic(ID, 'desired'), wire), { ok: false, reason: 'wrong-channel' });
  t.match(decodeMessage(deviceTopic(ID, 'commands'), wire), { ok: false, reason: 'wrong-channel' });
});

t.test('the encoder refuses what it could never decode (programmer errors throw)', async (t) => {
  t.throws(() => encodeChunkFrame({ ...headerOf(data), data: 'x' }, data), TypeError);
  t.throws(
    () => encodeChunkFrame({ ...headerOf(data), deploymentId: 'x'.repeat(MAX_CHUNK_FRAME_HEADER_BYTES) }, data),
    RangeError,
  );
});

t.test('the embedded broker guard passes a full frame on chunks and nowhere else', async (t) => {
  const limits = { maxPayloadBytes: 1024 };
  t.equal(checkPublish(TOPIC, MAX_CHUNK_MESSAGE_BYTES, limits), null, 'a full frame passes on chunks');
  t.match(checkPublish(TOPIC, MAX_CHUNK_MESSAGE_BYTES + 1, limits), { reason: 'oversize', deviceId: ID });
  t.match(checkPublish(deviceTopic(ID, 'desired'), MAX_CHUNK_MESSAGE_BYTES, limits), { reason: 'oversize' });
});

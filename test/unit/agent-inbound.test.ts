/**
 * The inbound gate on its own: reasons, per-reason log throttling on an injected clock, cleared desired state, chunk
 * frames.
 */
import t from 'tap';
import { REJECT_LOG_INTERVAL_MS } from '@edgefleet/agent';
import { createInboundGate } from '@edgefleet/agent/link/inbound';
import {
  deviceTopic,
  encodeMessage,
  MAX_CHUNK_BYTES,
  MAX_CHUNK_MESSAGE_BYTES,
  sha256Hex,
  type Chunk,
} from '@edgefleet/shared';
import { createFakeClock } from '../helpers/fake-clock.js';
import { recordingLogger } from '../helpers/agent-fixtures.js';

const ID = 'dev-1';
const ping = { type: 'command', v: 1, deviceId: ID, commandId: 'c', name: 'ping', sentAt: 1 };
const b = (x: unknown) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x));

t.test('accepts its own commands, rejects the rest by reason', async (t) => {
  const clock = createFakeClock();
  const gate = createInboundGate({ deviceId: ID, logger: recordingLogger().logger, clock });
  t.match(gate.accept(deviceTopic(ID, 'commands'), b(ping)), {
    kind: 'message',
    channel: 'commands',
    message: { commandId: 'c' },
  });
  const table: Array<[string, Uint8Array, string]> = [
    [deviceTopic(ID, 'commands'), b('nope'), 'malformed-json'],
    [deviceTopic(ID, 'commands'), b({ ...ping, name: 'x' }), 'schema'],
    [deviceTopic(ID, 'commands'), b({ type: 'x', v: 1 }), 'unknown-type'],
    [deviceTopic('dev-2', 'commands'), b({ ...ping, deviceId: 'dev-2' }), 'device-mismatch'],
    [
      deviceTopic(ID, 'heartbeat'),
      b({ type: 'heartbeat', v: 1, deviceId: ID, seq: 0, uptimeMs: 0, currentModel: null, sentAt: 1 }),
      'wrong-channel',
    ],
    ['elsewhere/topic', b(ping), 'bad-topic'],
    [deviceTopic(ID, 'commands'), Buffer.alloc(0), 'malformed-json'],
  ];
  for (const [topic, payload, reason] of table)
    t.match(gate.accept(topic, payload), { kind: 'rejected', reason }, `${topic} → ${reason}`);
  t.match(gate.rejected(), {
    'malformed-json': 2,
    schema: 1,
    'unknown-type': 1,
    'device-mismatch': 1,
    'wrong-channel': 1,
    'bad-topic': 1,
    oversize: 0,
  });
  t.same(gate.accept(deviceTopic(ID, 'desired'), Buffer.alloc(0)), { kind: 'cleared', channel: 'desired' });
});

t.test('logs at most once per reason per minute and says how many it skipped', async (t) => {
  const clock = createFakeClock();
  const { logger, lines } = recordingLogger();
  const gate = createInboundGate({ deviceId: ID, logger, clock });
  const junk = () => gate.accept(deviceTopic(ID, 'commands'), b('{'));
  for (let i = 0; i < 50; i += 1) junk();
  gate.accept(deviceTopic(ID, 'commands'), b({ type: 'x', v: 1 }));
  t.equal(lines.length, 2, 'one line per reason');
  clock.advance(REJECT_LOG_INTERVAL_MS - 1);
  junk();
  t.equal(lines.length, 2, 'still inside the minute');
  clock.advance(1);
  junk();
  t.equal(lines.length, 3);
  t.match(lines[2], { reason: 'malformed-json', suppressedSinceLastLog: 50, msg: 'rejected inbound message' });
  t.equal(gate.rejected()['malformed-json'], 52);
});

t.test(
  'chunk frames: accepted on chunks within the chunk limit whatever the ordinary one, broken ones rejected by reason',
  async (t) => {
    const clock = createFakeClock();
    const gate = createInboundGate({ deviceId: ID, logger: recordingLogger().logger, clock, maxPayloadBytes: 1024 });
    const data = Buffer.alloc(MAX_CHUNK_BYTES, 0x5a);
    const chunk: Chunk = {
      type: 'chunk',
      v: 1,
      deviceId: ID,
      deploymentId: 'd-1',
      sha256: 'c'.repeat(64),
      requestId: 0,
      index: 0,
      chunkSha256: sha256Hex(data),
      size: data.byteLength,
      data,
      sentAt: 1,
    };
    const frame = encodeMessage(chunk);
    const accepted = gate.accept(deviceTopic(ID, 'chunks'), frame);
    t.match(accepted, {
      kind: 'message',
      channel: 'chunks',
      message: { type: 'chunk', index: 0, size: MAX_CHUNK_BYTES },
    });
    const table: Array<[string, Uint8Array, string]> = [
      [deviceTopic(ID, 'chunks'), frame.subarray(0, 7), 'malformed-json'],
      [deviceTopic(ID, 'chunks'), frame.subarray(0, frame.byteLength - 1), 'schema'],
      [deviceTopic(ID, 'commands'), encodeMessage({ ...chunk, data: data.subarray(0, 16), size: 16 }), 'wrong-channel'],
      [deviceTopic(ID, 'chunks'), Buffer.concat([frame, Buffer.alloc(MAX_CHUNK_MESSAGE_BYTES)]), 'oversize'],
    ];
    for (const [topic, payload, reason] of table)
      t.match(gate.accept(topic, payload), { kind: 'rejected', reason }, `${topic} → ${reason}`);
    t.match(gate.rejected(), { 'malformed-json': 1, schema: 1, 'wrong-channel': 1, oversize: 1 });
  },
);

import t from 'tap';
import { decodeMessage, deviceTopic, encodeMessage, parseTopic, type Hello } from '@edgefleet/shared';

const hello: Hello = {
  type: 'hello',
  v: 1,
  deviceId: 'dev-1',
  deviceClass: 'rpi4',
  agentVersion: '0.1.0',
  runtime: { node: 'v20', onnxruntime: '1.30.0' },
  capabilities: {
    cpuModel: 'x',
    cores: 4,
    memoryBytes: 1024,
    executionProviders: ['cpu'],
    precisions: ['fp32'],
    powerSource: 'none',
  },
  currentModel: null,
  sentAt: 1,
};

t.test('topics round-trip through build and parse', async (t) => {
  t.same(parseTopic(deviceTopic('dev-1', 'hello')), {
    deviceId: 'dev-1',
    channel: 'hello',
    direction: 'device-to-server',
  });
  t.same(parseTopic(deviceTopic('dev-1', 'desired'))?.direction, 'server-to-device');
  t.equal(parseTopic('ef/v1/devices/+/hello'), null);
  t.equal(parseTopic('other/topic'), null);
  t.throws(() => deviceTopic('a/b', 'hello'));
});

const table: Array<[string, string, Uint8Array, string]> = [
  ['bad topic', 'ef/v2/devices/x/hello', Buffer.from('{}'), 'bad-topic'],
  ['oversize', deviceTopic('dev-1', 'hello'), Buffer.alloc(300 * 1024, 32), 'oversize'],
  ['malformed json', deviceTopic('dev-1', 'hello'), Buffer.from('{not json'), 'malformed-json'],
  ['unknown type', deviceTopic('dev-1', 'hello'), Buffer.from('{"type":"nope","v":1}'), 'unknown-type'],
  ['wrong channel', deviceTopic('dev-1', 'status'), encodeMessage(hello), 'wrong-channel'],
  [
    'schema',
    deviceTopic('dev-1', 'hello'),
    Buffer.from(JSON.stringify({ ...hello, capabilities: { cores: -1 } })),
    'schema',
  ],
  ['device mismatch', deviceTopic('dev-2', 'hello'), encodeMessage(hello), 'device-mismatch'],
];

for (const [name, topic, payload, reason] of table) {
  t.test(`rejects ${name}`, async (t) => {
    const r = decodeMessage(topic, payload);
    t.equal(r.ok, false);
    if (!r.ok) t.equal(r.reason, reason, r.detail);
  });
}

t.test('accepts a valid hello', async (t) => {
  const r = decodeMessage(deviceTopic('dev-1', 'hello'), encodeMessage(hello));
  t.ok(r.ok);
  if (r.ok) t.equal(r.message.type, 'hello');
});

/**
 * Every kind of bad input, sent over real MQTT to a running server: each is rejected and
 * counted under its reason, and normal traffic keeps working afterwards.
 */
import t from 'tap';
import { connectAsync, type MqttClient } from 'mqtt';
import { deviceTopic, encodeMessage, REJECT_REASONS, type Hello, type RejectReason } from '@edgefleet/shared';
import { startEmbeddedBroker } from '@edgefleet/server';
import { capabilitiesFor, makeServer, startAgent, waitFor } from './presence-suite.js';

const hello = (deviceId: string): Hello => ({
  type: 'hello',
  v: 1,
  deviceId,
  deviceClass: 'rpi4',
  agentVersion: '0.0.1',
  runtime: { node: process.version, onnxruntime: '1.30.0' },
  capabilities: capabilitiesFor(1),
  currentModel: null,
  sentAt: Date.now(),
});

async function rawClient(url: string, clientId: string): Promise<MqttClient> {
  return connectAsync(url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
}

/** Bad messages the server itself rejects when decoding; the publisher stays connected. */
const DECODED: Array<[RejectReason, string, Buffer | string]> = [
  ['malformed-json', deviceTopic('bad-1', 'hello'), '{"type": "hello", '],
  ['schema', deviceTopic('bad-1', 'hello'), JSON.stringify({ ...hello('bad-1'), capabilities: { cores: -3 } })],
  ['unknown-type', deviceTopic('bad-1', 'hello'), JSON.stringify({ type: 'reboot-now', v: 1 })],
  ['wrong-channel', deviceTopic('bad-1', 'heartbeat'), encodeMessage(hello('bad-1'))],
  ['device-mismatch', deviceTopic('bad-1', 'hello'), encodeMessage(hello('someone-else'))],
];

/** Bad publishes the embedded broker refuses before delivery; it closes the publisher's connection. */
const REFUSED: Array<[RejectReason, string, Buffer | string]> = [
  ['bad-topic', 'not/edgefleet/at-all', '{}'],
  ['bad-topic', 'ef/v1/devices/bad-2/no-such-channel', '{}'],
  ['oversize', deviceTopic('bad-2', 'hello'), Buffer.alloc(300 * 1024, 0x20)],
];

t.test('embedded broker: every bad kind is rejected and counted, then normal traffic works', async (t) => {
  const server = makeServer(t.testdir(), null);
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const bad = await rawClient(brokerUrl, 'bad-1');
  t.teardown(() => bad.endAsync(true));
  for (const [, topic, payload] of DECODED) await bad.publishAsync(topic, payload, { qos: 1 });
  await waitFor(() => server.rejections.total() === DECODED.length, 5_000, 'decode rejections counted');
  t.ok(bad.connected, 'a publisher of undecodable messages is not disconnected');

  for (const [reason, topic, payload] of REFUSED) {
    const client = await rawClient(brokerUrl, `bad-2-${reason}-${topic.length}`);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(topic, payload, { qos: 1 });
    await closed;
    t.pass(`${reason} (${topic.slice(0, 40)}): the broker closed the publisher's connection`);
    await client.endAsync(true);
  }
  const expected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  for (const [reason] of [...DECODED, ...REFUSED]) expected[reason] += 1;
  t.same(server.rejections.counts(), expected, 'each reason counted exactly as sent');
  t.equal((await server.repos().devices.list()).length, 0, 'nothing bad reached the registry');

  const agent = startAgent(brokerUrl, { deviceId: 'good-1', deviceClass: 'rpi4', capabilities: capabilitiesFor(0) }, 5);
  t.teardown(() => agent.stop());
  await waitFor(
    async () => (await server.repos().devices.get('good-1'))?.state === 'online',
    5_000,
    'a good agent registered',
  );
  await bad.publishAsync(deviceTopic('bad-1', 'hello'), encodeMessage(hello('bad-1')), { qos: 1 });
  await waitFor(
    async () => (await server.repos().devices.get('bad-1')) !== null,
    5_000,
    'the formerly bad client registers with a valid hello',
  );
  t.equal(server.rejections.total(), DECODED.length + REFUSED.length, 'valid traffic adds no rejections');
});

t.test('external broker: the server still rejects oversize payloads when it decodes them', async (t) => {
  const external = await startEmbeddedBroker({ port: 0 });
  t.teardown(() => external.close());
  const server = makeServer(t.testdir(), external.url);
  t.teardown(() => server.stop());
  await server.start();
  const client = await rawClient(external.url, 'big-1');
  t.teardown(() => client.endAsync(true));
  await client.publishAsync(deviceTopic('big-1', 'hello'), Buffer.alloc(300 * 1024, 0x20), { qos: 1 });
  await client.publishAsync(deviceTopic('big-1', 'hello'), encodeMessage(hello('big-1')), { qos: 1 });
  await waitFor(
    async () => (await server.repos().devices.get('big-1')) !== null,
    5_000,
    'the valid hello after the oversize one',
  );
  t.equal(server.rejections.counts().oversize, 1);
  t.ok(client.connected, 'an external broker keeps the publisher connected');
});

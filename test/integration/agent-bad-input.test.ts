/**
 * Garbage on the agent's own server-to-device topics, over a real broker: every kind is
 * rejected and counted by reason, logged at most once per reason per minute, nothing
 * crashes, valid commands still get through and heartbeats keep flowing.
 */
import t from 'tap';
import { createAgentLink, REJECT_LOG_INTERVAL_MS } from '@edgefleet/agent';
import { deviceTopic, encodeMessage, type AnyMessage, type Hello } from '@edgefleet/shared';
import { startTestBroker } from '../helpers/broker.js';
import { watchTopics } from '../helpers/mqtt-watch.js';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';

const ID = 'dev-bad';
const hello: Hello = {
  type: 'hello',
  v: 1,
  deviceId: ID,
  deviceClass: 'rpi4',
  agentVersion: '0.1.0',
  runtime: { node: 'v20', onnxruntime: '1.30.0' },
  capabilities: {
    cpuModel: 'x',
    cores: 1,
    memoryBytes: 1,
    executionProviders: ['cpu'],
    precisions: ['fp32'],
    powerSource: 'none',
  },
  currentModel: null,
  sentAt: 1,
};
const ping = { type: 'command', v: 1, deviceId: ID, commandId: 'ok-1', name: 'ping', sentAt: 1 };

// [name, channel, payload, reason]
const ack = { type: 'telemetry-ack', v: 1, deviceId: ID, windows: [0], breaches: [], sentAt: 1 };
const BAD: Array<[string, 'commands' | 'desired' | 'telemetry-ack', Buffer, string]> = [
  ['malformed JSON', 'commands', Buffer.from('{"type": "command", '), 'malformed-json'],
  ['not JSON at all', 'desired', Buffer.from([0xff, 0xfe, 0x00]), 'malformed-json'],
  ['unknown type', 'commands', Buffer.from(JSON.stringify({ type: 'reboot-now', v: 1 })), 'unknown-type'],
  ['no type', 'desired', Buffer.from('[1,2,3]'), 'unknown-type'],
  ['wrong schema (bad name)', 'commands', Buffer.from(JSON.stringify({ ...ping, name: 'format-disk' })), 'schema'],
  [
    'wrong schema (extra field on a strict command)',
    'commands',
    Buffer.from(JSON.stringify({ ...ping, sudo: true })),
    'schema',
  ],
  ['wrong version', 'commands', Buffer.from(JSON.stringify({ ...ping, v: 99 })), 'schema'],
  ['message for the wrong channel', 'commands', encodeMessage(hello), 'wrong-channel'],
  [
    "someone else's device id",
    'commands',
    Buffer.from(JSON.stringify({ ...ping, deviceId: 'other' })),
    'device-mismatch',
  ],
  ['oversize', 'commands', Buffer.alloc(4096, 0x20), 'oversize'],
  [
    'an acknowledgement with a negative seq',
    'telemetry-ack',
    Buffer.from(JSON.stringify({ ...ack, windows: [-1] })),
    'schema',
  ],
  [
    'an acknowledgement for another device',
    'telemetry-ack',
    Buffer.from(JSON.stringify({ ...ack, deviceId: 'other' })),
    'device-mismatch',
  ],
  ['a command on the acknowledgement channel', 'telemetry-ack', Buffer.from(JSON.stringify(ping)), 'wrong-channel'],
];

t.test('every kind of bad input is counted by reason and the link keeps working', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const { logger, lines } = recordingLogger();
  const link = createAgentLink(
    linkOptions({ brokerUrl: broker.url, deviceId: ID, logger, maxPayloadBytes: 1024, heartbeatMs: 100 }),
  );
  t.teardown(() => link.stop());
  const commands: Array<AnyMessage | null> = [];
  const desired: Array<AnyMessage | null> = [];
  link.on('commands', (m) => commands.push(m));
  link.on('desired', (m) => desired.push(m));
  link.on('commands', () => {
    throw new Error('a buggy handler');
  });
  const watch = await watchTopics(broker.url, deviceTopic(ID, 'heartbeat'));
  t.teardown(() => watch.close());
  await link.start();

  const sender = watch.client;
  // The link subscribes right after CONNACK; ping until the subscription is live, so no bad
  // message below can be lost to a race.
  const deadline = Date.now() + 10_000;
  while (commands.length === 0 && Date.now() < deadline) {
    await sender.publishAsync(deviceTopic(ID, 'commands'), Buffer.from(JSON.stringify(ping)), { qos: 1 });
    await new Promise((r) => setTimeout(r, 50));
  }
  commands.length = 0;
  for (let round = 0; round < 2; round += 1) {
    for (const [, channel, payload] of BAD) await sender.publishAsync(deviceTopic(ID, channel), payload, { qos: 1 });
  }
  await sender.publishAsync(deviceTopic(ID, 'desired'), Buffer.alloc(0), { qos: 1, retain: true });
  // QoS 1 from one publisher keeps order, so once this ping has arrived every bad message
  // before it has been handled.
  await sender.publishAsync(deviceTopic(ID, 'commands'), Buffer.from(JSON.stringify({ ...ping, commandId: 'ok-2' })), {
    qos: 1,
  });
  const until = Date.now() + 10_000;
  while (!commands.some((c) => c?.type === 'command' && c.commandId === 'ok-2') && Date.now() < until)
    await new Promise((r) => setTimeout(r, 20));
  t.match(
    commands.at(-1),
    { type: 'command', commandId: 'ok-2' },
    'a valid command still gets through after the garbage',
  );

  const expected: Record<string, number> = {};
  for (const [, , , reason] of BAD) expected[reason] = (expected[reason] ?? 0) + 2;
  const stats = link.stats();
  for (const [reason, count] of Object.entries(expected)) {
    t.equal(stats.rejected[reason as keyof typeof stats.rejected], count, `${reason} counted`);
  }
  t.equal(stats.rejected['bad-topic'], 0);
  t.same(desired, [null], 'a zero-length publish on desired means "cleared", not an error');
  t.ok(stats.handlerErrors >= 1, 'a throwing handler is counted, not fatal');

  // At most one log line per reason within the minute, however many arrived.
  const rejectLines = lines.filter((l) => l.msg === 'rejected inbound message');
  const perReason = new Map<string, number>();
  for (const l of rejectLines) perReason.set(String(l.reason), (perReason.get(String(l.reason)) ?? 0) + 1);
  t.same(
    [...perReason.values()].every((n) => n === 1),
    true,
    `one line per reason in ${REJECT_LOG_INTERVAL_MS} ms`,
  );
  t.equal(perReason.size, Object.keys(expected).length);

  const beatsBefore = watch.seen.length;
  await watch.waitFor((m) => watch.seen.indexOf(m) >= beatsBefore + 2, 5_000, 'two more heartbeats after the garbage');
  t.equal(link.stats().state, 'online');
});

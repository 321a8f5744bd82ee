/**
 * MQTT fuzz (issue 18 suite, findings 4 and 5): an authenticated device sends seeded
 * mutations of valid messages on every device → server channel (structure-aware and
 * byte-level) while a well-behaved device keeps sending telemetry. Found: no handler throws,
 * every rejection is counted exactly once under the reason the shared decoder gives, and the
 * good device loses no window. Each mutated payload is also decoded here: decoding never
 * throws.
 */
import t from 'tap';
import type { MqttClient } from 'mqtt';
import {
  decodeMessage,
  deviceTopic,
  encodeMessage,
  MESSAGE_SCHEMAS,
  type AnyMessage,
  type DeviceChannel,
  type Hello,
} from '@edgefleet/shared';
import { connect, makeAuthServer } from '../helpers/auth.js';
import { mutate, prng, type Mutation } from '../helpers/fuzz.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';
import { capabilitiesFor, waitFor } from './presence-suite.js';

/** Mutated payloads per channel (6 channels): bounded so the test takes seconds. */
const PER_CHANNEL = 400;
const SEED = 18;
const SHA = 'c'.repeat(64);
const ID = 'fuzz-1';

const hello: Hello = {
  type: 'hello',
  v: 1,
  deviceId: ID,
  deviceClass: 'rpi4',
  agentVersion: '0.0.1',
  runtime: { node: process.version, onnxruntime: '1.30.0' },
  capabilities: capabilitiesFor(1),
  currentModel: null,
  sentAt: 1,
};

/** One valid message per device → server channel (two on `events`), the seeds of the mutations. */
const SEEDS: Array<[DeviceChannel, AnyMessage]> = [
  ['hello', hello],
  ['status', { type: 'status', v: 1, deviceId: ID, state: 'online', reason: 'connect', sentAt: 1 }],
  ['heartbeat', { type: 'heartbeat', v: 1, deviceId: ID, seq: 0, uptimeMs: 5, currentModel: null, sentAt: 2 }],
  ['telemetry', telemetryWindow(ID, 0, { inferences: 10 })],
  [
    'events',
    {
      type: 'breach',
      v: 1,
      deviceId: ID,
      deviceClass: 'rpi4',
      budget: 'latencyP95Ms',
      state: 'breached',
      measured: 80,
      limit: 50,
      unit: 'ms',
      breachedWindows: 3,
      k: 3,
      n: 5,
      windowSeqs: [0, 1, 2, 3, 4],
      model: null,
      throttled: false,
      sentAt: 1,
    },
  ],
  [
    'events',
    {
      type: 'deploy-report',
      v: 1,
      deviceId: ID,
      deploymentId: 'ro-x-0001',
      rolloutId: 'ro-x',
      variantId: 'v2',
      sha256: SHA,
      state: 'succeeded',
      chunks: { total: 1, fetched: 1, reused: 0, corrupt: 0 },
      serving: null,
      sentAt: 0,
    },
  ],
  [
    'chunk-req',
    {
      type: 'chunk-req',
      v: 1,
      deviceId: ID,
      deploymentId: 'ro-x-0001',
      sha256: SHA,
      requestId: 1,
      offset: 0,
      count: 4,
      sentAt: 1,
    },
  ],
];

t.test(
  'fuzzing every device channel: no throw, each rejection counted once, the good device loses nothing',
  async (t) => {
    const server = makeAuthServer(t.testdir(), {}, {});
    t.teardown(() => server.stop());
    const { brokerUrl } = await server.start();
    const fuzzCred = await server.auth().provisionDevice(ID, 'rpi4');
    const goodCred = await server.auth().provisionDevice('good-1', 'rpi4');
    const clients: MqttClient[] = [];
    t.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))));
    const fuzzer = await connect(brokerUrl, { clientId: ID, username: ID, password: fuzzCred.secret });
    const good = await connect(brokerUrl, { clientId: 'good-1', username: 'good-1', password: goodCred.secret });
    clients.push(fuzzer, good);

    const rand = prng(SEED);
    const types = Object.keys(MESSAGE_SCHEMAS);
    const expected = new Map<string, number>();
    const byKind = new Map<Mutation, number>();
    let sent = 0;
    let decodeThrows = 0;
    let goodSeq = 0;
    const inFlight: Array<Promise<unknown>> = [];
    const channels = [...new Set(SEEDS.map(([c]) => c))];
    for (const channel of channels) {
      const seeds = SEEDS.filter(([c]) => c === channel).map(([, m]) => m);
      for (let i = 0; i < PER_CHANNEL; i += 1) {
        const seedMessage = seeds[i % seeds.length] as unknown as Record<string, unknown>;
        const { kind, payload } = mutate(rand, seedMessage, types);
        const topic = deviceTopic(ID, channel);
        try {
          const local = decodeMessage(topic, payload);
          const key = local.ok ? `ok:${local.message.type}` : local.reason;
          expected.set(key, (expected.get(key) ?? 0) + 1);
        } catch {
          decodeThrows += 1;
        }
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
        // In flight 50 at a time: awaiting each PUBACK alone costs a delayed-ACK round trip per message.
        inFlight.push(fuzzer.publishAsync(topic, payload, { qos: 1 }));
        sent += 1;
        if (i % 40 === 0) {
          const window = telemetryWindow('good-1', goodSeq, { inferences: 3 });
          goodSeq += 1;
          inFlight.push(good.publishAsync(deviceTopic('good-1', 'telemetry'), encodeMessage(window), { qos: 1 }));
          sent += 1;
        }
        if (inFlight.length >= 50) await Promise.all(inFlight.splice(0));
      }
    }
    await Promise.all(inFlight);
    await waitFor(() => server.inbound().stats().received >= sent, 20_000, 'every message received');
    const stats = server.inbound().stats();
    const counts = server.rejections.counts();
    const decodeRejections = Object.entries(Object.fromEntries(expected)).filter(([k]) => !k.startsWith('ok:'));

    t.equal(decodeThrows, 0, 'decodeMessage threw for no payload');
    t.equal(stats.handlerErrors, 0, 'no handler threw');
    t.equal(fuzzer.connected, true, 'the fuzzing device was never disconnected (topics and sizes were valid)');
    t.equal(stats.received, sent, 'each message reached the inbound edge once');
    for (const [reason, n] of decodeRejections)
      t.equal(counts[reason as keyof typeof counts], n, `${reason}: counted ${n} times, as the decoder says`);
    t.equal(
      stats.rejected,
      decodeRejections.reduce((a, [, n]) => a + n, 0),
      'the inbound edge rejected exactly the undecodable ones',
    );
    const goodStored = async () => (await server.telemetry().deviceSeries('good-1')).length;
    await waitFor(async () => (await goodStored()) === goodSeq, 5_000, 'good windows stored');
    t.equal(await goodStored(), goodSeq, `the good device has all ${goodSeq} windows`);
    t.comment(
      `tried: ${sent - goodSeq} mutated payloads (${PER_CHANNEL} per channel on ${channels.join(', ')}; ` +
        `${JSON.stringify(Object.fromEntries(byKind))}) and ${goodSeq} good windows; found: ` +
        `${JSON.stringify(Object.fromEntries(expected))}, server rejections ${JSON.stringify(counts)}, ` +
        `handler errors ${stats.handlerErrors}, good windows stored ${await goodStored()}`,
    );
  },
);

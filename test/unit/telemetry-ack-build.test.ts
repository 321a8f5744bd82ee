/** The server's acknowledgements of one committed batch [EF-PROTO 8.2], as pure data. */
import t from 'tap';
import { buildTelemetryAcks } from '@edgefleet/server/telemetry/index';
import type { BatchItem } from '@edgefleet/server/store/telemetry';
import {
  decodeMessage,
  deviceTopic,
  encodeMessage,
  MAX_TELEMETRY_ACK_ITEMS,
  PROTOCOL_VERSION,
  type Breach,
} from '@edgefleet/shared';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';

const win = (deviceId: string, seq: number): BatchItem => ({
  kind: 'window',
  message: telemetryWindow(deviceId, seq),
  receivedAt: 1,
});
const breach = (deviceId: string, budget: Breach['budget'], windowSeqs: number[]): BatchItem => ({
  kind: 'breach',
  receivedAt: 1,
  message: {
    type: 'breach',
    v: PROTOCOL_VERSION,
    deviceId,
    deviceClass: 'rpi4',
    budget,
    state: 'breached',
    measured: 2,
    limit: 1,
    unit: 'ms',
    breachedWindows: 1,
    k: 1,
    n: 1,
    windowSeqs,
    model: null,
    throttled: false,
    sentAt: 1,
  },
});

t.test('one acknowledgement per device, seqs ascending and once, breaches by budget and raising window', async (t) => {
  const acks = buildTelemetryAcks(
    [
      win('dev-b', 7),
      win('dev-a', 3),
      win('dev-a', 1),
      win('dev-a', 3),
      breach('dev-a', 'powerW', [0, 1]),
      breach('dev-a', 'latencyP95Ms', [1]),
      breach('dev-a', 'powerW', [0, 1]),
    ],
    42,
  );
  t.same(acks, [
    { type: 'telemetry-ack', v: PROTOCOL_VERSION, deviceId: 'dev-b', windows: [7], breaches: [], sentAt: 42 },
    {
      type: 'telemetry-ack',
      v: PROTOCOL_VERSION,
      deviceId: 'dev-a',
      windows: [1, 3],
      breaches: [
        { budget: 'latencyP95Ms', seq: 1 },
        { budget: 'powerW', seq: 1 },
      ],
      sentAt: 42,
    },
  ]);
  for (const ack of acks)
    t.ok(
      decodeMessage(deviceTopic(ack.deviceId, 'telemetry-ack'), encodeMessage(ack)).ok,
      `${ack.deviceId}'s passes the shared decoder`,
    );
  t.same(buildTelemetryAcks([], 1), [], 'an empty batch acknowledges nothing');
});

t.test('a device with more than the limit in one batch gets several acknowledgements, each valid', async (t) => {
  const items = Array.from({ length: MAX_TELEMETRY_ACK_ITEMS * 2 + 1 }, (_, i) => win('dev-a', i));
  const acks = buildTelemetryAcks(items, 1);
  t.same(
    acks.map((a) => a.windows.length),
    [MAX_TELEMETRY_ACK_ITEMS, MAX_TELEMETRY_ACK_ITEMS, 1],
  );
  t.same(
    acks.flatMap((a) => a.windows),
    items.map((_, i) => i),
    'together they name every window once',
  );
  for (const ack of acks) t.ok(decodeMessage(deviceTopic('dev-a', 'telemetry-ack'), encodeMessage(ack)).ok);
});

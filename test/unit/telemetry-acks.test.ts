/**
 * The agent's bookkeeping of server acknowledgements [EF-PROTO 8.2], on a fake transport
 * whose acknowledgements pass through the link's real inbound gate and an injected clock:
 * an entry leaves only once the server acknowledged it and every older one, acknowledgements
 * may come out of order, twice or for nothing, malformed ones are refused and counted, and
 * unacknowledged entries go out again after a reconnect, a timeout or an agent restart.
 */
import t, { type Test } from 'tap';
import { createTelemetry, openOutbox, type TelemetryTransport } from '@edgefleet/agent';
import { createInboundGate } from '@edgefleet/agent/link/inbound';
import {
  deviceTopic,
  PROTOCOL_VERSION,
  stripUndefined,
  type AnyMessage,
  type BreachIdentity,
  type TelemetryAck,
} from '@edgefleet/shared';
import { recordingLogger } from '../helpers/agent-fixtures.js';
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.js';

const ID = 'dev-1';

interface AckTransport extends TelemetryTransport {
  online: boolean;
  /** Every publish handed to the "broker", in order. */
  readonly sent: AnyMessage[];
  /** Messages the transport refuses as unpublishable (by window seq). */
  readonly unpublishable: Set<number>;
  goOnline(): void;
  /** A raw payload on the device's telemetry-ack topic, through the real inbound gate. */
  deliver(payload: string): void;
  ack(windows: number[], breaches?: BreachIdentity[]): void;
  rejected(): Record<string, number>;
}

function ackTransport(clock: FakeClock): AckTransport {
  const online = new Set<() => void>();
  const acks = new Set<(ack: TelemetryAck) => void>();
  const gate = createInboundGate({ deviceId: ID, logger: recordingLogger().logger, clock });
  const transport: AckTransport = {
    online: false,
    sent: [],
    unpublishable: new Set(),
    publish: async (_channel, message) => {
      if (!transport.online) throw new Error('offline');
      if (message.type === 'telemetry' && transport.unpublishable.has(message.seq)) return 'unpublishable';
      transport.sent.push(message);
      return 'published';
    },
    isOnline: () => transport.online,
    onOnline: (l) => {
      online.add(l);
      return () => online.delete(l);
    },
    onAck: (l) => {
      acks.add(l);
      return () => acks.delete(l);
    },
    goOnline: () => {
      transport.online = true;
      for (const l of online) l();
    },
    deliver: (payload) => {
      const result = gate.accept(deviceTopic(ID, 'telemetry-ack'), Buffer.from(payload));
      if (result.kind === 'message' && result.message.type === 'telemetry-ack') for (const l of acks) l(result.message);
    },
    ack: (windows, breaches = []) =>
      transport.deliver(
        JSON.stringify({
          type: 'telemetry-ack',
          v: PROTOCOL_VERSION,
          deviceId: ID,
          windows,
          breaches,
          sentAt: clock.now(),
        }),
      ),
    rejected: () => gate.rejected(),
  };
  return transport;
}

function setup(
  t: Test,
  options: {
    dataDir?: string;
    maxInFlight?: number;
    maxEntries?: number;
    budgets?: boolean;
    clock?: FakeClock;
    transport?: AckTransport;
  } = {},
) {
  const clock = options.clock ?? createFakeClock();
  const transport = options.transport ?? ackTransport(clock);
  const dataDir = options.dataDir ?? t.testdir();
  const telemetry = createTelemetry({
    deviceId: ID,
    deviceClass: 'rpi4',
    dataDir,
    clock,
    windowMs: 0,
    transport,
    logger: recordingLogger().logger,
    model: () => null,
    budgets: () => (options.budgets ? { latencyP95Ms: 50 } : null),
    watcher: { k: 1, n: 1 },
    ackTimeoutMs: 1_000,
    maxAckTimeoutMs: 3_000,
    ...stripUndefined({ maxInFlight: options.maxInFlight }),
    ...(options.maxEntries === undefined ? {} : { outbox: { maxEntries: options.maxEntries, segmentEntries: 2 } }),
  });
  telemetry.start();
  return { clock, transport, telemetry, dataDir };
}

const seqsOf = (messages: readonly AnyMessage[]): number[] =>
  messages.flatMap((m) => (m.type === 'telemetry' ? [m.seq] : []));
/** Lets publish promises and the pumps they start run. */
const settle = () => new Promise((r) => setImmediate(r));

t.test(
  'an entry leaves once the server acknowledged it and all before it; acks out of order, twice, or for nothing',
  async (t) => {
    const { transport, telemetry, dataDir } = setup(t);
    transport.online = true;
    for (let i = 0; i < 5; i += 1) telemetry.closeWindow();
    await telemetry.flush();
    t.same(seqsOf(transport.sent), [0, 1, 2, 3, 4], 'published in order');
    t.match(
      telemetry.stats(),
      { delivery: 'server-ack', pending: 5, awaitingAck: 5, delivered: 0 },
      'the broker took them; the server has not said so',
    );

    transport.ack([3, 1]);
    t.match(
      telemetry.stats(),
      { pending: 5, acked: 2, delivered: 0 },
      'acknowledged out of order: the head waits for 0',
    );
    transport.ack([1]);
    t.equal(
      telemetry.stats().duplicateAcks,
      1,
      'an acknowledgement repeated while the entry still waits is a duplicate',
    );
    transport.ack([0]);
    t.match(telemetry.stats(), { pending: 3, delivered: 2, awaitingAck: 2 }, '0 and 1 leave; 3 waits for 2');
    t.same(
      seqsOf(
        openOutbox({ dir: `${dataDir}/telemetry/outbox` })
          .peek(10)
          .map((e) => e.message),
      ),
      [2, 3, 4],
      'on disk the head moved over the acknowledged prefix only',
    );

    transport.ack([0, 99]);
    t.equal(telemetry.stats().unmatchedAcks, 2, 'an entry already delivered and one never sent match nothing');
    transport.ack([2, 4]);
    await settle();
    t.match(telemetry.stats(), { pending: 0, delivered: 5, acked: 5, awaitingAck: 0 });
    t.same(seqsOf(transport.sent), [0, 1, 2, 3, 4], 'nothing was sent twice');
    await telemetry.stop();
  },
);

t.test(
  'malformed acknowledgements are refused at the inbound edge, counted by reason, and change nothing',
  async (t) => {
    const { transport, telemetry } = setup(t);
    transport.online = true;
    telemetry.closeWindow();
    await telemetry.flush();
    const good = { type: 'telemetry-ack', v: PROTOCOL_VERSION, deviceId: ID, windows: [0], breaches: [], sentAt: 1 };
    const bad: Array<[string, unknown, string]> = [
      ['not JSON', '{"type":"telemetry-ack",', 'malformed-json'],
      ['a negative seq', { ...good, windows: [-1] }, 'schema'],
      ['a fractional seq', { ...good, windows: [0.5] }, 'schema'],
      ['an unknown field', { ...good, all: true }, 'schema'],
      ['an unknown budget', { ...good, windows: [], breaches: [{ budget: 'fps', seq: 0 }] }, 'schema'],
      ['too many windows', { ...good, windows: Array.from({ length: 513 }, (_, i) => i) }, 'schema'],
      ['no windows field', { ...good, windows: undefined }, 'schema'],
      ['wrong version', { ...good, v: 2 }, 'schema'],
      ["another device's ack", { ...good, deviceId: 'dev-2' }, 'device-mismatch'],
      [
        'a command on the ack channel',
        { type: 'command', v: 1, deviceId: ID, commandId: 'c', name: 'ping', sentAt: 1 },
        'wrong-channel',
      ],
    ];
    const expected: Record<string, number> = {};
    for (const [, payload, reason] of bad) {
      transport.deliver(typeof payload === 'string' ? payload : JSON.stringify(payload));
      expected[reason] = (expected[reason] ?? 0) + 1;
    }
    t.match(transport.rejected(), expected, 'each refused with its reason');
    t.match(
      telemetry.stats(),
      { pending: 1, acked: 0, unmatchedAcks: 0, duplicateAcks: 0 },
      'none of them touched the outbox',
    );
    transport.deliver(JSON.stringify(good));
    t.match(telemetry.stats(), { pending: 0, acked: 1 }, 'the valid one still works');
    await telemetry.stop();
  },
);

t.test(
  'no acknowledgement in time: sent again, waiting twice as long each silent round up to the cap; an ack resets it',
  async (t) => {
    const { clock, transport, telemetry } = setup(t);
    transport.online = true;
    telemetry.closeWindow();
    telemetry.closeWindow();
    await telemetry.flush();
    clock.advance(999);
    await settle();
    t.same(seqsOf(transport.sent), [0, 1], 'not before the timeout');
    clock.advance(1);
    await settle();
    t.same(seqsOf(transport.sent), [0, 1, 0, 1], 'after 1 s both again, in order');
    clock.advance(1_999);
    await settle();
    t.equal(transport.sent.length, 4, 'the next round waits 2 s');
    clock.advance(1);
    await settle();
    t.equal(transport.sent.length, 6);
    clock.advance(3_000);
    await settle();
    t.equal(transport.sent.length, 8, 'capped at 3 s (not 4)');
    t.equal(telemetry.stats().resends, 6);

    transport.ack([0]);
    await settle();
    t.equal(telemetry.stats().pending, 1);
    clock.advance(1_000);
    await settle();
    t.same(
      seqsOf(transport.sent).slice(8),
      [1],
      'after progress the first timeout again, and only what is unacknowledged',
    );
    await telemetry.stop();
    t.equal(clock.pending(), 0, 'stop leaves no timer');
  },
);

t.test(
  'after a reconnect everything published and unacknowledged goes out again, oldest first, then the new',
  async (t) => {
    const { transport, telemetry } = setup(t);
    transport.online = true;
    for (let i = 0; i < 3; i += 1) telemetry.closeWindow();
    await telemetry.flush();
    transport.ack([1]);
    transport.online = false;
    telemetry.closeWindow(); // offline: waits on disk
    t.same(seqsOf(transport.sent), [0, 1, 2]);
    transport.goOnline();
    await settle();
    t.same(seqsOf(transport.sent), [0, 1, 2, 0, 2, 3], '0 and 2 again (the broker may have lost them), 1 not, then 3');
    t.equal(telemetry.stats().resends, 2);
    transport.ack([0, 2, 3]);
    await settle();
    t.equal(telemetry.stats().pending, 0);
    await telemetry.stop();
  },
);

t.test('an agent restart sends again what was published but never acknowledged: it is still on disk', async (t) => {
  const dataDir = t.testdir();
  const clock = createFakeClock();
  const first = setup(t, { dataDir, clock });
  first.transport.online = true;
  for (let i = 0; i < 3; i += 1) first.telemetry.closeWindow();
  await first.telemetry.flush();
  first.transport.ack([0]);
  await first.telemetry.stop();

  const second = setup(t, { dataDir, clock });
  second.transport.online = true;
  await second.telemetry.flush();
  t.same(seqsOf(second.transport.sent), [1, 2], 'the restarted agent resends 1 and 2');
  second.transport.ack([0]);
  t.equal(second.telemetry.stats().unmatchedAcks, 1, 'a late ack of what the first process delivered matches nothing');
  second.transport.ack([1, 2]);
  t.equal(second.telemetry.stats().pending, 0);
  t.equal(second.telemetry.closeWindow().seq, 3, 'the sequence continues');
  await second.telemetry.stop();
});

t.test('at most maxInFlight entries await acknowledgement; each ack lets the next ones go', async (t) => {
  const { transport, telemetry } = setup(t, { maxInFlight: 2 });
  for (let i = 0; i < 5; i += 1) telemetry.closeWindow();
  transport.goOnline();
  await settle();
  t.same(seqsOf(transport.sent), [0, 1]);
  transport.ack([1]);
  await settle();
  t.same(seqsOf(transport.sent), [0, 1], 'the head (0) still waits: nothing new');
  transport.ack([0]);
  await settle();
  t.same(seqsOf(transport.sent), [0, 1, 2, 3]);
  transport.ack([2, 3]);
  await settle();
  t.same(seqsOf(transport.sent), [0, 1, 2, 3, 4]);
  transport.ack([4]);
  t.equal(telemetry.stats().pending, 0);
  await telemetry.stop();
});

t.test('the outbox bound still drops the oldest, in flight or not; their late acks match nothing', async (t) => {
  const { transport, telemetry } = setup(t, { maxEntries: 3 });
  transport.online = true;
  for (let i = 0; i < 5; i += 1) telemetry.closeWindow();
  await telemetry.flush();
  t.match(telemetry.stats(), { pending: 3, droppedTotal: 2 });
  transport.ack([0, 1]);
  t.equal(telemetry.stats().unmatchedAcks, 2);
  transport.ack([2, 3, 4]);
  t.match(telemetry.stats(), { pending: 0, delivered: 3, droppedTotal: 2 });
  await telemetry.stop();
});

t.test('breach events are acknowledged by budget and the seq of the window that raised them', async (t) => {
  const { transport, telemetry } = setup(t, { budgets: true });
  transport.online = true;
  telemetry.recordInference(90);
  telemetry.closeWindow();
  await telemetry.flush();
  t.same(
    transport.sent.map((m) => m.type),
    ['telemetry', 'breach'],
  );
  transport.ack([0]);
  t.equal(telemetry.stats().pending, 1, 'the window left, the event waits');
  transport.ack([], [{ budget: 'powerW', seq: 0 }]);
  t.equal(telemetry.stats().unmatchedAcks, 1, 'another budget is another event');
  transport.ack([], [{ budget: 'latencyP95Ms', seq: 0 }]);
  t.equal(telemetry.stats().pending, 0);
  await telemetry.stop();
});

t.test('an entry that can never be sent leaves without an acknowledgement; a failed publish is retried', async (t) => {
  const { transport, telemetry } = setup(t);
  transport.online = true;
  transport.unpublishable.add(1);
  for (let i = 0; i < 3; i += 1) telemetry.closeWindow();
  await telemetry.flush();
  await settle();
  transport.ack([0, 2]);
  t.match(telemetry.stats(), { pending: 0, unpublishable: 1, delivered: 2 });

  transport.online = false;
  telemetry.closeWindow();
  t.equal(telemetry.stats().publishFailures, 0, 'offline: not even tried');
  transport.online = true;
  const publish = transport.publish;
  let failNext = true;
  transport.publish = async (channel, message) => {
    if (failNext) {
      failNext = false;
      throw new Error('flaky');
    }
    return publish(channel, message);
  };
  await telemetry.flush();
  t.equal(telemetry.stats().publishFailures, 1);
  await telemetry.flush();
  t.same(seqsOf(transport.sent).slice(-1), [3], 'the next round sends it');
  await telemetry.stop();
});

t.test('server-ack delivery needs a transport that hears acknowledgements', async (t) => {
  const clock = createFakeClock();
  const transport = ackTransport(clock);
  const { onAck: _, ...deaf } = transport;
  t.throws(
    () =>
      createTelemetry({
        deviceId: ID,
        deviceClass: 'rpi4',
        dataDir: t.testdir(),
        clock,
        windowMs: 0,
        transport: deaf,
        logger: recordingLogger().logger,
        model: () => null,
        budgets: () => null,
      }),
    TypeError,
  );
});

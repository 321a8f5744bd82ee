import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { deviceTopic, encodeMessage, type Hello } from '@edgefleet/shared';
import {
  createInboundRouter,
  createLogger,
  createPresenceService,
  createRejectionCounter,
  openSqliteStore,
} from '@edgefleet/server';
import type { MessageInfo } from '@edgefleet/server';

/** A logger whose JSON lines land in an array. */
function capture(): { lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination }) };
}

const hello = (deviceId: string, sentAt = 1): Hello => ({
  type: 'hello',
  v: 1,
  deviceId,
  deviceClass: 'rpi4',
  agentVersion: '0.1.0',
  runtime: { node: 'v20', onnxruntime: '1.30.0' },
  capabilities: {
    cpuModel: 'cpu',
    cores: 4,
    memoryBytes: 1024,
    executionProviders: ['cpu'],
    precisions: ['fp32'],
    powerSource: 'none',
  },
  currentModel: null,
  sentAt,
});
const live = { retained: false };

function setup(t: Test) {
  let clock = 10_000;
  const { lines, logger } = capture();
  const store = openSqliteStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  const touchBatches: number[] = [];
  const devices = {
    ...store.repos.devices,
    touchMany: (beats: Parameters<typeof store.repos.devices.touchMany>[0]) => {
      touchBatches.push(beats.length);
      return store.repos.devices.touchMany(beats);
    },
  };
  const rejections = createRejectionCounter({ logger, now: () => clock });
  // Presence sees messages the way the server feeds it: decoded (and rejections counted) by the inbound router.
  const inbound = createInboundRouter({ logger, maxPayloadBytes: 4096, onReject: (r) => rejections.record(r) });
  const presence = createPresenceService({
    devices,
    inbound,
    logger,
    now: () => clock,
    offlineAfterMs: 3000,
  });
  /** Hands a message in and waits until presence applied it (it applies them one after another). */
  const handle = async (topic: string, payload: Buffer, info: MessageInfo): Promise<void> => {
    inbound.handleMessage(topic, payload, info);
    await presence.idle();
  };
  return {
    devices: store.repos.devices,
    touchBatches,
    inbound,
    handle,
    presence,
    rejections,
    lines,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

t.test('hello, heartbeat, will and sweep drive the device state on the server clock', async (t) => {
  const { devices, handle, presence, advance, now } = setup(t);
  await handle(deviceTopic('d-1', 'hello'), encodeMessage(hello('d-1')), live);
  t.match(await devices.get('d-1'), { state: 'online', lastSeen: now() });
  advance(2000);
  await handle(
    deviceTopic('d-1', 'heartbeat'),
    encodeMessage({ type: 'heartbeat', v: 1, deviceId: 'd-1', seq: 0, uptimeMs: 5, currentModel: null, sentAt: 2 }),
    live,
  );
  t.equal((await devices.get('d-1'))?.lastSeen, now(), 'heartbeat moves last-seen');
  advance(2999);
  t.same(await presence.sweep(), [], 'not silent long enough');
  advance(2);
  t.same(await presence.sweep(), ['d-1'], 'silent longer than offlineAfterMs');
  t.equal((await devices.get('d-1'))?.stateReason, 'stale');
  await handle(
    deviceTopic('d-1', 'heartbeat'),
    encodeMessage({ type: 'heartbeat', v: 1, deviceId: 'd-1', seq: 1, uptimeMs: 6, currentModel: null, sentAt: 3 }),
    live,
  );
  t.equal((await devices.get('d-1'))?.state, 'online', 'a heartbeat brings a swept device back');
  await handle(
    deviceTopic('d-1', 'status'),
    encodeMessage({ type: 'status', v: 1, deviceId: 'd-1', state: 'offline', reason: 'lost', sentAt: 0 }),
    live,
  );
  t.match(await devices.get('d-1'), { state: 'offline', stateReason: 'lost' }, 'the last will marks it offline');
});

t.test('heartbeats are written in batches, still in arrival order with status messages', async (t) => {
  const { devices, inbound, presence, touchBatches, advance, now } = setup(t);
  const ids = Array.from({ length: 40 }, (_, i) => `d-${i}`);
  for (const id of ids) inbound.handleMessage(deviceTopic(id, 'hello'), encodeMessage(hello(id)), live);
  await presence.idle();
  advance(1000);
  const beat = (id: string, seq: number) =>
    inbound.handleMessage(
      deviceTopic(id, 'heartbeat'),
      encodeMessage({ type: 'heartbeat', v: 1, deviceId: id, seq, uptimeMs: 5, currentModel: null, sentAt: 2 }),
      live,
    );
  const will = (id: string) =>
    inbound.handleMessage(
      deviceTopic(id, 'status'),
      encodeMessage({ type: 'status', v: 1, deviceId: id, state: 'offline', reason: 'lost', sentAt: 3 }),
      live,
    );
  // All arrive before presence applies any: two heartbeats each, d-0's last will, d-1's will, then d-1 beats again.
  for (const id of ids) beat(id, 0);
  for (const id of ids) beat(id, 1);
  will('d-0');
  will('d-1');
  beat('d-1', 2);
  await presence.idle();
  t.same(touchBatches, [40, 1], '81 heartbeats in two writes: the will closed the first batch');
  t.match(await devices.get('d-0'), { state: 'offline', stateReason: 'lost' }, 'the will after its heartbeats holds');
  t.match(await devices.get('d-1'), { state: 'online' }, 'a heartbeat after the will brings the device back');
  t.equal((await devices.get('d-39'))?.lastSeen, now(), 'every batched heartbeat moved last-seen');
});

t.test('the sweep applies heartbeats already received before it judges silence', async (t) => {
  const { devices, inbound, presence, advance } = setup(t);
  await presence.idle();
  inbound.handleMessage(deviceTopic('d-9', 'hello'), encodeMessage(hello('d-9')), live);
  await presence.idle();
  advance(4000);
  inbound.handleMessage(
    deviceTopic('d-9', 'heartbeat'),
    encodeMessage({ type: 'heartbeat', v: 1, deviceId: 'd-9', seq: 0, uptimeMs: 5, currentModel: null, sentAt: 2 }),
    live,
  );
  t.equal(presence.backlog(), 1, 'one message received and not yet applied');
  // Queued, not applied yet: the sweep must not take the device for silent.
  t.same(await presence.sweep(), [], 'the queued heartbeat counts');
  t.equal(presence.backlog(), 0);
  t.equal((await devices.get('d-9'))?.state, 'online');
});

t.test('a server hearing its fleet late allows live devices that much longer before it sweeps', async (t) => {
  const { devices, handle, presence, advance, now } = setup(t);
  // Device clocks 1,000,000 ms ahead of the server's: only a change of age is lag, not the offset.
  const beat = (deviceId: string, seq: number, sentAt: number) =>
    handle(
      deviceTopic(deviceId, 'heartbeat'),
      encodeMessage({ type: 'heartbeat', v: 1, deviceId, seq, uptimeMs: seq, currentModel: null, sentAt }),
      live,
    );
  for (const id of ['a', 'b', 'c']) await handle(deviceTopic(id, 'hello'), encodeMessage(hello(id)), live);
  for (const id of ['a', 'b', 'c']) await beat(id, 0, now() + 1_000_000);
  t.equal(presence.intakeLagMs(), 0, 'heartbeats on time: no lag, whatever the device clocks say');
  // The server falls behind: 'a' and 'b' beat 1 s later, and their beats reach it 5 s after they were sent.
  advance(6000);
  for (const id of ['a', 'b']) await beat(id, 1, now() - 5000 + 1_000_000);
  t.equal(presence.intakeLagMs(), 5000, "the median age beyond each device's own least");
  // 'c' was last heard 6 s ago, past offlineAfterMs (3 s), but its beats may be queued as long as the others'.
  t.same(await presence.sweep(), [], 'no device swept while the silence fits in offlineAfterMs + lag');
  advance(3000);
  t.same(await presence.sweep(), ['c'], 'silent 9 s, beyond offlineAfterMs + lag: swept');
  t.equal((await devices.get('c'))?.stateReason, 'stale');
  advance(5001);
  t.same((await presence.sweep()).sort(), ['a', 'b'], 'the others too, once their silence exceeds 3 s + 5 s');
  // Caught up again: beats on time bring the allowance back to 0.
  for (const id of ['a', 'b', 'c']) await beat(id, 2, now() + 1_000_000);
  t.equal(presence.intakeLagMs(), 0);
});

t.test('a retained status replay sets state without pretending the device is alive', async (t) => {
  const { devices, handle, presence, advance } = setup(t);
  await handle(deviceTopic('d-2', 'hello'), encodeMessage(hello('d-2')), live);
  const seen = (await devices.get('d-2'))?.lastSeen;
  advance(10_000);
  await handle(
    deviceTopic('d-2', 'status'),
    encodeMessage({ type: 'status', v: 1, deviceId: 'd-2', state: 'online', reason: 'connect', sentAt: 1 }),
    { retained: true },
  );
  t.equal((await devices.get('d-2'))?.lastSeen, seen);
  t.same(await presence.sweep(), ['d-2'], 'so the sweep still catches it');
});

t.test('presence from a device that never said hello changes nothing and is logged once a minute', async (t) => {
  const { devices, handle, lines, advance } = setup(t);
  const beat = encodeMessage({
    type: 'heartbeat',
    v: 1,
    deviceId: 'ghost',
    seq: 0,
    uptimeMs: 1,
    currentModel: null,
    sentAt: 1,
  });
  for (let i = 0; i < 3; i += 1) await handle(deviceTopic('ghost', 'heartbeat'), beat, live);
  await handle(
    deviceTopic('ghost', 'status'),
    encodeMessage({ type: 'status', v: 1, deviceId: 'ghost', state: 'online', reason: 'connect', sentAt: 1 }),
    live,
  );
  t.equal(await devices.get('ghost'), null);
  t.equal(lines.filter((l) => l['deviceId'] === 'ghost').length, 1);
  advance(60_000);
  await handle(deviceTopic('ghost', 'heartbeat'), beat, live);
  t.equal(lines.filter((l) => l['deviceId'] === 'ghost').length, 2);
});

t.test('rejections are counted every time but logged once per device per minute', async (t) => {
  const { handle, rejections, lines, advance } = setup(t);
  const warnings = () => lines.filter((l) => l['msg'] === 'rejected inbound message');
  for (let i = 0; i < 5; i += 1) await handle(deviceTopic('noisy', 'hello'), Buffer.from('{oops'), live);
  await handle(deviceTopic('other', 'hello'), Buffer.alloc(5000, 32), live);
  t.same(
    {
      malformed: rejections.counts()['malformed-json'],
      oversize: rejections.counts().oversize,
      total: rejections.total(),
    },
    { malformed: 5, oversize: 1, total: 6 },
  );
  t.same(
    warnings().map((l) => l['deviceId']),
    ['noisy', 'other'],
  );
  advance(59_999);
  await handle(deviceTopic('noisy', 'hello'), Buffer.from('{oops'), live);
  t.equal(warnings().length, 2, 'still inside the minute');
  advance(1);
  await handle(deviceTopic('noisy', 'hello'), Buffer.from('{oops'), live);
  t.equal(warnings().length, 3);
  t.equal(warnings()[2]?.['suppressed'], 5, 'the next line says how many were suppressed');
});

t.test('redaction: secrets never reach the log', async (t) => {
  const { lines, logger } = capture();
  logger.info({ password: 'hunter2', broker: { token: 'abc' }, nested: { deep: { secret: 's' } } }, 'x');
  const text = JSON.stringify(lines);
  t.notMatch(text, /hunter2|"abc"|"s"/);
  t.match(text, /\[redacted\]/);
});

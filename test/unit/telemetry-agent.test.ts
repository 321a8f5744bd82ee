import t from 'tap';
import {
  createBudgetWatcher,
  createModelledPowerSource,
  createTelemetry,
  type TelemetryTransport,
} from '@edgefleet/agent';
import {
  decodeMessage,
  deviceTopic,
  encodeMessage,
  PROTOCOL_VERSION,
  type AnyMessage,
  type TelemetryWindow,
} from '@edgefleet/shared';
import { recordingLogger } from '../helpers/agent-fixtures.js';
import { createFakeClock } from '../helpers/fake-clock.js';

const SHA = 'a'.repeat(64);

function window(seq: number, p95: number | null, extra: Partial<TelemetryWindow> = {}): TelemetryWindow {
  return {
    type: 'telemetry',
    v: PROTOCOL_VERSION,
    deviceId: 'dev-1',
    deviceClass: 'rpi4',
    seq,
    windowStart: seq * 10,
    windowEnd: seq * 10 + 10,
    model: { sha256: SHA, variantId: 'v1' },
    inferences: p95 === null ? 0 : 10,
    errors: 0,
    latencyMs: p95 === null ? null : { p50: p95 / 2, p95, p99: p95, max: p95, mean: p95 / 2 },
    dutyCycle: 0.1,
    power: null,
    accuracy: {},
    memory: { rssBytes: 1 },
    thermal: {},
    clock: { source: 'virtual', durationMs: 10 },
    outbox: { droppedTotal: 0, pending: 0 },
    sentAt: seq * 10 + 10,
    ...extra,
  };
}

t.test('budget watcher: k of the last n windows open an episode, once; none of n close it', async (t) => {
  const watcher = createBudgetWatcher({ k: 3, n: 5 });
  const budgets = { latencyP95Ms: 50 };
  //             ok  bad bad ok  bad  bad  bad  ok  ok  ok  ok  ok
  const p95s = [10, 60, 70, 20, 80, 90, 100, 10, 10, 10, 10, 10];
  const events: Array<[number, string, number]> = [];
  p95s.forEach((p95, seq) => {
    for (const e of watcher.observe(window(seq, p95), budgets)) events.push([seq, e.state, e.breachedWindows]);
  });
  t.same(
    events,
    [
      [4, 'breached', 3],
      [11, 'recovered', 0],
    ],
    'breach at the third bad of five; recovery once five in a row are fine',
  );
  const w = createBudgetWatcher({ k: 2, n: 3 });
  w.observe(window(0, 60), budgets);
  const [breach] = w.observe(window(1, 80, { thermal: { throttled: true } }), budgets);
  t.match(breach, {
    budget: 'latencyP95Ms',
    state: 'breached',
    measured: 70,
    limit: 50,
    unit: 'ms',
    k: 2,
    n: 3,
    windowSeqs: [0, 1],
    throttled: true,
  });
  t.ok(
    decodeMessage(deviceTopic('dev-1', 'events'), encodeMessage(breach as AnyMessage)).ok,
    'the event passes the shared decoder',
  );
});

t.test('budget watcher: windows without data break nothing; accuracy is a minimum; budgets can vanish', async (t) => {
  const w = createBudgetWatcher({ k: 2, n: 2 });
  t.same(w.observe(window(0, null), { latencyP95Ms: 1 }), []);
  t.same(w.observe(window(1, null), { latencyP95Ms: 1 }), [], 'no inferences, no p95, no breach');
  const acc = (seq: number, a: number) => window(seq, 5, { accuracy: { goldenAccuracy: a, goldenAt: 1 } });
  t.same(w.observe(acc(2, 0.95), { minAccuracy: 0.9 }), []);
  t.same(w.observe(acc(3, 0.85), { minAccuracy: 0.9 }), []);
  t.equal(w.observe(acc(4, 0.8), { minAccuracy: 0.9 })[0]?.budget, 'minAccuracy');
  t.same(w.breached(), ['minAccuracy']);
  t.same(w.observe(acc(5, 0.8), null), [], 'no budgets (new manifest without them): silently forgotten');
  t.same(w.breached(), []);
  t.throws(() => createBudgetWatcher({ k: 4, n: 3 }), RangeError);
});

interface FakeTransport extends TelemetryTransport {
  online: boolean;
  readonly sent: AnyMessage[];
  goOnline(): void;
  failNext: number;
}

function fakeTransport(): FakeTransport {
  const listeners = new Set<() => void>();
  const transport: FakeTransport = {
    online: false,
    sent: [],
    failNext: 0,
    publish: async (_channel, message) => {
      if (!transport.online) throw new Error('offline');
      if (transport.failNext > 0) {
        transport.failNext -= 1;
        throw new Error('flaky');
      }
      transport.sent.push(message);
      return 'published';
    },
    isOnline: () => transport.online,
    onOnline: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    goOnline: () => {
      transport.online = true;
      for (const l of listeners) l();
    },
  };
  return transport;
}

// These tests drain on the broker's PUBACK (`broker-ack`); server acknowledgements are in telemetry-acks.test.ts.
t.test('windows: seq persists across restarts, offline windows wait in the outbox and go out in order', async (t) => {
  const dataDir = t.testdir();
  const clock = createFakeClock();
  const { logger } = recordingLogger();
  const transport = fakeTransport();
  const make = () =>
    createTelemetry({
      deviceId: 'dev-1',
      deviceClass: 'rpi4',
      dataDir,
      clock,
      clockSource: 'virtual',
      windowMs: 1000,
      transport,
      logger,
      delivery: 'broker-ack',
      model: () => ({ sha256: SHA, variantId: 'v1' }),
      budgets: () => ({ latencyP95Ms: 50 }),
      watcher: { k: 2, n: 3 },
      readers: { power: createModelledPowerSource(() => ({ idleW: 2, activeW: 6 })), rssBytes: () => 1234 },
    });
  const telemetry = make();
  telemetry.start();
  for (let i = 0; i < 100; i += 1) telemetry.recordInference(i < 50 ? 10 : 90);
  clock.advance(1000);
  const first = telemetry.stats();
  t.equal(first.windows, 1);
  t.equal(first.pending, 1, 'offline: the window waits in the outbox');
  for (let w = 0; w < 3; w += 1) {
    for (let i = 0; i < 10; i += 1) telemetry.recordInference(100);
    clock.advance(1000);
  }
  t.equal(telemetry.stats().pending, 5, '4 windows + 1 breach event');
  await telemetry.stop();

  const restarted = make();
  restarted.start();
  transport.goOnline();
  await restarted.flush();
  t.equal(restarted.stats().pending, 0);
  const windows = transport.sent.filter((m): m is TelemetryWindow => m.type === 'telemetry');
  t.same(
    windows.map((w) => w.seq),
    [0, 1, 2, 3],
    'in order',
  );
  t.equal(transport.sent.filter((m) => m.type === 'breach').length, 1);
  const w0 = windows[0] as TelemetryWindow;
  t.equal(w0.inferences, 100);
  t.equal(w0.latencyMs?.max, 90);
  t.equal(w0.dutyCycle, 1, '5 s of inference in a 1 s window: duty cycle clamped to 1');
  t.equal(w0.power?.watts, 6, 'modelled: idle + (active - idle) x duty');
  t.equal(w0.power?.energyPerInferenceMj, 60, '6 W x 1 s / 100 inferences = 60 mJ');
  t.match(w0, {
    power: { source: 'modelled', sensor: 'class-model' },
    memory: { rssBytes: 1234 },
    clock: { source: 'virtual', durationMs: 1000 },
  });
  for (const m of transport.sent)
    t.ok(
      decodeMessage(deviceTopic('dev-1', m.type === 'telemetry' ? 'telemetry' : 'events'), encodeMessage(m)).ok,
      `${m.type} decodes`,
    );

  clock.advance(1000);
  await restarted.flush();
  t.equal((transport.sent.at(-1) as TelemetryWindow).seq, 4, 'the restarted agent continues the sequence');
  await restarted.stop();
});

t.test('a failed publish keeps the entry and everything after it; order holds', async (t) => {
  const clock = createFakeClock();
  const transport = fakeTransport();
  transport.online = true;
  const telemetry = createTelemetry({
    deviceId: 'dev-1',
    deviceClass: 'rpi4',
    dataDir: t.testdir(),
    clock,
    windowMs: 0,
    transport,
    logger: recordingLogger().logger,
    delivery: 'broker-ack',
    model: () => null,
    budgets: () => null,
    maxInFlight: 1,
  });
  telemetry.start();
  transport.failNext = 1;
  telemetry.closeWindow();
  await telemetry.flush();
  t.equal(telemetry.stats().pending, 1);
  t.equal(telemetry.stats().publishFailures, 1);
  telemetry.closeWindow();
  await telemetry.flush();
  t.same(
    transport.sent.map((m) => (m as TelemetryWindow).seq),
    [0, 1],
  );
  t.equal((transport.sent[0] as TelemetryWindow).power, null, 'no power reader: no power figure');
  await telemetry.stop();
});

t.test('broker-ack: an entry that can never be sent is skipped, not retried forever', async (t) => {
  const transport = fakeTransport();
  transport.online = true;
  const publish = transport.publish;
  transport.publish = async (channel, message) =>
    message.type === 'telemetry' && message.seq === 0 ? 'unpublishable' : publish(channel, message);
  const telemetry = createTelemetry({
    deviceId: 'dev-1',
    deviceClass: 'rpi4',
    dataDir: t.testdir(),
    clock: createFakeClock(),
    windowMs: 0,
    transport,
    logger: recordingLogger().logger,
    delivery: 'broker-ack',
    model: () => null,
    budgets: () => null,
  });
  telemetry.start();
  telemetry.closeWindow();
  telemetry.closeWindow();
  await telemetry.flush();
  t.match(telemetry.stats(), { delivery: 'broker-ack', pending: 0, unpublishable: 1, delivered: 1, acked: 0 });
  t.same(
    transport.sent.map((m) => (m as TelemetryWindow).seq),
    [1],
  );
  await telemetry.stop();
});

t.test('the outbox bound shows up as droppedTotal in the next window', async (t) => {
  const clock = createFakeClock();
  const transport = fakeTransport();
  const telemetry = createTelemetry({
    deviceId: 'dev-1',
    deviceClass: 'rpi4',
    dataDir: t.testdir(),
    clock,
    windowMs: 0,
    transport,
    logger: recordingLogger().logger,
    delivery: 'broker-ack',
    model: () => null,
    budgets: () => null,
    outbox: { maxEntries: 3, segmentEntries: 2 },
  });
  telemetry.start();
  for (let i = 0; i < 6; i += 1) telemetry.closeWindow();
  const last = telemetry.closeWindow();
  t.same(
    last.outbox,
    { droppedTotal: 3, pending: 3 },
    'counted when the 7th window was built (before it was appended)',
  );
  transport.goOnline();
  await telemetry.flush();
  t.same(
    transport.sent.map((m) => (m as TelemetryWindow).seq),
    [4, 5, 6],
  );
  await telemetry.stop();
});

t.test(
  'golden runner: runs when a model starts serving and then on its interval, scoring like the smoke test',
  async (t) => {
    const { createGoldenRunner } = await import('@edgefleet/agent');
    const clock = createFakeClock();
    const b64 = (values: number[]) => Buffer.from(new Float32Array(values).buffer).toString('base64');
    const golden = { inputs: { x: { dims: [2, 1], data: b64([0, 1]) } }, labels: [0, 1], minAccuracy: 0.5 };
    let sha = 'a'.repeat(64);
    let wrong = false;
    let calls = 0;
    const runner = createGoldenRunner({
      clock,
      intervalMs: 60_000,
      target: () => ({
        sha256: sha,
        golden,
        outputNames: ['y'],
        run: async () => {
          calls += 1;
          return { y: { dims: [2, 2], data: new Float32Array(wrong ? [0, 1, 1, 0] : [1, 0, 0, 1]) } };
        },
      }),
    });
    t.equal(runner.latest(), undefined);
    await runner.maybeRun();
    t.match(runner.latest(), { accuracy: 1, sha256: sha });
    await runner.maybeRun();
    t.equal(calls, 1, 'not again before the interval');
    clock.advance(60_000);
    wrong = true;
    await runner.maybeRun();
    t.equal(runner.latest()?.accuracy, 0, 'the scheduled re-run sees the new behaviour');
    sha = 'b'.repeat(64);
    t.equal(runner.latest(), undefined, 'a result belongs to its model');
    await runner.maybeRun();
    t.equal(calls, 3, 'a new model runs at once');
  },
);

t.test('manifest budgets: known keys, numeric extras, nothing else', async (t) => {
  const { manifestBudgets } = await import('@edgefleet/agent');
  t.equal(manifestBudgets(null), null);
  const desired = {
    body: { budgets: { latencyP95Ms: 30, minAccuracy: 0.9, energyPerInferenceMj: 5, other: 'x' } },
  } as unknown as Parameters<typeof manifestBudgets>[0];
  t.same(manifestBudgets(desired), { latencyP95Ms: 30, minAccuracy: 0.9, energyPerInferenceMj: 5 });
});

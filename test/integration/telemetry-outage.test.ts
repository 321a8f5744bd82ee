/**
 * The outage tests of issue 7, on real aedes, real SQLite, the real agent link and telemetry:
 * - the broker stops accepting and drops the device's connection for a while, then listens
 *   again on the same port (its sessions live on);
 * - the broker restarts WITHOUT sessions and the agent flushes before the server's client
 *   has subscribed again: the broker acknowledges and drops those windows, and only the
 *   server's acknowledgements [EF-PROTO 8.2] get them sent again;
 * - a server batch fails in SQLite and is recovered by the agent's resend.
 * Meanwhile the agent keeps closing windows into its on-disk outbox. Afterwards the server
 * has every window, no sequence gap was ever opened, they arrived in order, and the outbox
 * is empty.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import type { Logger } from 'pino';
import { createAgentLink, createLinkTransport, createTelemetry, openOutbox } from '@edgefleet/agent';
import { createBrokerClient } from '@edgefleet/server/broker/client';
import { openSqliteStore } from '@edgefleet/server/store/sqlite/open';
import { createTelemetryService } from '@edgefleet/server/telemetry/index';
import { allDevicesFilter, systemClock, stripUndefined } from '@edgefleet/shared';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';
import { startTestBroker } from '../helpers/broker.js';
import { createFakeClock } from '../helpers/fake-clock.js';
import { watchTopics } from '../helpers/mqtt-watch.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';

const DEVICE = 'dev-outage';

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** aedes on a port whose TCP listener can be closed and reopened while the broker (and its sessions) live on. */
async function startInterruptibleBroker(): Promise<{
  url: string;
  port: number;
  aedes: Aedes;
  stopListening(): Promise<void>;
  listen(): Promise<void>;
  close(): Promise<void>;
}> {
  const aedes = await Aedes.createBroker({ drainTimeout: 5_000 });
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const listen = async () => {
    const s = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      aedes.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();
  const stopListening = async () => {
    const s = server;
    server = null;
    // close() only stops accepting; its callback would wait for the server's own connection too.
    s?.close();
    // aedes' type declarations omit its `clients` map.
    const clients = (aedes as unknown as { clients: Record<string, { close(done: () => void): void } | undefined> })
      .clients;
    await new Promise<void>((resolve) => {
      const c = clients[DEVICE];
      if (c) c.close(() => resolve());
      else resolve();
    });
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    aedes,
    stopListening,
    listen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await stopListening();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

t.test('an outage loses no window: the outbox flushes in order after the reconnect', async (t) => {
  const broker = await startInterruptibleBroker();
  t.teardown(() => broker.close());
  const { logger } = recordingLogger('warn');
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: join(dir, 'server') });
  const client = await createBrokerClient({ url: broker.url, clientId: 'server-outage', logger });
  const service = createTelemetryService({
    telemetry: store.repos.telemetry,
    classes: store.repos.classes,
    client,
    clock: systemClock,
    logger,
    flushIntervalMs: 10,
  });
  await service.start();
  t.teardown(async () => {
    await service.stop();
    await client.close();
    await store.close();
  });
  const watch = await watchTopics(broker.url, allDevicesFilter('telemetry'));
  t.teardown(() => watch.close());

  const link = createAgentLink(
    linkOptions({
      brokerUrl: broker.url,
      deviceId: DEVICE,
      logger,
      backoff: { initialMs: 50, maxMs: 200 },
      heartbeatMs: 1_000,
    }),
  );
  t.teardown(() => link.stop({ clean: false }));
  const telemetry = createTelemetry({
    deviceId: DEVICE,
    deviceClass: 'rpi4',
    dataDir: join(dir, 'agent'),
    clock: systemClock,
    windowMs: 0,
    logger,
    transport: createLinkTransport(link, logger),
    model: () => null,
    budgets: () => null,
  });
  t.teardown(() => telemetry.stop());
  telemetry.start();
  await link.start();

  for (let i = 0; i < 3; i += 1) {
    telemetry.recordInference(5 + i);
    telemetry.closeWindow();
  }
  await until(
    async () => (await service.deviceSeries(DEVICE)).length === 3 && telemetry.stats().pending === 0,
    'three windows stored and acknowledged before the outage',
  );

  await broker.stopListening();
  await until(() => link.stats().state !== 'online', 'the link notices the outage');
  for (let i = 0; i < 10; i += 1) {
    telemetry.recordInference(20 + i);
    telemetry.closeWindow();
  }
  await new Promise((r) => setTimeout(r, 300)); // several failed reconnect attempts
  t.equal(telemetry.stats().pending, 10, 'ten windows wait in the outbox during the outage');
  t.ok(link.stats().reconnectAttempts >= 1, 'the agent kept trying to reconnect');
  t.equal((await service.deviceSeries(DEVICE)).length, 3, 'the server got nothing meanwhile');

  await broker.listen();
  await until(async () => (await service.deviceSeries(DEVICE)).length === 13, 'every window after the reconnect');
  await until(() => telemetry.stats().pending === 0, "the outbox empties as the server's acknowledgements arrive");
  t.same(
    (await service.deviceSeries(DEVICE)).map((w) => w.seq),
    Array.from({ length: 13 }, (_, i) => i),
    'seq 0..12 stored',
  );
  t.same(await service.gaps(DEVICE), [], 'no sequence gap was ever seen');
  const arrival: number[] = [];
  for (const m of watch.seen) {
    const seq = m.json().seq as number;
    if (!arrival.includes(seq)) arrival.push(seq);
  }
  t.same(
    arrival,
    Array.from({ length: 13 }, (_, i) => i),
    'first arrivals on the broker are in seq order',
  );
  const late = (await service.deviceSeries(DEVICE)).slice(3);
  t.same(
    late.map((w) => w.maxMs),
    Array.from({ length: 10 }, (_, i) => 20 + i),
    'each offline window kept its own figures',
  );
  t.equal((await service.device(DEVICE))?.droppedTotal, 0);
});

/**
 * aedes on a fixed port that can be replaced by a brand-new instance: a restart without
 * persistence, so every session and subscription is gone. CONNECTs from `held` client ids
 * wait in authenticate until `release()`: the test decides when the server comes back.
 */
async function startRestartableBroker(): Promise<{
  url: string;
  aedes(): Aedes;
  restart(held: string): Promise<void>;
  release(): void;
  close(): Promise<void>;
}> {
  let port = 0;
  let current: { aedes: Aedes; server: Server; sockets: Set<Socket> } | null = null;
  let held: string | null = null;
  const waiting: Array<() => void> = [];
  const open = async () => {
    const aedes = await Aedes.createBroker({ drainTimeout: 5_000 });
    aedes.authenticate = (client, _user, _password, done) => {
      if (client.id !== held) {
        done(null, true);
        return;
      }
      waiting.push(() => done(null, true));
    };
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      aedes.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    port = (server.address() as AddressInfo).port;
    current = { aedes, server, sockets };
  };
  const shut = async () => {
    const c = current;
    current = null;
    if (!c) return;
    for (const s of c.sockets) s.destroy();
    await new Promise<void>((resolve) => c.server.close(() => resolve()));
    await new Promise<void>((resolve) => c.aedes.close(() => resolve()));
  };
  await open();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    aedes: () => (current as { aedes: Aedes }).aedes,
    restart: async (heldId) => {
      await shut();
      held = heldId;
      await open();
    },
    release: () => {
      held = null;
      for (const admit of waiting.splice(0)) admit();
    },
    close: shut,
  };
}

/**
 * The device under test: a real agent link and its telemetry on a manual clock, so
 * acknowledgement timeouts fire only when the test advances it. Both stop at teardown.
 */
function startAgent(
  t: Test,
  o: { brokerUrl: string; dataDir: string; logger: Logger; backoff?: { initialMs: number; maxMs: number } },
) {
  const link = createAgentLink(
    linkOptions({
      brokerUrl: o.brokerUrl,
      deviceId: DEVICE,
      logger: o.logger,
      heartbeatMs: 1_000,
      ...stripUndefined({ backoff: o.backoff }),
    }),
  );
  t.teardown(() => link.stop({ clean: false }));
  const clock = createFakeClock();
  const telemetry = createTelemetry({
    deviceId: DEVICE,
    deviceClass: 'rpi4',
    dataDir: o.dataDir,
    clock,
    windowMs: 0,
    logger: o.logger,
    ackTimeoutMs: 1_000,
    transport: createLinkTransport(link, o.logger),
    model: () => null,
    budgets: () => null,
  });
  t.teardown(() => telemetry.stop());
  telemetry.start();
  return { link, clock, telemetry };
}

t.test(
  'a broker restart without sessions loses no window: what the server never acknowledged is sent again',
  async (t) => {
    const broker = await startRestartableBroker();
    t.teardown(() => broker.close());
    const { logger } = recordingLogger('warn');
    const dir = t.testdir();
    const store = openSqliteStore({ dataDir: join(dir, 'server') });
    const SERVER_ID = 'server-restart';
    const client = await createBrokerClient({ url: broker.url, clientId: SERVER_ID, logger, connectTimeoutMs: 60_000 });
    const service = createTelemetryService({
      telemetry: store.repos.telemetry,
      classes: store.repos.classes,
      client,
      clock: systemClock,
      logger,
      flushIntervalMs: 10,
    });
    const firstArrivals: number[] = [];
    client.onMessage((topic, payload) => {
      if (!topic.endsWith('/telemetry')) return;
      const seq = (JSON.parse(payload.toString('utf8')) as { seq: number }).seq;
      if (!firstArrivals.includes(seq)) firstArrivals.push(seq);
    });
    await service.start();
    t.teardown(async () => {
      await service.stop();
      await client.close();
      await store.close();
    });

    const { link, clock, telemetry } = startAgent(t, {
      brokerUrl: broker.url,
      dataDir: join(dir, 'agent'),
      logger,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await link.start();
    for (let i = 0; i < 3; i += 1) {
      telemetry.recordInference(5 + i);
      telemetry.closeWindow();
    }
    await until(
      async () => (await service.deviceSeries(DEVICE)).length === 3 && telemetry.stats().pending === 0,
      'three windows stored and acknowledged before the restart',
    );

    // The broker dies and a new one, knowing nothing, takes the port; the server's client may
    // connect only once the agent has flushed its outbox into a broker nobody listens on.
    await broker.restart(SERVER_ID);
    // A counter, not the state: the new broker listens at once and the link may already be back.
    await until(() => link.stats().connectionsLost === 1, 'the link notices the restart');
    for (let i = 0; i < 10; i += 1) {
      telemetry.recordInference(20 + i);
      telemetry.closeWindow();
    }
    const flushed = new Set<number>();
    broker.aedes().on('publish', (packet, c) => {
      if (c?.id === DEVICE && packet.topic.endsWith('/telemetry'))
        flushed.add((JSON.parse(packet.payload.toString()) as { seq: number }).seq);
    });
    await until(
      () => [3, 4, 5, 6, 7, 8, 9, 10, 11, 12].every((s) => flushed.has(s)),
      'the agent flushed every offline window into the new broker',
    );
    t.equal((await service.deviceSeries(DEVICE)).length, 3, 'nobody was subscribed: the server got none of them');

    let serverSubscribed = false;
    broker.aedes().on('subscribe', (subs, c) => {
      if (c?.id === SERVER_ID && subs.some((s) => s.topic === allDevicesFilter('telemetry'))) serverSubscribed = true;
    });
    broker.release();
    await until(() => serverSubscribed, "the server's client is back and subscribed");
    // Unacknowledged entries go out again after the acknowledgement timeout.
    clock.advance(1_000);
    await until(async () => (await service.deviceSeries(DEVICE)).length === 13, 'every window after the resend');
    await until(() => telemetry.stats().pending === 0, 'the outbox empties once the server acknowledged');
    t.same(
      (await service.deviceSeries(DEVICE)).map((w) => w.seq),
      Array.from({ length: 13 }, (_, i) => i),
      'seq 0..12 stored',
    );
    t.same(await service.gaps(DEVICE), [], 'no sequence gap was ever seen');
    t.same(
      firstArrivals,
      Array.from({ length: 13 }, (_, i) => i),
      'the server first saw them in seq order',
    );
    t.same(
      (await service.deviceSeries(DEVICE)).slice(3).map((w) => w.maxMs),
      Array.from({ length: 10 }, (_, i) => 20 + i),
      'each offline window kept its own figures',
    );
    t.ok(
      telemetry.stats().resends >= 10,
      `the ten lost windows were sent again (${telemetry.stats().resends} resends)`,
    );
  },
);

t.test('a failed server batch is recovered: the agent sends again what was never acknowledged', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const { logger } = recordingLogger('warn');
  // One testdir (a second t.testdir() call would empty the first), the store and the agent apart in it.
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: join(dir, 'server') });
  const client = await createBrokerClient({ url: broker.url, clientId: 'server-failing', logger });
  const service = createTelemetryService({
    telemetry: store.repos.telemetry,
    classes: store.repos.classes,
    client,
    clock: systemClock,
    logger,
    flushIntervalMs: 10,
  });
  await service.start();
  t.teardown(async () => {
    await service.stop();
    await client.close();
    await store.close();
  });
  // A second real connection to the same SQLite file: a trigger makes the transaction that
  // stores window 1 abort and roll back, as a full disk or a locked database would.
  const db = new Database(store.location);
  t.teardown(() => db.close());

  const { link, clock, telemetry } = startAgent(t, { brokerUrl: broker.url, dataDir: join(dir, 'agent'), logger });
  await link.start();
  telemetry.closeWindow();
  await until(
    async () => (await service.deviceSeries(DEVICE)).length === 1 && telemetry.stats().pending === 0,
    'window 0 stored and acknowledged',
  );

  db.exec(
    `CREATE TRIGGER fail_window_1 BEFORE INSERT ON telemetry_windows WHEN NEW.seq = 1 BEGIN SELECT RAISE(ABORT, ` +
      `'injected failure'); END`,
  );
  telemetry.closeWindow();
  await until(() => service.stats().failedBatches === 1, 'the batch with window 1 failed');
  t.equal((await service.deviceSeries(DEVICE)).length, 1, 'rolled back: window 1 is not stored');
  db.exec('DROP TRIGGER fail_window_1');
  clock.advance(1_000);
  await until(async () => (await service.deviceSeries(DEVICE)).length === 2, 'window 1 stored after the resend');
  await until(() => telemetry.stats().pending === 0, 'and acknowledged');
  t.same(
    (await service.deviceSeries(DEVICE)).map((w) => w.seq),
    [0, 1],
  );
  t.same(await service.gaps(DEVICE), []);
  t.equal(service.stats().failedBatches, 1);
  t.equal(telemetry.stats().resends, 1, 'window 1 was sent once more');
});

t.test(
  'an outbox entry that fails its schema (left by another agent version) is skipped, not resent forever',
  async (t) => {
    const broker = await startTestBroker();
    t.teardown(() => broker.close());
    const { logger, lines } = recordingLogger('warn');
    const dir = t.testdir();
    const store = openSqliteStore({ dataDir: join(dir, 'server') });
    const client = await createBrokerClient({ url: broker.url, clientId: 'server-skip', logger });
    const service = createTelemetryService({
      telemetry: store.repos.telemetry,
      classes: store.repos.classes,
      client,
      clock: systemClock,
      logger,
      flushIntervalMs: 10,
    });
    await service.start();
    t.teardown(async () => {
      await service.stop();
      await client.close();
      await store.close();
    });
    const agentDir = join(dir, 'agent');
    const stale = openOutbox({ dir: join(agentDir, 'telemetry', 'outbox') });
    stale.append('telemetry', { ...telemetryWindow(DEVICE, 0), inferences: -1 });

    const { link, telemetry } = startAgent(t, { brokerUrl: broker.url, dataDir: agentDir, logger });
    await link.start();
    telemetry.closeWindow();
    await until(() => telemetry.stats().pending === 0, 'the outbox empties');
    t.match(telemetry.stats(), { unpublishable: 1, delivered: 1, resends: 0 });
    t.same(
      (await service.deviceSeries(DEVICE)).map((w) => w.seq),
      [0],
      'the valid window was stored',
    );
    t.ok(
      lines.some((l) => l.msg === 'outbox entry fails its schema; skipping it'),
      'and the skip was logged',
    );
  },
);

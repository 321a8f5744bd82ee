/**
 * The outage test of issue 7: the broker stops accepting and drops the device's connection
 * for a while, then listens again on the same port. Meanwhile the agent keeps closing
 * windows into its on-disk outbox. After the reconnect the server has every window, no
 * sequence gap, and they arrived in order.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import t from 'tap';
import { createAgentLink, createTelemetry, systemClock } from '@edgefleet/agent';
import { createBrokerClient } from '@edgefleet/server/broker/client';
import { openStore } from '@edgefleet/server/store/db';
import { createTelemetryService } from '@edgefleet/server/telemetry/index';
import { allDevicesFilter } from '@edgefleet/shared';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';
import { watchTopics } from '../helpers/mqtt-watch.js';

const DEVICE = 'dev-outage';

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** aedes on a port whose TCP listener can be closed and reopened while the broker (and its sessions) live on. */
async function startInterruptibleBroker(): Promise<{ url: string; port: number; aedes: Aedes; stopListening(): Promise<void>; listen(): Promise<void>; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker({ drainTimeout: 5_000 });
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const listen = async () => {
    const s = createServer((socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)); aedes.handle(socket); });
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, '127.0.0.1', () => resolve()); });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();
  const stopListening = async () => {
    const s = server;
    server = null;
    // close() only stops accepting; its callback would wait for the server's own connection too.
    s?.close();
    await new Promise<void>((resolve) => { const c = (aedes as Aedes & { readonly clients: Readonly<Record<string, { close(cb: () => void): void } | undefined>> }).clients[DEVICE]; if (c) c.close(() => resolve()); else resolve(); });
  };
  return {
    url: `mqtt://127.0.0.1:${port}`, port, aedes, stopListening, listen,
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
  const store = openStore({ dataDir: t.testdir() });
  const client = await createBrokerClient({ url: broker.url, clientId: 'server-outage', logger });
  const service = createTelemetryService({ store, client, now: Date.now, logger, flushIntervalMs: 10, pruneIntervalMs: 0 });
  await service.start();
  t.teardown(async () => { service.stop(); await client.close(); store.close(); });
  const watch = await watchTopics(broker.url, allDevicesFilter('telemetry'));
  t.teardown(() => watch.close());

  const link = createAgentLink(linkOptions({ brokerUrl: broker.url, deviceId: DEVICE, logger, backoff: { initialMs: 50, maxMs: 200 }, heartbeatMs: 1_000 }));
  t.teardown(() => link.stop({ clean: false }));
  const telemetry = createTelemetry({
    deviceId: DEVICE, deviceClass: 'rpi4', dataDir: t.testdir(), clock: systemClock, windowMs: 0, logger,
    transport: { publish: (channel, message) => link.publish(channel, message), isOnline: () => link.stats().state === 'online', onOnline: (l) => link.onOnline(l) },
    model: () => null, budgets: () => null,
  });
  t.teardown(() => telemetry.stop());
  telemetry.start();
  await link.start();

  for (let i = 0; i < 3; i += 1) { telemetry.recordInference(5 + i); telemetry.closeWindow(); }
  await until(() => service.deviceSeries(DEVICE).length === 3, 'three windows before the outage');

  await broker.stopListening();
  await until(() => link.stats().state !== 'online', 'the link notices the outage');
  for (let i = 0; i < 10; i += 1) { telemetry.recordInference(20 + i); telemetry.closeWindow(); }
  await new Promise((r) => setTimeout(r, 300)); // several failed reconnect attempts
  t.equal(telemetry.stats().pending, 10, 'ten windows wait in the outbox during the outage');
  t.ok(link.stats().reconnectAttempts >= 1, 'the agent kept trying to reconnect');
  t.equal(service.deviceSeries(DEVICE).length, 3, 'the server got nothing meanwhile');

  await broker.listen();
  await until(() => service.deviceSeries(DEVICE).length === 13, 'every window after the reconnect');
  await until(() => telemetry.stats().pending === 0, 'the outbox empties as acknowledgements arrive');
  t.same(service.deviceSeries(DEVICE).map((w) => w.seq), Array.from({ length: 13 }, (_, i) => i), 'seq 0..12 stored');
  t.same(service.gaps(DEVICE), [], 'no sequence gap was ever seen');
  const arrival: number[] = [];
  for (const m of watch.seen) {
    const seq = m.json().seq as number;
    if (!arrival.includes(seq)) arrival.push(seq);
  }
  t.same(arrival, Array.from({ length: 13 }, (_, i) => i), 'first arrivals on the broker are in seq order');
  const late = service.deviceSeries(DEVICE).slice(3);
  t.same(late.map((w) => w.maxMs), Array.from({ length: 10 }, (_, i) => 20 + i), 'each offline window kept its own figures');
  t.equal(service.device(DEVICE)?.droppedTotal, 0);
});

/**
 * Raw-protocol abuse of the embedded broker before and after CONNECT (issue 18, finding 2
 * and the fault suite): a huge announced remaining length, slow-loris CONNECTs, PUBLISH
 * before CONNECT, a second CONNECT. The server's RSS stays bounded (measured here, side by
 * side with a plain aedes that has no gate) and a good device keeps connecting and
 * publishing throughout.
 */
import t from 'tap';
import { pino } from 'pino';
import { startEmbeddedBroker } from '@edgefleet/server';
import { deviceTopic, encodeMessage } from '@edgefleet/shared';
import { connect, makeAuthServer } from '../helpers/auth.js';
import { connectPacket, publishPacket, rawConnect, varint, type RawClient } from '../helpers/raw-mqtt.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';

const MiB = 1024 * 1024;
const ANNOUNCED = 200 * MiB;
/** Body bytes each attacking connection tries to send after its header. */
const SENT = 24 * MiB;
const rssMiB = (): number => process.memoryUsage().rss / MiB;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Three connections announcing a 200 MiB CONNECT and streaming 24 MiB of it; returns RSS growth and bytes taken. */
async function hugeConnects(port: number): Promise<{ grewMiB: number; sentMiB: number; closed: number }> {
  const before = rssMiB();
  const clients: RawClient[] = await Promise.all([0, 1, 2].map(() => rawConnect(port)));
  const header = Buffer.concat([Buffer.from([0x10]), varint(ANNOUNCED)]);
  const sent = await Promise.all(clients.map(async (c) => ((await c.write(header)) ? c.stream(SENT) : 0)));
  await sleep(300); // let the broker read what the kernel holds
  const grewMiB = rssMiB() - before;
  const closed = (await Promise.all(clients.map((c) => c.closedWithin(200)))).filter(Boolean).length;
  for (const c of clients) c.socket.destroy();
  return { grewMiB, sentMiB: sent.reduce((a, b) => a + b, 0) / MiB, closed };
}

t.test('raw-protocol abuse: bounded memory, a responsive server', async (t) => {
  const server = makeAuthServer(t.testdir(), {
    'connections.maxPendingPerAddress': 32,
    'connections.connectTimeoutMs': 1_500,
  });
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const port = Number(new URL(brokerUrl).port);
  const refusals = new Map<string, number>();
  server.events.subscribe((e) => {
    if (e.event.type === 'broker.refused') refusals.set(e.event.reason, (refusals.get(e.event.reason) ?? 0) + 1);
  });
  const good = await server.auth().provisionDevice('dev-good', 'rpi4');
  let seq = 0;
  /** The good device connects and has a window stored: the server is responsive. */
  async function goodDeviceWorks(): Promise<boolean> {
    const c = await connect(brokerUrl, { clientId: 'dev-good', username: 'dev-good', password: good.secret });
    try {
      const window = telemetryWindow('dev-good', seq);
      seq += 1;
      await c.publishAsync(deviceTopic('dev-good', 'telemetry'), encodeMessage(window), { qos: 1 });
      const start = Date.now();
      while (Date.now() - start < 5_000) {
        if ((await server.telemetry().deviceSeries('dev-good')).some((w) => w.seq === window.seq)) return true;
        await sleep(20);
      }
      return false;
    } finally {
      await c.endAsync(true);
    }
  }

  await t.test('a CONNECT announcing 200 MiB is cut off at its header', async (t) => {
    const gated = await hugeConnects(port);
    t.equal(gated.closed, 3, 'every attacking connection was closed by the server');
    t.ok(gated.grewMiB < 24, `RSS grew ${gated.grewMiB.toFixed(1)} MiB, less than one attacker's 24 MiB`);
    t.ok(await goodDeviceWorks(), 'the good device still connects and has its window stored');
    // The same attack on aedes without the gate, for comparison (the issue measured +341 MB for three).
    const plain = await startEmbeddedBroker({ port: 0, logger: pino({ level: 'silent' }) });
    const ungated = await hugeConnects(plain.port);
    await plain.close();
    t.comment(
      `tried: 3 connections announcing 200 MiB, each streaming up to 24 MiB; found: gated server closed ` +
        `${gated.closed}, ` +
        `took ${gated.sentMiB.toFixed(1)} MiB, RSS +${gated.grewMiB.toFixed(1)} MiB; plain aedes closed ` +
        `${ungated.closed}, ` +
        `took ${ungated.sentMiB.toFixed(1)} MiB, RSS +${ungated.grewMiB.toFixed(1)} MiB`,
    );
    t.ok(ungated.sentMiB > gated.sentMiB, 'plain aedes reads what the gated server refuses');
  });

  await t.test('an oversize CONNECT, PUBLISH before CONNECT, a second CONNECT, 200 MiB after CONNECT', async (t) => {
    const found: string[] = [];
    const bigConnect = await rawConnect(port);
    await bigConnect.write(connectPacket('dev-good', 'dev-good', 'x'.repeat(20_000)));
    t.ok(await bigConnect.closedWithin(2_000), 'a 20 KB CONNECT (limit 16 KiB) is refused');
    found.push(`20 KB CONNECT closed`);

    const early = await rawConnect(port);
    await early.write(publishPacket(deviceTopic('dev-good', 'telemetry'), 'x'));
    t.ok(await early.closedWithin(2_000), 'PUBLISH before CONNECT closes the connection');
    found.push('PUBLISH-first closed');

    const twice = await rawConnect(port);
    await twice.write(connectPacket('dev-good', 'dev-good', good.secret));
    t.same([...(await twice.read(4))], [0x20, 2, 0, 0], 'the first CONNECT is accepted (CONNACK 0)');
    await twice.write(connectPacket('dev-good', 'dev-good', good.secret));
    t.ok(await twice.closedWithin(2_000), 'a second CONNECT closes the connection [MQTT-3.1.0-2]');
    found.push('second CONNECT closed');

    const after = await rawConnect(port);
    await after.write(connectPacket('dev-good', 'dev-good', good.secret));
    await after.read(4);
    const topic = Buffer.from(deviceTopic('dev-good', 'telemetry'));
    const header = Buffer.concat([Buffer.from([0x30]), varint(ANNOUNCED)]);
    await after.write(Buffer.concat([header, Buffer.from([topic.length >> 8, topic.length & 0xff]), topic]));
    const sent = await after.stream(8 * MiB);
    t.ok(await after.closedWithin(2_000), 'a PUBLISH announcing 200 MiB after CONNECT closes the connection');
    found.push(`200 MiB PUBLISH closed after ${(sent / MiB).toFixed(1)} MiB taken`);
    t.ok(await goodDeviceWorks(), 'the good device still works');
    t.ok((refusals.get('oversize-packet') ?? 0) >= 1, 'an oversize CONNECT is counted as a refused connection');
    t.equal(
      server.rejections.counts().oversize,
      1,
      'the oversize PUBLISH of an accepted client as one oversize message',
    );
    t.comment(`tried: 4 protocol violations; found: ${found.join(', ')}`);
  });

  await t.test('slow-loris CONNECTs from one address are capped; other addresses connect', async (t) => {
    const before = rssMiB();
    const loris: RawClient[] = [];
    for (let i = 0; i < 60; i += 1) {
      const c = await rawConnect(port, '127.0.0.2');
      await c.write(Buffer.from([0x10, 50])); // a CONNECT header, then nothing
      loris.push(c);
    }
    await sleep(200);
    const closedAtOnce = (await Promise.all(loris.map((c) => c.closedWithin(0)))).filter(Boolean).length;
    t.equal(closedAtOnce, 60 - 32, 'beyond 32 pending connections from 127.0.0.2 each is closed at once');
    t.ok(await goodDeviceWorks(), 'a device on 127.0.0.1 connects meanwhile');
    const closedLater = (await Promise.all(loris.map((c) => c.closedWithin(5_000)))).filter(Boolean).length;
    t.equal(closedLater, 60, 'the connect timeout (1.5 s here) closes the rest');
    const fresh = await rawConnect(port, '127.0.0.2');
    await fresh.write(connectPacket('dev-good', 'dev-good', good.secret));
    t.same([...(await fresh.read(4))], [0x20, 2, 0, 0], 'the address may connect again once its slots are free');
    fresh.socket.destroy();
    t.comment(
      `tried: 60 half-sent CONNECTs from 127.0.0.2 (cap 32); found: ${closedAtOnce} closed at once, ` +
        `${closedLater} closed by the timeout, RSS +${(rssMiB() - before).toFixed(1)} MiB, ` +
        `refusals ${JSON.stringify(Object.fromEntries(refusals))}`,
    );
  });
});

t.test('a packet of exactly the limit passes the gate; one byte more does not', async (t) => {
  const server = makeAuthServer(t.testdir());
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const port = Number(new URL(brokerUrl).port);
  let oversize = 0;
  server.events.subscribe((e) => {
    if (e.event.type === 'broker.refused' && e.event.reason === 'oversize-packet') oversize += 1;
  });
  // A CONNECT of exactly 16 KiB with a 16 KiB password is read and judged by aedes (CONNACK 4).
  const password = 'p'.repeat(16 * 1024 - 2 - 6 - 4 - 2 - 4 - 2 - 4 - 2);
  const fits = await rawConnect(port);
  const fitting = connectPacket('dev-x', 'dev-x', password);
  await fits.write(fitting);
  t.same([...(await fits.read(4))], [0x20, 2, 0, 4], 'a CONNECT of exactly the limit reaches authentication');
  t.equal(oversize, 0);
  const over = await rawConnect(port);
  await over.write(connectPacket('dev-x', 'dev-x', `${password}p`));
  t.ok(await over.closedWithin(2_000), 'one byte more is refused before it is read');
  t.equal(oversize, 1, 'and counted once as oversize-packet');
  fits.socket.destroy();
  t.comment(
    `tried: CONNECTs of ${fitting.length - 4} and ${fitting.length - 3} remaining bytes; found: CONNACK 4, then closed`,
  );
});

/**
 * The server's own connection to the embedded broker is never dropped as a slow subscriber
 * (issue 20). At ~7,000 devices of bench:scale the one server process fell behind reading its
 * socket; aedes (drainTimeout) and mqtt.js (keepalive) then cut its connection, every message
 * queued on it was lost, and presence collapsed to 0 online. A device that stops reading is still
 * dropped after `drainTimeoutMs`; the server's connection waits until the server reads again.
 */
import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { startEmbeddedBroker } from '@edgefleet/server';

const OWN_ID = 'edgefleet-server-slow-test';
/** 16 MB in all: far more than loopback socket buffers hold, so both paused sockets fill. */
const MESSAGES = 4_000;
const PAYLOAD = Buffer.alloc(4096, 7);

async function subscriber(
  url: string,
  clientId: string,
  filter: string,
): Promise<{ client: MqttClient; seen: () => number }> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, keepalive: 0 });
  await client.subscribeAsync(filter, { qos: 0 });
  let seen = 0;
  client.on('message', () => {
    seen += 1;
  });
  return { client, seen: () => seen };
}

t.test('a full socket drops a slow device, not the server that is only behind', async (t) => {
  const broker = await startEmbeddedBroker({ port: 0, drainTimeoutMs: 300, ownClientId: OWN_ID });
  t.teardown(() => broker.close());
  const own = await subscriber(broker.url, OWN_ID, 'flood/#');
  const device = await subscriber(broker.url, 'slow-device', 'device/#');
  t.teardown(() => own.client.end(true));
  t.teardown(() => device.client.end(true));
  // A paused socket does not notice its end: ask the broker whom it still serves.
  let ownClosed = false;
  own.client.on('close', () => (ownClosed = true));
  // Neither reads: as a server whose event loop is busy elsewhere, and as a stalled device.
  own.client.stream.pause();
  device.client.stream.pause();

  const publisher = await mqtt.connectAsync(broker.url, { clientId: 'publisher', reconnectPeriod: 0 });
  t.teardown(() => publisher.end(true));
  const flood = (prefix: string) => {
    for (let i = 0; i < MESSAGES; i += 1) publisher.publish(`${prefix}/${i}`, PAYLOAD, { qos: 0 });
  };
  // The device's messages first: while the server's full socket is waited for, aedes holds every
  // delivery (backpressure), so the device's socket would never fill behind it.
  flood('device');
  const start = Date.now();
  while (broker.connectedClients() > 2 && Date.now() - start < 30_000) await new Promise((r) => setTimeout(r, 50));
  t.equal(broker.connectedClients(), 2, 'the device that stopped reading was dropped after drainTimeoutMs');
  flood('flood');
  // Well past drainTimeoutMs (300 ms) with the server's socket full.
  await new Promise((r) => setTimeout(r, 1_500));
  t.equal(broker.connectedClients(), 2, "the server's own connection was kept while it did not read");

  own.client.stream.resume();
  while (own.seen() < MESSAGES && !ownClosed && Date.now() - start < 60_000)
    await new Promise((r) => setTimeout(r, 50));
  t.equal(own.seen(), MESSAGES, 'once it reads again, the server gets every message queued for it');
  t.notOk(ownClosed);
});

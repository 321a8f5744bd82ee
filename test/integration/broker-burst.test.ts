/**
 * The embedded broker under a burst (issue 20): at ~1,100 devices of bench:scale, aedes died
 * with `RangeError: Maximum call stack size exceeded`. Cause: aedes's message emitter
 * (mqemitter) queues a message once 100 are in flight and, as each finishes, starts the next
 * one on the same stack; a message no subscriber matches finishes synchronously, so a queue
 * of them recursed once per message (aedes#193). Here one connection sends a burst that
 * fills the queue with such messages: the broker must stay up and keep delivering.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '@edgefleet/server';
import { connectPacket, publishPacket, rawConnect } from '../helpers/raw-mqtt.js';

/** Enough queued unmatched messages to overflow a default V8 stack several times over. */
const UNMATCHED = 30_000;
/** More matched (asynchronously delivered) messages than aedes's 100 in flight. */
const MATCHED = 300;

t.test('a burst of messages nobody subscribed to does not overflow the stack', async (t) => {
  const broker = await startEmbeddedBroker({ port: 0 });
  t.teardown(() => broker.close());
  const watcher = await mqtt.connectAsync(broker.url, { clientId: 'watcher', reconnectPeriod: 0 });
  t.teardown(() => watcher.endAsync());
  await watcher.subscribeAsync('burst/watched', { qos: 0 });
  let seen = 0;
  watcher.on('message', () => {
    seen += 1;
  });

  const raw = await rawConnect(broker.port);
  t.teardown(() => raw.socket.destroy());
  await raw.write(connectPacket('burster'));
  await raw.read(4); // CONNACK
  // One write, so aedes parses the whole burst in one turn: the watched messages take the 100
  // slots, the unmatched ones queue behind them.
  const watched = Array.from({ length: MATCHED }, (_, i) => publishPacket('burst/watched', String(i)));
  const unmatched = Array.from({ length: UNMATCHED }, () => publishPacket('burst/nobody', 'x'));
  await raw.write(Buffer.concat([...watched, ...unmatched, publishPacket('burst/watched', 'last')]));

  const start = Date.now();
  while (seen < MATCHED + 1 && Date.now() - start < 60_000) await new Promise((r) => setTimeout(r, 20));
  t.equal(seen, MATCHED + 1, 'every watched message was delivered after the burst');
  t.equal(broker.connectedClients(), 2, 'both clients are still connected');
});

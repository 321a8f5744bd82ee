/**
 * The agent link against a real aedes broker on loopback: presence messages and their
 * schemas, clean stop, and the broker's last will after a crash, a hung network or a cut one
 * (the network faults come from the simulators' TCP relay, not from a hook in the agent).
 */
import t from 'tap';
import { createAgentLink } from '@edgefleet/agent';
import { startNetworkFaultRelay } from '@edgefleet/simulators';
import { deviceTopic, heartbeatSchema, helloSchema, statusSchema } from '@edgefleet/shared';
import { startTestBroker } from '../helpers/broker.js';
import { watchTopics } from '../helpers/mqtt-watch.js';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';

t.test('hello, retained online status and heartbeats arrive with valid schemas', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const watch = await watchTopics(broker.url, 'ef/v1/devices/dev-a/#');
  t.teardown(() => watch.close());
  const link = createAgentLink(
    linkOptions({ brokerUrl: broker.url, deviceId: 'dev-a', logger: recordingLogger().logger }),
  );
  t.teardown(() => link.stop());
  await link.start();

  const hello = await watch.waitFor((m) => m.topic === deviceTopic('dev-a', 'hello'), 5_000, 'hello');
  const parsedHello = helloSchema.safeParse(hello.json());
  t.ok(parsedHello.success, 'hello matches its schema');
  t.equal(parsedHello.data?.deviceClass, 'rpi4');
  t.same(parsedHello.data?.capabilities.executionProviders, ['cpu']);

  const online = await watch.waitFor((m) => m.topic === deviceTopic('dev-a', 'status'), 5_000, 'status');
  t.match(statusSchema.parse(online.json()), { state: 'online', reason: 'connect' });

  await watch.waitFor(
    (m) => m.topic === deviceTopic('dev-a', 'heartbeat') && m.json().seq === 2,
    5_000,
    'third heartbeat',
  );
  const beats = watch.seen
    .filter((m) => m.topic === deviceTopic('dev-a', 'heartbeat'))
    .map((m) => heartbeatSchema.parse(m.json()));
  t.same(
    beats.slice(0, 3).map((b) => b.seq),
    [0, 1, 2],
    'heartbeats numbered in order',
  );
  t.ok(beats.every((b) => b.uptimeMs >= 0));

  // A subscriber arriving later still learns the device is online: status is retained.
  const late = await watchTopics(broker.url, deviceTopic('dev-a', 'status'));
  t.teardown(() => late.close());
  const retained = await late.waitFor(() => true, 5_000, 'retained status');
  t.equal(retained.retain, true);
  t.equal(retained.json().state, 'online');

  const stats = link.stats();
  t.equal(stats.state, 'online');
  t.equal(stats.connects, 1);
  t.equal(stats.published.hello, 1);
  t.ok(stats.heartbeatsSent >= 3);
});

t.test('a clean stop leaves a retained offline status with reason clean', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const watch = await watchTopics(broker.url, deviceTopic('dev-b', 'status'));
  t.teardown(() => watch.close());
  const link = createAgentLink(
    linkOptions({ brokerUrl: broker.url, deviceId: 'dev-b', logger: recordingLogger().logger }),
  );
  await link.start();
  await watch.waitFor((m) => m.json().state === 'online', 5_000, 'online');
  await link.stop({ clean: true });
  t.equal(link.stats().state, 'stopped');
  const offline = await watch.waitFor((m) => m.json().state === 'offline', 5_000, 'offline');
  t.equal(offline.json().reason, 'clean');
  t.notOk(
    watch.seen.some((m) => m.json().reason === 'lost'),
    'no last will after a clean disconnect',
  );

  const late = await watchTopics(broker.url, deviceTopic('dev-b', 'status'));
  t.teardown(() => late.close());
  const retained = await late.waitFor(() => true, 5_000, 'retained status');
  t.match(retained.json(), { state: 'offline', reason: 'clean' });
  await t.rejects(
    link.publish('status', statusSchema.parse({ ...retained.json() })),
    { code: 'EF_ERR_LINK_OFFLINE' },
    'publishing after stop fails loudly',
  );
});

t.test(
  'a crash (stop without clean) drops the socket: the broker publishes the will and the link stays down',
  async (t) => {
    const broker = await startTestBroker();
    t.teardown(() => broker.close());
    const watch = await watchTopics(broker.url, deviceTopic('dev-c', 'status'));
    t.teardown(() => watch.close());
    const link = createAgentLink(
      linkOptions({ brokerUrl: broker.url, deviceId: 'dev-c', logger: recordingLogger().logger, keepaliveS: 1 }),
    );
    t.teardown(() => link.stop());
    await link.start();
    await watch.waitFor((m) => m.json().state === 'online', 5_000, 'online');
    await link.stop({ clean: false });
    const lost = await watch.waitFor((m) => m.json().state === 'offline', 5_000, 'will');
    t.match(statusSchema.parse(lost.json()), { state: 'offline', reason: 'lost', deviceId: 'dev-c' });
    t.equal(link.stats().state, 'stopped');
    t.equal(link.stats().reconnectAttempts, 0, 'a stopped link does not reconnect');
  },
);

t.test('a hung network (relay frozen, socket open) gets the will only from the keepalive timeout', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const relay = await startNetworkFaultRelay(broker.url);
  t.teardown(() => relay.close());
  const watch = await watchTopics(broker.url, deviceTopic('dev-d', 'status'));
  t.teardown(() => watch.close());
  const keepaliveS = 1;
  const link = createAgentLink(
    linkOptions({ brokerUrl: relay.url, deviceId: 'dev-d', logger: recordingLogger().logger, keepaliveS }),
  );
  t.teardown(() => link.stop({ clean: false }));
  await link.start();
  await watch.waitFor((m) => m.json().state === 'online', 5_000, 'online');
  const hungAt = Date.now();
  relay.hang();
  const lost = await watch.waitFor((m) => m.json().state === 'offline', 10_000, 'will after keepalive timeout');
  t.equal(lost.json().reason, 'lost');
  // A lower bound only: the broker waits for silence of 1.5 × keepalive, so an immediate
  // will would mean the socket was closed, which is not what a hang does.
  t.ok(lost.at - hungAt >= keepaliveS * 1000, `will after ${lost.at - hungAt} ms, not before one keepalive`);
});

t.test('a cut network (connections reset) gets the will at once and the link reconnects', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const relay = await startNetworkFaultRelay(broker.url);
  t.teardown(() => relay.close());
  const watch = await watchTopics(broker.url, deviceTopic('dev-e', 'status'));
  t.teardown(() => watch.close());
  const link = createAgentLink(
    linkOptions({ brokerUrl: relay.url, deviceId: 'dev-e', logger: recordingLogger().logger, keepaliveS: 30 }),
  );
  t.teardown(() => link.stop());
  await link.start();
  await watch.waitFor((m) => m.json().state === 'online', 5_000, 'online');
  relay.cut();
  const lost = await watch.waitFor((m) => m.json().state === 'offline', 5_000, 'will on reset');
  t.equal(lost.json().reason, 'lost', 'well before the 45 s keepalive timeout');
  await watch.waitFor((m) => m.json().state === 'online' && m.at > lost.at, 10_000, 'back online');
  t.equal(relay.connections(), 2, 'reconnected through the relay');
});

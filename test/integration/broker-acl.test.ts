/**
 * Embedded broker permissions over real MQTT [EF-PROTO 7.3]: a device is confined to its
 * own topics, $SYS is closed, credentials and client ids are checked, revocation cuts a
 * device off and keeps it out.
 */
import t from 'tap';
import type { MqttClient } from 'mqtt';
import { deviceTopic, encodeMessage } from '@edgefleet/shared';
import { pino } from 'pino';
import { createAuthService, openSqliteStore, startEmbeddedBroker } from '@edgefleet/server';
import { createBrokerAccess } from '@edgefleet/server/auth/broker-access';
import { closedWithin, connect, makeAuthServer, sleep, subscribeGranted } from '../helpers/auth.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';

t.test('device permissions on the embedded broker', async (t) => {
  const server = makeAuthServer(t.testdir());
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const a = await server.auth().provisionDevice('dev-a', 'rpi4');
  const b = await server.auth().provisionDevice('dev-b', 'rpi4');
  const clients: MqttClient[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))));
  const asDevice = async (id: string, secret: string) => {
    const c = await connect(brokerUrl, { clientId: id, username: id, password: secret, clean: true });
    clients.push(c);
    return c;
  };

  await t.test('credentials and client ids are checked at CONNECT', async (t) => {
    await t.rejects(connect(brokerUrl, { clientId: 'dev-a' }), { code: 4 }, 'no credentials: CONNACK 4');
    await t.rejects(
      connect(brokerUrl, { clientId: 'dev-a', username: 'dev-a', password: 'x'.repeat(43) }),
      { code: 4 },
      'wrong secret: CONNACK 4',
    );
    await t.rejects(
      connect(brokerUrl, { clientId: 'dev-b', username: 'dev-a', password: a.secret }),
      { code: 2 },
      'client id must be the user name: CONNACK 2',
    );
    await t.rejects(
      connect(brokerUrl, { clientId: 'nobody', username: 'nobody', password: a.secret }),
      { code: 4 },
      'unknown device: CONNACK 4',
    );
    await t.rejects(
      connect(brokerUrl, { clientId: 'edgefleet-server', username: 'edgefleet-server', password: 'guess' }),
      { code: 4 },
      'the server identity cannot be guessed',
    );
  });

  const devA = await asDevice('dev-a', a.secret);
  const devB = await asDevice('dev-b', b.secret);

  await t.test("A cannot subscribe to B's topics or wildcards outside its subtree", async (t) => {
    for (const filter of [
      deviceTopic('dev-b', 'desired'),
      deviceTopic('dev-b', 'telemetry-ack'),
      'ef/v1/devices/+/desired',
      'ef/v1/devices/+/telemetry-ack',
      'ef/v1/#',
      '#',
      '$SYS/#',
      deviceTopic('dev-a', 'hello').replace('hello', '+').replace('dev-a', '+'),
    ]) {
      t.equal(await subscribeGranted(devA, filter), 128, `${filter} refused with SUBACK 0x80`);
    }
    for (const filter of [
      deviceTopic('dev-a', 'desired'),
      deviceTopic('dev-a', 'commands'),
      deviceTopic('dev-a', 'telemetry-ack'),
      'ef/v1/devices/dev-a/#',
    ]) {
      t.equal(await subscribeGranted(devA, filter), 1, `${filter} granted`);
    }
  });

  await t.test("the server acknowledges A's telemetry to A alone [EF-PROTO 8.2]", async (t) => {
    const got: Record<string, string[]> = { 'dev-a': [], 'dev-b': [] };
    devA.on('message', (topic) => got['dev-a']?.push(topic));
    devB.on('message', (topic) => got['dev-b']?.push(topic));
    await subscribeGranted(devB, 'ef/v1/devices/dev-b/#');
    await devA.publishAsync(deviceTopic('dev-a', 'telemetry'), encodeMessage(telemetryWindow('dev-a', 0)), { qos: 1 });
    const deadline = Date.now() + 10_000;
    while (!got['dev-a']?.includes(deviceTopic('dev-a', 'telemetry-ack')) && Date.now() < deadline) await sleep(20);
    t.ok(got['dev-a']?.includes(deviceTopic('dev-a', 'telemetry-ack')), 'A got its acknowledgement');
    await sleep(100);
    t.same(got['dev-b'], [], "B, subscribed to its whole subtree, got nothing of A's");
  });

  await t.test("A publishing on B's topic is cut off and counted as forbidden", async (t) => {
    const c = await asDevice('dev-a', a.secret);
    const before = server.rejections.counts().forbidden;
    c.publish(
      deviceTopic('dev-b', 'status'),
      encodeMessage({ type: 'status', v: 1, deviceId: 'dev-b', state: 'offline', reason: 'clean', sentAt: 1 }),
      { qos: 0 },
    );
    t.equal(await closedWithin(c, 3000), 'closed', 'connection closed [MQTT-3.3.5-2]');
    t.equal(server.rejections.counts().forbidden, before + 1, 'counted as forbidden');
  });

  await t.test('server-to-device channels and $SYS are not publishable by a device', async (t) => {
    for (const topic of [
      deviceTopic('dev-a', 'desired'),
      '$SYS/broker/clients',
      'ef/v1/enroll/enroll-0123456789ab/reply',
    ]) {
      const c = await asDevice('dev-a', a.secret);
      c.publish(topic, Buffer.from('{}'), { qos: 0 });
      t.equal(await closedWithin(c, 3000), 'closed', `publish on ${topic} closes the connection`);
    }
  });

  await t.test('a revoked device is disconnected and refused from then on', async (t) => {
    const c = await asDevice('dev-b', b.secret);
    await sleep(100);
    const closed = closedWithin(c, 3000);
    const api = server.api();
    const admin = await server.auth().createAdminToken('t', 'admin');
    const res = await api!.app.inject({
      method: 'POST',
      url: '/v1/devices/dev-b/revoke',
      headers: { authorization: `Bearer ${admin.token}` },
    });
    t.equal(res.statusCode, 200);
    t.match(res.json(), { id: 'dev-b', disconnected: true });
    t.equal(await closed, 'closed', 'the live connection is closed');
    await t.rejects(
      connect(brokerUrl, { clientId: 'dev-b', username: 'dev-b', password: b.secret }),
      { code: 5 },
      'reconnect refused with CONNACK 5',
    );
    const again = await server.auth().provisionDevice('dev-b', 'rpi4');
    const back = await connect(brokerUrl, { clientId: 'dev-b', username: 'dev-b', password: again.secret });
    clients.push(back);
    t.ok(back.connected, 're-provisioned, the device is admitted again');
  });

  await t.test('refused connections are counted in /metrics', async (t) => {
    const admin = await server.auth().createAdminToken('m', 'read');
    const res = await server
      .api()!
      .app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin.token}` } });
    t.match(res.body, /edgefleet_mqtt_connects_refused_total\{reason="bad-secret"\} [1-9]/);
    t.match(res.body, /edgefleet_mqtt_connects_refused_total\{reason="revoked"\} [1-9]/);
    t.match(res.body, /edgefleet_messages_rejected_total\{reason="forbidden"\} [1-9]/);
  });
});

t.test('connects are rate-limited per address', async (t) => {
  const server = makeAuthServer(t.testdir(), { 'auth.connectBurst': 3, 'auth.connectRatePerS': 0.01 });
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const a = await server.auth().provisionDevice('dev-a', null);
  // The server's own client used one token of the burst of 3.
  const ok = await connect(brokerUrl, { clientId: 'dev-a', username: 'dev-a', password: a.secret });
  await ok.endAsync(true);
  await connect(brokerUrl, { clientId: 'dev-a', username: 'dev-a', password: a.secret }).then((c) => c.endAsync(true));
  await t.rejects(
    connect(brokerUrl, { clientId: 'dev-a', username: 'dev-a', password: a.secret }),
    { code: 'closed' },
    'the burst is spent: the socket is closed before CONNACK',
  );
  t.equal(
    server.events.since(0).filter((e) => e.event.type === 'broker.refused' && e.event.reason === 'rate-limited').length,
    1,
    'a broker.refused event says why',
  );
});

t.test("A cannot read B's retained desired state; B can", async (t) => {
  const store = openSqliteStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  const auth = createAuthService({ repo: store.repos.auth, now: Date.now });
  const broker = await startEmbeddedBroker({
    port: 0,
    logger: pino({ level: 'silent' }),
    access: createBrokerAccess({
      auth,
      serverPassword: 'test-server-password',
      maxPayloadBytes: 256 * 1024,
      connectLimit: { burst: 100, ratePerS: 100 },
      now: Date.now,
    }),
  });
  t.teardown(() => broker.close());
  const serverClient = await connect(broker.url, {
    clientId: 'edgefleet-server-x',
    username: 'edgefleet-server',
    password: 'test-server-password',
  });
  t.teardown(() => serverClient.endAsync(true));
  const desired = (id: string) => Buffer.from(JSON.stringify({ for: id }));
  await serverClient.publishAsync(deviceTopic('dev-a', 'desired'), desired('dev-a'), { qos: 1, retain: true });
  await serverClient.publishAsync(deviceTopic('dev-b', 'desired'), desired('dev-b'), { qos: 1, retain: true });
  const a = await auth.provisionDevice('dev-a', null);
  const b = await auth.provisionDevice('dev-b', null);
  const devA = await connect(broker.url, { clientId: 'dev-a', username: 'dev-a', password: a.secret });
  const devB = await connect(broker.url, { clientId: 'dev-b', username: 'dev-b', password: b.secret });
  t.teardown(() => Promise.all([devA.endAsync(true), devB.endAsync(true)]));
  const gotA: string[] = [];
  const gotB: string[] = [];
  devA.on('message', (topic, payload) => gotA.push(`${topic} ${payload.toString()}`));
  devB.on('message', (topic, payload) => gotB.push(`${topic} ${payload.toString()}`));
  t.equal(await subscribeGranted(devA, deviceTopic('dev-b', 'desired')), 128, "B's desired topic refused");
  t.equal(await subscribeGranted(devA, 'ef/v1/devices/dev-a/#'), 1, 'own subtree granted');
  t.equal(await subscribeGranted(devB, deviceTopic('dev-b', 'desired')), 1);
  await devA.publishAsync(deviceTopic('dev-a', 'hello'), Buffer.from('{"own":"hello"}'), { qos: 1 });
  await sleep(300);
  t.same(
    gotA,
    [`${deviceTopic('dev-a', 'desired')} {"for":"dev-a"}`],
    'A receives only its own retained desired state (not its own hello either)',
  );
  t.same(gotB, [`${deviceTopic('dev-b', 'desired')} {"for":"dev-b"}`], 'B receives its own: the test could fail');
});

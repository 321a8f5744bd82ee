/**
 * A device's class is bound to its credential (issue 18, finding 3): a `hello` announcing
 * another class is refused and counted (`class-mismatch`) and changes nothing; invented
 * class names create no classes; a credential issued without a class takes the class of its
 * first hello; only an admin (PATCH /v1/devices/{id}) moves a device to another class.
 */
import t from 'tap';
import type { MqttClient } from 'mqtt';
import { deviceTopic, encodeMessage, type Hello } from '@edgefleet/shared';
import { connect, makeAuthServer } from '../helpers/auth.js';
import { capabilitiesFor, waitFor } from './presence-suite.js';

const hello = (deviceId: string, deviceClass: string): Hello => ({
  type: 'hello',
  v: 1,
  deviceId,
  deviceClass,
  agentVersion: '0.0.1',
  runtime: { node: process.version, onnxruntime: '1.30.0' },
  capabilities: capabilitiesFor(1),
  currentModel: null,
  sentAt: Date.now(),
});

t.test('hello cannot choose the class; an admin can', async (t) => {
  const server = makeAuthServer(t.testdir());
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const app = server.api()!.app;
  const admin = (await server.auth().createAdminToken('admin', 'admin')).token;
  const clients: MqttClient[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))));
  async function sayHello(id: string, secret: string, deviceClass: string): Promise<void> {
    const c = await connect(brokerUrl, { clientId: id, username: id, password: secret });
    clients.push(c);
    await c.publishAsync(deviceTopic(id, 'hello'), encodeMessage(hello(id, deviceClass)), { qos: 1 });
  }
  const seen = () => server.inbound().stats().dispatched + server.rejections.total();
  const classes = async () => new Set((await server.repos().devices.list()).map((d) => d.deviceClass));
  const deviceClassOf = async (id: string) => (await server.repos().devices.get(id))?.deviceClass;

  const pi = await server.auth().provisionDevice('pi-1', 'rpi4');
  await sayHello('pi-1', pi.secret, 'rpi4');
  await waitFor(async () => (await server.repos().devices.get('pi-1')) !== null, 5_000, 'pi-1 registered');
  const invented = ['jetson-orin', 'x1', 'x2', 'x3', 'x4', 'x5'];
  for (const name of invented) await sayHello('pi-1', pi.secret, name);
  await waitFor(() => server.rejections.counts()['class-mismatch'] === invented.length, 5_000, 'mismatches counted');
  t.equal(await deviceClassOf('pi-1'), 'rpi4', 'the device stays in its credential class');
  t.same([...(await classes())], ['rpi4'], 'no invented class was created');

  const legacy = await server.auth().provisionDevice('old-1', null);
  await sayHello('old-1', legacy.secret, 'rpi4');
  await waitFor(async () => (await server.repos().devices.get('old-1')) !== null, 5_000, 'old-1 registered');
  t.equal(
    (await server.auth().credential('old-1'))?.deviceClass,
    'rpi4',
    'a credential without class takes its first hello',
  );
  const before = seen();
  await sayHello('old-1', legacy.secret, 'jetson-orin');
  await waitFor(() => seen() > before, 5_000, 'second hello handled');
  t.equal(await deviceClassOf('old-1'), 'rpi4', 'and keeps it');

  const patch = (id: string, body: unknown, token: string | null = admin) =>
    app.inject({
      method: 'PATCH',
      url: `/v1/devices/${id}`,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      payload: body as string,
    });
  const reader = (await server.auth().createAdminToken('reader', 'read')).token;
  t.equal((await patch('pi-1', { deviceClass: 'jetson-orin' }, reader)).statusCode, 403, 'read scope may not');
  t.equal((await patch('ghost', { deviceClass: 'jetson-orin' })).statusCode, 404, 'unknown device: 404');
  t.equal((await patch('pi-1', { deviceClass: 'bad name!' })).statusCode, 400, 'invalid class: 400');
  const moved = await patch('pi-1', { deviceClass: 'jetson-orin' });
  t.equal(moved.statusCode, 200);
  t.equal(moved.json().deviceClass, 'jetson-orin', 'the admin moved it');
  const mismatches = server.rejections.counts()['class-mismatch'];
  await sayHello('pi-1', pi.secret, 'jetson-orin');
  await sayHello('pi-1', pi.secret, 'rpi4');
  await waitFor(() => server.rejections.counts()['class-mismatch'] === mismatches + 1, 5_000, 'old class refused');
  t.equal(await deviceClassOf('pi-1'), 'jetson-orin', 'hellos of the new class are accepted');
  t.comment(
    `tried: ${invented.length} hellos with invented classes, a class-less credential, an admin move; found: ` +
      `${server.rejections.counts()['class-mismatch']} class-mismatch rejections, classes ` +
      `${[...(await classes())].join(',')}`,
  );
});

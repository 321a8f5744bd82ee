/**
 * Replicas as the README ships them (issue 20), run by replicas.test.ts on its Postgres: auth
 * on, mosquitto 2 with its dynamic security plugin configured by `edgefleet broker-config
 * mosquitto --dynsec`'s writer, two servers on one Postgres and one shared directory. A device
 * enrolls through replica a (the only one running then), a stops, and replica b serves the
 * device: its hello, its telemetry acknowledgement, and its revocation, which deletes the broker
 * client replica a created. Before this case existed the plugin refused the replicas' `$share/…`
 * subscriptions and replica b had no broker password.
 */
import type { Test } from 'tap';
import { join } from 'node:path';
import pino from 'pino';
import { createServer, loadServerConfig, type EdgefleetServer } from '@edgefleet/server';
import { serverBrokerSecret, writeMosquittoFiles } from '@edgefleet/server/auth/broker-config';
import { mosquittoPasswordHash } from '@edgefleet/server/auth/mosquitto';
import { brokerUrlWithCredentials, createAgentLink, enrollDevice } from '@edgefleet/agent';
import { deviceTopic, encodeMessage } from '@edgefleet/shared';
import { connect } from '../helpers/auth.js';
import { freePort, type EmbeddedPostgres } from '../helpers/postgres.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';
import { closedAfter } from './mosquitto-suite.js';
import { capabilitiesFor, waitFor } from './presence-suite.js';
import { replicaFlags, startMosquittoOn } from './replica-suite.js';

const silent = pino({ level: 'silent' });

/** A replica with auth on and the plugin required, its admin API on a free loopback port. */
function authReplica(dataDir: string, store: string, brokerUrl: string, sharedDir: string): EdgefleetServer {
  const flags = {
    ...replicaFlags(dataDir, store, brokerUrl, sharedDir),
    'auth.enabled': true,
    brokerDynsec: 'on',
    apiPort: 0,
    apiHost: '127.0.0.1',
  };
  return createServer(loadServerConfig({ flags }), { logger: silent, telemetry: { flushIntervalMs: 20 } });
}

/** The test: `t.test(name, (t) => deviceServedByTheOtherReplica(t, cluster, plugin))`. */
export async function deviceServedByTheOtherReplica(t: Test, cluster: EmbeddedPostgres, plugin: string): Promise<void> {
  const dir = t.testdir({ a: {}, b: {}, shared: {}, broker: {} });
  const shared = join(dir, 'shared');
  const port = await freePort();
  // What `broker-config mosquitto --dynsec` writes before any device exists: the server's user only,
  // its password in the shared directory, where every replica finds it.
  const files = writeMosquittoFiles({
    credentials: {
      serverHash: mosquittoPasswordHash(serverBrokerSecret(shared)),
      devices: [],
      enrollTokens: [],
      skipped: [],
      maxPayloadBytes: 256 * 1024,
    },
    outDir: join(dir, 'broker'),
    port,
    bindAddress: '127.0.0.1',
    dynsecPlugin: plugin,
  });
  const broker = await startMosquittoOn(files.confFile, port);
  t.teardown(() => broker.stop());
  const store = await cluster.createDatabase('dynsec');

  const a = authReplica(join(dir, 'a'), store, broker.url, shared);
  await a.start();
  t.teardown(() => a.stop());
  t.equal(a.brokerCredentials().mode, 'dynsec', 'replica a manages the broker through the plugin');
  const admin = await a.auth().createAdminToken('t', 'admin');
  const created = await a.api()?.app.inject({
    method: 'POST',
    url: '/v1/enroll-tokens',
    headers: { authorization: `Bearer ${admin.token}` },
    payload: { deviceClass: 'rpi4', maxUses: 1, ttlS: 600 },
  });
  t.equal(created?.statusCode, 201, 'enrollment token created through replica a');
  const token = created?.json<{ token: string }>().token as string;
  const enrolled = await enrollDevice({
    brokerUrl: broker.url,
    token,
    requestedDeviceId: 'cam-1',
    agentVersion: 't',
    logger: silent,
    maxBrokerRefusals: 1,
  });
  t.equal(enrolled.deviceId, 'cam-1', 'enrolled through replica a, the only one running');

  const b = authReplica(join(dir, 'b'), store, broker.url, shared);
  await b.start();
  t.teardown(() => b.stop());
  t.equal(b.brokerCredentials().mode, 'dynsec', 'replica b connects with the shared server password');
  await a.stop();

  const link = createAgentLink({
    deviceId: enrolled.deviceId,
    deviceClass: 'rpi4',
    brokerUrl: brokerUrlWithCredentials(broker.url, enrolled.deviceId, enrolled.secret),
    logger: silent,
    agentVersion: 't',
    runtime: { node: process.version, onnxruntime: '1.30.0' },
    capabilities: capabilitiesFor(1),
    heartbeatMs: 200,
  });
  t.teardown(() => link.stop({ clean: false }));
  await link.start();
  await waitFor(
    async () => (await b.repos().devices.get('cam-1'))?.state === 'online',
    15_000,
    'replica b has the device online',
  );

  t.ok((b.mqttTraffic().received['hello'] ?? 0) > 0, "replica b handled the device's hello");
  await link.stop({ clean: true });

  // The device's own credential, as the agent holds it: b acknowledges its telemetry.
  const device = await connect(broker.url, { clientId: 'cam-1', username: 'cam-1', password: enrolled.secret });
  t.teardown(() => device.endAsync(true));
  const acks: string[] = [];
  device.on('message', (topic) => acks.push(topic));
  await device.subscribeAsync(deviceTopic('cam-1', 'telemetry-ack'), { qos: 1 });
  await device.publishAsync(deviceTopic('cam-1', 'telemetry'), encodeMessage(telemetryWindow('cam-1', 0)), {
    qos: 1,
  });
  await waitFor(() => acks.length > 0, 15_000, "replica b's telemetry acknowledgement");
  t.ok((b.mqttTraffic().received['telemetry'] ?? 0) > 0, 'replica b stored the window');

  const closing = closedAfter(device, 10_000);
  const revoked = await b.api()?.app.inject({
    method: 'POST',
    url: '/v1/devices/cam-1/revoke',
    headers: { authorization: `Bearer ${admin.token}` },
  });
  t.equal(revoked?.statusCode, 200, 'revoked through replica b');
  t.ok((await closing) !== null, "the broker client replica a created is gone: b's revocation cut the device off");
  await t.rejects(
    connect(broker.url, { clientId: 'cam-1', username: 'cam-1', password: enrolled.secret }),
    { code: 5 },
    'and it is refused from then on',
  );
}

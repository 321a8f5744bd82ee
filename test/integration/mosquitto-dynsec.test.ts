/**
 * mosquitto 2 with its dynamic security plugin, managed live by the server [EF-PROTO 7.3,
 * 7.4]: the same permissions as the embedded broker (the shared suite), an enrollment token
 * usable the moment the API returns it, many agents enrolling with it at once, each device
 * usable the moment its agent has its identity, and revocation that disconnects at once and
 * refuses from then on. No file is rewritten and no signal sent after the first start.
 */
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { createAuthService, openSqliteStore } from '@edgefleet/server';
import { lookupUser } from '@edgefleet/server/auth/broker-config';
import { brokerUrlWithCredentials, createAgentLink, enrollDevice } from '@edgefleet/agent';
import { captureLogs, connect, makeAuthServer } from '../helpers/auth.js';
import { capabilitiesFor, waitFor } from './presence-suite.js';
import {
  closedAfter,
  DYNSEC_PLUGIN,
  MOSQUITTO,
  permissionSuite,
  retainDesired,
  startMosquitto,
} from './mosquitto-suite.js';

if (!MOSQUITTO || !DYNSEC_PLUGIN) {
  if (process.env['CI']) t.fail('mosquitto 2 with mosquitto_dynamic_security.so must be installed in CI (.ci/run)');
  else
    t.test(
      'mosquitto dynamic security',
      { skip: 'mosquitto 2 (with mosquitto_dynamic_security.so) not installed: `apt-get install -y mosquitto`' },
      () => undefined,
    );
} else {
  t.test('the server manages mosquitto credentials live through the dynamic security plugin', async (t) => {
    const dataDir = t.testdir();
    const store = openSqliteStore({ dataDir });
    const auth = createAuthService({ repo: store.repos.auth, now: Date.now });
    const a = await auth.provisionDevice('dev-a', 'rpi4');
    const b = await auth.provisionDevice('dev-b', 'rpi4');
    await store.close();

    const rig = await startMosquitto(t, dataDir, 'dynsec');
    const file = rig.files.credentialsFile;
    t.equal(rig.files.mode, 'dynsec');
    t.equal(rig.files.aclFile, null, 'no ACL file: roles live in the plugin');
    const seeded = JSON.parse(readFileSync(file, 'utf8')) as {
      clients: Array<{ username: string; clientid?: string }>;
    };
    t.same(
      seeded.clients.map((c) => c.username).sort(),
      ['dev-a', 'dev-b', 'edgefleet-server'],
      'seeded with the server and the active devices',
    );
    t.equal(
      seeded.clients.find((c) => c.username === 'dev-a')?.clientid,
      'dev-a',
      'a device is bound to its client id',
    );
    const mosquittoUser = lookupUser('mosquitto');
    if (process.getuid?.() === 0 && mosquittoUser)
      t.equal(statSync(file).uid, mosquittoUser.uid, 'as root, the plugin file belongs to the mosquitto user');

    await retainDesired(rig.url, dataDir, ['dev-a', 'dev-b']);
    const server = makeAuthServer(dataDir, { brokerUrl: rig.url, brokerDynsec: 'on' });
    t.teardown(() => server.stop());
    const address = await server.start();
    t.equal(server.brokerCredentials().mode, 'dynsec', 'the server found the plugin and manages it');

    await permissionSuite(t, rig, server, { secret: a.secret, wrong: b.secret }, { secret: b.secret });

    const admin = await server.auth().createAdminToken('t', 'admin');
    const headers = { authorization: `Bearer ${admin.token}` };
    const api = server.api()!.app;

    await t.test('a token works at once; 20 agents enroll with it together and connect as themselves', async (t) => {
      const created = await api.inject({
        method: 'POST',
        url: '/v1/enroll-tokens',
        headers,
        payload: { deviceClass: 'rpi4', maxUses: 20, ttlS: 3600 },
      });
      t.equal(created.statusCode, 201);
      const token = (created.json() as { token: string }).token;
      const logger = captureLogs('info').logger;
      const enrolled = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          enrollDevice({
            brokerUrl: address.brokerUrl,
            token,
            requestedDeviceId: `cam-${i}`,
            agentVersion: 't',
            logger,
            maxBrokerRefusals: 1,
          }),
        ),
      );
      t.equal(new Set(enrolled.map((e) => e.deviceId)).size, 20, '20 distinct devices, no reload in between');
      const clients = await Promise.all(
        enrolled.map((e) =>
          connect(address.brokerUrl, { clientId: e.deviceId, username: e.deviceId, password: e.secret }),
        ),
      );
      t.equal(clients.filter((c) => c.connected).length, 20, 'each connects the moment it has its identity');
      await t.rejects(
        connect(address.brokerUrl, { clientId: 'cam-1', username: 'cam-0', password: enrolled[0]?.secret ?? '' }),
        { code: 5 },
        "a device's credential only works with its own client id",
      );

      const victim = clients[3] as (typeof clients)[number];
      const id = enrolled[3]?.deviceId as string;
      const closing = closedAfter(victim, 5000);
      const revoked = await api.inject({ method: 'POST', url: `/v1/devices/${id}/revoke`, headers });
      t.equal(revoked.statusCode, 200);
      const ms = await closing;
      t.ok(ms !== null, `revocation disconnected the device at once (${ms} ms)`);
      await t.rejects(
        connect(address.brokerUrl, { clientId: id, username: id, password: enrolled[3]?.secret ?? '' }),
        { code: 5 },
        'and it is refused from then on',
      );
      t.equal(
        revoked.json<{ disconnected: boolean }>().disconnected,
        false,
        'it had not said hello: not online, not reported disconnected',
      );
      await Promise.all(clients.map((c) => c.endAsync(true)));

      // A device that is online (said hello) is marked offline the moment it is revoked: mosquitto
      // kicks a deleted client without publishing its last will.
      const agentId = enrolled[5]?.deviceId as string;
      const link = createAgentLink({
        deviceId: agentId,
        deviceClass: 'rpi4',
        brokerUrl: brokerUrlWithCredentials(address.brokerUrl, agentId, enrolled[5]?.secret ?? ''),
        logger,
        agentVersion: 't',
        runtime: { node: process.version, onnxruntime: '1.30.0' },
        capabilities: capabilitiesFor(1),
        heartbeatMs: 200,
      });
      t.teardown(() => link.stop({ clean: false }));
      await link.start();
      await waitFor(
        async () => (await server.repos().devices.get(agentId))?.state === 'online',
        10_000,
        'the agent online',
      );
      const cut = await api.inject({ method: 'POST', url: `/v1/devices/${agentId}/revoke`, headers });
      t.equal(cut.json<{ disconnected: boolean }>().disconnected, true, 'an online device is reported disconnected');
      t.equal((await server.repos().devices.get(agentId))?.state, 'offline', 'and marked offline at once');

      const tokenId = (created.json() as { id: string }).id;
      const again = await api.inject({ method: 'POST', url: `/v1/enroll-tokens/${tokenId}/revoke`, headers });
      t.equal(again.statusCode, 200);
      await t.rejects(
        enrollDevice({ brokerUrl: address.brokerUrl, token, agentVersion: 't', logger, timeoutMs: 5000 }),
        { code: 'EF_ERR_ENROLL_INVALID' },
        'a revoked token cannot even connect any more',
      );
    });

    await t.test('a restarted server finds the live state and removes what the store revoked meanwhile', async (t) => {
      await server.stop();
      // What `edgefleet device revoke dev-b --data-dir` does with no server running: the services, in process.
      const offline = openSqliteStore({ dataDir });
      await createAuthService({ repo: offline.repos.auth, now: Date.now }).revokeDevice('dev-b');
      await offline.close();
      const again = makeAuthServer(dataDir, { brokerUrl: rig.url, brokerDynsec: 'on', apiPort: -1 });
      t.teardown(() => again.stop());
      await again.start();
      await t.rejects(
        connect(rig.url, { clientId: 'dev-b', username: 'dev-b', password: b.secret }),
        { code: 5 },
        'dev-b, revoked while the server was down, was deleted from the broker at start',
      );
      const stillA = await connect(rig.url, { clientId: 'dev-a', username: 'dev-a', password: a.secret });
      t.ok(stillA.connected, 'dev-a is untouched');
      await stillA.endAsync(true);
    });
  });
}

/**
 * The file-generated mosquitto configuration (password file + ACL, for brokers without the
 * dynamic security plugin) against a real mosquitto [EF-PROTO 7.3]: the embedded broker's
 * permissions, the server on its generated credential, a password file mosquitto can read
 * after dropping root, and enrollment that needs a regeneration and a reload. CI installs
 * mosquitto (.ci/run); locally the test is skipped with a message when the binary is missing.
 */
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { createAuthService, openSqliteStore } from '@edgefleet/server';
import { lookupUser } from '@edgefleet/server/auth/broker-config';
import { enrollDevice } from '@edgefleet/agent';
import { captureLogs, connect, makeAuthServer, sleep, subscribeGranted } from '../helpers/auth.js';
import { MOSQUITTO, permissionSuite, retainDesired, startMosquitto } from './mosquitto-suite.js';

if (!MOSQUITTO) {
  if (process.env['CI']) t.fail('mosquitto is not installed, but CI must have it: .ci/run installs the Debian package');
  else
    t.test(
      'generated mosquitto config against a real mosquitto',
      { skip: 'mosquitto not installed: `apt-get install -y mosquitto` to run the external-broker permission test' },
      () => undefined,
    );
} else {
  t.test("generated password file and ACL enforce the embedded broker's permissions", async (t) => {
    const dataDir = t.testdir();
    const store = openSqliteStore({ dataDir });
    const auth = createAuthService({ repo: store.repos.auth, now: Date.now });
    const a = await auth.provisionDevice('dev-a', 'rpi4');
    const b = await auth.provisionDevice('dev-b', 'rpi4');
    const token = await auth.createEnrollToken({ deviceClass: 'rpi4', maxUses: 1, ttlS: 3600 });
    await store.close();

    const rig = await startMosquitto(t, dataDir, 'file');
    t.equal(rig.files.mode, 'file');
    t.equal(rig.files.devices, 2);
    t.equal(rig.files.enrollTokens, 1);
    const passwd = rig.files.credentialsFile;
    t.match(readFileSync(passwd, 'utf8'), /^dev-a:\$7\$1000\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$/m, '$7$ format');
    t.match(readFileSync(rig.files.aclFile as string, 'utf8'), /^pattern write ef\/v1\/devices\/%u\/hello$/m);
    t.equal(statSync(passwd).mode & 0o777, 0o600, 'passwd is 0600');
    const mosquittoUser = lookupUser('mosquitto');
    if (process.getuid?.() === 0 && mosquittoUser) {
      t.equal(statSync(passwd).uid, mosquittoUser.uid, 'as root, passwd belongs to the mosquitto user');
      t.equal(rig.files.owner, 'mosquitto');
    }
    t.notMatch(
      readFileSync(rig.files.confFile, 'utf8'),
      /^user /m,
      'no `user root` needed: mosquitto reads it as itself',
    );

    await retainDesired(rig.url, dataDir, ['dev-a', 'dev-b']);
    // With its admin API: `broker-config` below is a client of the running server (issue 19).
    const server = makeAuthServer(dataDir, { brokerUrl: rig.url, apiPort: 0, brokerDynsec: 'off' });
    t.teardown(() => server.stop());
    const address = await server.start();
    t.equal(address.brokerMode, 'external', 'the server connected with its generated credential');
    t.equal(server.brokerCredentials().mode, 'file');

    await permissionSuite(t, rig, server, { secret: a.secret, wrong: b.secret }, { secret: b.secret });

    await t.test('enrollment through the file-configured broker needs a regeneration and a reload', async (t) => {
      const logger = captureLogs().logger;
      const enrolled = await enrollDevice({
        brokerUrl: rig.url,
        token: token.token,
        requestedDeviceId: 'pi-new',
        agentVersion: 't',
        logger,
        timeoutMs: 10_000,
      });
      t.equal(enrolled.deviceId, 'pi-new');
      await t.rejects(
        enrollDevice({ brokerUrl: rig.url, token: token.token, agentVersion: 't', logger, timeoutMs: 10_000 }),
        { code: 'EF_ERR_ENROLL_EXHAUSTED' },
        'mosquitto lets the token connect; the server refuses it as exhausted',
      );
      await t.rejects(
        connect(rig.url, { clientId: 'pi-new', username: 'pi-new', password: enrolled.secret }),
        { code: 5 },
        'the new device is unknown to mosquitto until the files are regenerated',
      );
      await rig.rewrite();
      rig.broker.kill('SIGHUP');
      await sleep(500);
      const fresh = await connect(rig.url, { clientId: 'pi-new', username: 'pi-new', password: enrolled.secret });
      t.ok(fresh.connected, 'after regeneration and SIGHUP the enrolled device connects');
      const got: string[] = [];
      fresh.on('message', (topic) => got.push(topic));
      await subscribeGranted(fresh, 'ef/v1/devices/+/desired');
      await sleep(300);
      t.same(got, [], 'and is confined to its own topics (no retained desired of A or B arrives)');
      await fresh.endAsync(true);
    });
  });
}

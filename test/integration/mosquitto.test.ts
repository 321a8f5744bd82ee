/**
 * The generated mosquitto configuration against a real mosquitto [EF-PROTO 7.3]: the same
 * permissions as the embedded broker, the server on its generated credential, enrollment
 * through the external broker. CI installs mosquitto (.ci/run); locally the test is skipped
 * with a message when the binary is missing.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAuthService, openSqliteStore } from '@edgefleet/server';
import type { MosquittoFiles } from '@edgefleet/server/auth/broker-config';
import { enrollDevice } from '@edgefleet/agent';
import { deviceTopic, encodeMessage } from '@edgefleet/shared';
import { captureLogs, connect, makeAuthServer, sleep, subscribeGranted } from '../helpers/auth.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';
import { runCli } from '../helpers/run-cli.js';
import { waitFor } from './presence-suite.js';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find(
  (p) => spawnSync(p, ['-h']).error === undefined,
);

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

if (!MOSQUITTO) {
  if (process.env['CI']) t.fail('mosquitto is not installed, but CI must have it: .ci/run installs the Debian package');
  else
    t.test(
      'generated mosquitto config against a real mosquitto',
      { skip: 'mosquitto not installed: `apt-get install -y mosquitto` to run the external-broker permission test' },
      () => undefined,
    );
} else {
  t.test("generated mosquitto config enforces the embedded broker's permissions", async (t) => {
    const dataDir = t.testdir();
    const store = openSqliteStore({ dataDir });
    const auth = createAuthService({ repo: store.repos.auth, now: Date.now });
    const a = await auth.provisionDevice('dev-a', 'rpi4');
    const b = await auth.provisionDevice('dev-b', 'rpi4');
    const token = await auth.createEnrollToken({ deviceClass: 'rpi4', maxUses: 1, ttlS: 3600 });
    await store.close();

    const port = await freePort();
    const outDir = join(dataDir, 'mosquitto');
    // What a user runs: the CLI asks the data directory's services (its server, or its own) for the password file.
    const writeFiles = async (): Promise<MosquittoFiles> => {
      const flags = ['--data-dir', dataDir, '--out', outDir, '--port', String(port), '--bind', '127.0.0.1'];
      const written = await runCli(['broker-config', 'mosquitto', ...flags, '--json']);
      t.equal(written.code, 0, written.err);
      return JSON.parse(written.out) as MosquittoFiles;
    };
    const files = await writeFiles();
    t.equal(files.devices, 2);
    t.equal(files.enrollTokens, 1);
    t.match(
      readFileSync(files.passwordFile, 'utf8'),
      /^dev-a:\$7\$1000\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$/m,
      "passwd in mosquitto's $7$ format",
    );
    t.match(readFileSync(files.aclFile, 'utf8'), /^pattern write ef\/v1\/devices\/%u\/hello$/m);
    // As root, mosquitto drops to its own user, which could not read a 0600 root-owned passwd.
    const conf = `${readFileSync(files.confFile, 'utf8')}${process.getuid?.() === 0 ? 'user root\n' : ''}`;
    const confPath = join(outDir, 'test.conf');
    (await import('node:fs')).writeFileSync(confPath, conf);
    const broker = spawn(MOSQUITTO, ['-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let brokerLog = '';
    broker.stdout.on('data', (d: Buffer) => {
      brokerLog += d.toString();
    });
    broker.stderr.on('data', (d: Buffer) => {
      brokerLog += d.toString();
    });
    t.teardown(() => {
      broker.kill('SIGTERM');
    });
    const url = `mqtt://127.0.0.1:${port}`;
    await waitFor(
      () => /Opening ipv4 listen socket|mosquitto version .* running/.test(brokerLog) || broker.exitCode !== null,
      10_000,
      'mosquitto to start',
    );
    t.equal(broker.exitCode, null, `mosquitto runs (${brokerLog.trim().split('\n').at(-1)})`);

    // Retained desired states, published with the server's credential before the server itself
    // connects: with use_username_as_clientid two connections as edgefleet-server take each other over.
    const secret = readFileSync(join(dataDir, 'mqtt-server.secret'), 'utf8').trim();
    const privileged = await connect(url, {
      clientId: 'edgefleet-server',
      username: 'edgefleet-server',
      password: secret,
    });
    await privileged.publishAsync(deviceTopic('dev-a', 'desired'), Buffer.from('for-a'), { qos: 1, retain: true });
    await privileged.publishAsync(deviceTopic('dev-b', 'desired'), Buffer.from('for-b'), { qos: 1, retain: true });
    await privileged.endAsync();

    const server = makeAuthServer(dataDir, { brokerUrl: url, apiPort: 0 });
    t.teardown(() => server.stop());
    const address = await server.start();
    t.equal(address.brokerMode, 'external', 'the server connected with its generated credential');

    await t.rejects(
      connect(url, { clientId: 'dev-a', username: 'dev-a', password: b.secret }),
      { code: 5 },
      'wrong password refused',
    );
    await t.rejects(connect(url, { clientId: 'anon' }), { code: 5 }, 'anonymous refused');
    const devA = await connect(url, { clientId: 'dev-a', username: 'dev-a', password: a.secret, clean: true });
    const devB = await connect(url, { clientId: 'dev-b', username: 'dev-b', password: b.secret, clean: true });
    t.teardown(() => Promise.all([devA.endAsync(true), devB.endAsync(true)]));

    await t.test("A cannot read B's retained desired state, by name or by wildcard; B can", async (t) => {
      const gotA: string[] = [];
      const gotB: string[] = [];
      devA.on('message', (topic, p) => gotA.push(`${topic}=${p.toString()}`));
      devB.on('message', (topic, p) => gotB.push(`${topic}=${p.toString()}`));
      // mosquitto 2.0's ACL file checks reads at delivery: these SUBSCRIBEs are acknowledged,
      // but nothing outside A's own topics is ever delivered (aedes refuses them with 0x80).
      for (const filter of ['ef/v1/devices/dev-a/#', deviceTopic('dev-b', 'desired'), 'ef/v1/devices/+/desired', '#'])
        await subscribeGranted(devA, filter);
      await subscribeGranted(devB, deviceTopic('dev-b', 'desired'));
      await sleep(300);
      t.notOk(
        gotA.some((m) => m.includes('dev-b')),
        'nothing of B reaches A',
      );
      t.ok(gotA.includes(`${deviceTopic('dev-a', 'desired')}=for-a`), 'A gets its own');
      t.ok(gotB.includes(`${deviceTopic('dev-b', 'desired')}=for-b`), 'B gets its own: the check could fail');
    });

    await t.test("A cannot publish on B's topics (mosquitto drops it; the server never sees it)", async (t) => {
      const hello = (id: string) =>
        Buffer.from(
          JSON.stringify({
            type: 'hello',
            v: 1,
            deviceId: id,
            deviceClass: 'rpi4',
            agentVersion: 't',
            runtime: { node: 'x', onnxruntime: 'y' },
            capabilities: { cpuModel: 'c', cores: 1, memoryBytes: 1, executionProviders: [], precisions: [] },
            currentModel: null,
            sentAt: 1,
          }),
        );
      await devA.publishAsync(deviceTopic('dev-b', 'hello'), hello('dev-b'), { qos: 1 });
      await devA.publishAsync(deviceTopic('dev-a', 'hello'), hello('dev-a'), { qos: 1 });
      await waitFor(async () => (await server.repos().devices.get('dev-a')) !== null, 5000, "A's own hello registered");
      await sleep(200);
      t.equal(await server.repos().devices.get('dev-b'), null, "B was never registered by A's forged hello");
    });

    await t.test(
      "the server's telemetry acknowledgement reaches A through the generated ACL, and only A",
      async (t) => {
        const got: Record<string, string[]> = { 'dev-a': [], 'dev-b': [] };
        devA.on('message', (topic) => got['dev-a']?.push(topic));
        devB.on('message', (topic) => got['dev-b']?.push(topic));
        await subscribeGranted(devA, deviceTopic('dev-a', 'telemetry-ack'));
        // mosquitto grants a forbidden filter and delivers nothing through it (design notes).
        await subscribeGranted(devB, 'ef/v1/devices/+/telemetry-ack');
        await devA.publishAsync(deviceTopic('dev-a', 'telemetry'), encodeMessage(telemetryWindow('dev-a', 0)), {
          qos: 1,
        });
        await waitFor(
          () => got['dev-a']?.includes(deviceTopic('dev-a', 'telemetry-ack')) === true,
          10_000,
          "A's acknowledgement",
        );
        await sleep(200);
        t.same(got['dev-b'], [], "B's wildcard delivered nothing of A's");
      },
    );

    await t.test('enrollment works through mosquitto; a used-up token is refused by the server', async (t) => {
      const logger = captureLogs().logger;
      const enrolled = await enrollDevice({
        brokerUrl: url,
        token: token.token,
        requestedDeviceId: 'pi-new',
        agentVersion: 't',
        logger,
        timeoutMs: 10_000,
      });
      t.equal(enrolled.deviceId, 'pi-new');
      await t.rejects(
        enrollDevice({ brokerUrl: url, token: token.token, agentVersion: 't', logger, timeoutMs: 10_000 }),
        { code: 'EF_ERR_ENROLL_EXHAUSTED' },
        'mosquitto lets the token connect; the server refuses it as exhausted',
      );
      await t.rejects(
        connect(url, { clientId: 'pi-new', username: 'pi-new', password: enrolled.secret }),
        { code: 5 },
        'the new device is unknown to mosquitto until the files are regenerated',
      );
      await writeFiles();
      broker.kill('SIGHUP');
      await sleep(500);
      const fresh = await connect(url, { clientId: 'pi-new', username: 'pi-new', password: enrolled.secret });
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

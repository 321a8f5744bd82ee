/**
 * Enrollment end to end on the embedded broker [EF-PROTO 7.2]: an agent with a token
 * enrolls, stores its identity (0600), reconnects as the device and is registered; expired,
 * exhausted and revoked tokens are refused; no token or secret reaches any log line.
 */
import t from 'tap';
import { statSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { createAgentLink } from '@edgefleet/agent/link/agent-link';
import {
  agentConfigSchema,
  enrollDevice,
  IDENTITY_FILE,
  newPendingEnrollment,
  readIdentity,
  resolveAgentIdentity,
  runAgentCli,
} from '@edgefleet/agent';
import { captureLogs, connect, makeAuthServer, subscribeGranted } from '../helpers/auth.js';
import { capabilitiesFor, waitFor } from './presence-suite.js';
import { clockAt } from '../helpers/held-clock.js';

t.test('an agent enrolls with a token, stores its identity and connects as itself', async (t) => {
  const serverLogs = captureLogs('debug');
  const agentLogs = captureLogs('debug');
  const server = makeAuthServer(t.testdir(), { 'log.level': 'debug' }, { logger: serverLogs.logger });
  t.teardown(() => server.stop());
  const address = await server.start();
  const admin = await server.auth().createAdminToken('enroll-test', 'admin');
  const created = await server.api()!.app.inject({
    method: 'POST',
    url: '/v1/enroll-tokens',
    headers: { authorization: `Bearer ${admin.token}` },
    payload: { deviceClass: 'rpi4', maxUses: 2, ttlS: 3600 },
  });
  t.equal(created.statusCode, 201);
  const token = (created.json() as { token: string }).token;
  const agentDir = t.testdir();
  const config = agentConfigSchema.parse({
    deviceId: 'kitchen-pi',
    brokerUrl: address.brokerUrl,
    dataDir: agentDir,
    enrollToken: token,
  });

  const identified = await resolveAgentIdentity(config, agentLogs.logger);
  t.equal(identified.deviceId, 'kitchen-pi', 'the requested id was free and granted');
  t.equal(identified.deviceClass, 'rpi4', 'the class comes from the token');
  const identity = readIdentity(agentDir);
  t.ok(identity, 'identity stored');
  t.equal(statSync(join(agentDir, IDENTITY_FILE)).mode & 0o777, 0o600, 'identity file mode 0600');
  t.match(
    server.api() &&
      (
        await server.api()!.app.inject({
          method: 'GET',
          url: '/v1/devices/kitchen-pi',
          headers: { authorization: `Bearer ${admin.token}` },
        })
      ).json(),
    { state: 'never-seen', credential: { status: 'active' } },
  );

  const link = createAgentLink({
    deviceId: identified.deviceId,
    deviceClass: identified.deviceClass,
    brokerUrl: identified.brokerUrl,
    logger: agentLogs.logger,
    agentVersion: '0.1.0-test',
    runtime: { node: process.version, onnxruntime: '1.30.0' },
    capabilities: capabilitiesFor(1),
    heartbeatMs: 200,
  });
  t.teardown(() => link.stop({ clean: false }));
  await link.start();
  await waitFor(
    async () => (await server.repos().devices.get('kitchen-pi'))?.state === 'online',
    10_000,
    'the enrolled device online',
  );
  t.pass('the enrolled device connected with its own credentials and said hello');

  const again = await resolveAgentIdentity(config, agentLogs.logger);
  t.equal(again.deviceId, 'kitchen-pi', 'a restart uses the stored identity');
  t.equal((await server.auth().listEnrollTokens())[0]?.uses, 1, 'and does not spend another use');

  const second = await enrollDevice({
    brokerUrl: address.brokerUrl,
    token,
    requestedDeviceId: 'kitchen-pi',
    agentVersion: 't',
    logger: agentLogs.logger,
  });
  t.not(second.deviceId, 'kitchen-pi', 'a taken id is not handed out twice');
  t.match(second.deviceId, /^kitchen-pi-[0-9a-f]{6}$/);
  await t.rejects(
    enrollDevice({ brokerUrl: address.brokerUrl, token, agentVersion: 't', logger: agentLogs.logger }),
    { code: 'EF_ERR_ENROLL_INVALID' },
    'a token used up (2 of 2) is refused at CONNECT',
  );

  const all = `${serverLogs.text()}\n${agentLogs.text()}`;
  t.ok(all.includes('device enrolled'), 'the capture saw the enrollment (so the next checks can fail)');
  for (const [what, secret] of [
    ['enrollment token', token],
    ['its secret part', token.slice(17)],
    ['device secret', identity!.secret],
    ['second device secret', second.secret],
    ['admin token', admin.token],
  ] as const) {
    t.notOk(all.includes(secret), `no log line contains the ${what}`);
  }
});

t.test('expired, revoked and forged tokens are refused', async (t) => {
  let clock = 1_000_000;
  const server = makeAuthServer(t.testdir(), {}, { clock: clockAt(() => clock) });
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const logger = captureLogs().logger;
  const expiring = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 5, ttlS: 60 });
  clock += 61_000;
  await t.rejects(
    enrollDevice({ brokerUrl, token: expiring.token, agentVersion: 't', logger, timeoutMs: 5000 }),
    { code: 'EF_ERR_ENROLL_INVALID', details: { connack: 5 } },
    'expired: CONNACK 5 (known but not usable) [EF-PROTO 7.3]',
  );
  t.same(
    await server.auth().checkEnrollToken(expiring.token),
    { ok: false, reason: 'expired' },
    'the service says why',
  );

  const revoked = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 5, ttlS: 3600 });
  await server.auth().revokeEnrollToken(revoked.id);
  await t.rejects(
    enrollDevice({ brokerUrl, token: revoked.token, agentVersion: 't', logger, timeoutMs: 5000 }),
    { code: 'EF_ERR_ENROLL_INVALID', details: { connack: 5 } },
    'revoked: CONNACK 5',
  );

  const good = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 1, ttlS: 3600 });
  const forged = `${good.token.slice(0, 17)}${'A'.repeat(43)}`;
  await t.rejects(
    enrollDevice({ brokerUrl, token: forged, agentVersion: 't', logger, timeoutMs: 5000 }),
    { code: 'EF_ERR_ENROLL_INVALID', details: { connack: 4 } },
    'right id, wrong secret: CONNACK 4 (bad user name or password)',
  );
  const unknown = `efe_${'0'.repeat(12)}_${'A'.repeat(43)}`;
  await t.rejects(
    enrollDevice({ brokerUrl, token: unknown, agentVersion: 't', logger, timeoutMs: 5000 }),
    { code: 'EF_ERR_ENROLL_INVALID', details: { connack: 4 } },
    'a token the server never issued: CONNACK 4, as PROTOCOL 7.3 says',
  );
  t.throws(
    () => agentConfigSchema.parse({ deviceId: 'x', enrollToken: 'not-a-token' }),
    'a malformed token fails the agent config',
  );

  await t.test('an enrollment client can reach nothing but its own session topics', async (t) => {
    const enrollId = `enroll-${good.id}`;
    const session = '0123456789abcdef';
    const c = await connect(brokerUrl, {
      clientId: `${enrollId}-${session}`,
      username: enrollId,
      password: good.token,
    });
    t.teardown(() => c.endAsync(true));
    t.equal(await subscribeGranted(c, 'ef/v1/devices/+/desired'), 128, 'device topics refused');
    t.equal(await subscribeGranted(c, 'ef/v1/enroll/+/+/reply'), 128, "other tokens' replies refused");
    t.equal(await subscribeGranted(c, `ef/v1/enroll/${enrollId}/+/reply`), 128, "its token's other sessions refused");
    t.equal(await subscribeGranted(c, `ef/v1/enroll/${enrollId}/${session}/reply`), 1, 'its own reply topic granted');
    await t.rejects(
      connect(brokerUrl, { clientId: enrollId, username: enrollId, password: good.token }),
      { code: 2 },
      'the client id must name a session of its own token',
    );
    await t.rejects(
      connect(brokerUrl, { clientId: 'sim-0001', username: enrollId, password: good.token }),
      { code: 2 },
      "a token holder cannot take a device's client id (and with it, its session)",
    );
    await t.rejects(
      connect(brokerUrl, {
        clientId: `enroll-ffffffffffff-${session}`,
        username: 'enroll-ffffffffffff',
        password: good.token,
      }),
      { code: 4 },
      'a token only opens its own enrollment identity',
    );
  });
});

t.test('50 agents enrolling at the same moment with one 50-use token all succeed', async (t) => {
  const server = makeAuthServer(t.testdir());
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const token = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 50, ttlS: 3600 });
  const logger = captureLogs('info').logger;
  // Every agent asks for the same id (a fleet of identical images): the server must still hand out 50 distinct ones.
  const enrolled = await Promise.all(
    Array.from({ length: 50 }, () =>
      enrollDevice({ brokerUrl, token: token.token, requestedDeviceId: 'cam', agentVersion: 't', logger }),
    ),
  );
  const ids = new Set(enrolled.map((e) => e.deviceId));
  t.equal(ids.size, 50, '50 distinct devices');
  t.ok(ids.has('cam'), 'one of them got the id it asked for');
  t.equal((await server.auth().listEnrollTokens())[0]?.uses, 50, 'exactly 50 uses counted, none lost to a collision');
  const clients = await Promise.all(
    enrolled.map((e) => connect(brokerUrl, { clientId: e.deviceId, username: e.deviceId, password: e.secret })),
  );
  t.equal(clients.filter((c) => c.connected).length, 50, 'each opened its sealed secret and connects as itself');
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await t.rejects(
    enrollDevice({ brokerUrl, token: token.token, agentVersion: 't', logger, timeoutMs: 5000 }),
    { code: 'EF_ERR_ENROLL_INVALID' },
    'the 51st is refused with an EF_ERR code',
  );
});

t.test('asking again with the same session returns the same device and counts no second use', async (t) => {
  const server = makeAuthServer(t.testdir());
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const token = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 1, ttlS: 3600 });
  const logger = captureLogs('info').logger;
  const pending = newPendingEnrollment();
  const first = await enrollDevice({ brokerUrl, token: token.token, agentVersion: 't', logger, pending });
  // The reply was lost (say): the agent asks again with its session, although the token is used up now.
  const again = await enrollDevice({ brokerUrl, token: token.token, agentVersion: 't', logger, pending });
  t.equal(again.deviceId, first.deviceId, 'same device');
  t.not(again.secret, first.secret, 'with a new secret');
  t.equal((await server.auth().listEnrollTokens())[0]?.uses, 1, 'one use');
  await t.rejects(
    connect(brokerUrl, { clientId: first.deviceId, username: first.deviceId, password: first.secret }),
    { code: 4 },
    'the first secret no longer works',
  );
  const c = await connect(brokerUrl, { clientId: again.deviceId, username: again.deviceId, password: again.secret });
  t.ok(c.connected, 'the new one does');
  await c.endAsync(true);
  await t.rejects(
    enrollDevice({ brokerUrl, token: token.token, agentVersion: 't', logger, timeoutMs: 5000 }),
    { code: 'EF_ERR_ENROLL_INVALID' },
    'another session gets nothing from the used-up token',
  );
});

t.test('a broker that never answers: EF_ERR_ENROLL_FAILED after the deadline, no stack trace', async (t) => {
  const idle = createTcpServer((socket) => socket.on('data', () => undefined));
  await new Promise<void>((resolve) => idle.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => idle.close(() => resolve())));
  const port = (idle.address() as AddressInfo).port;
  const dir = t.testdir({ token: 'efe_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' });
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await runAgentCli(
      [
        ...['--broker', `mqtt://127.0.0.1:${port}`, '--data-dir', join(dir, 'agent')],
        ...['--enroll-token-file', join(dir, 'token'), '--enroll-timeout', '3', '--log-level', 'silent'],
      ],
      {},
    );
  } finally {
    process.stderr.write = write;
  }
  t.equal(code, 1, 'exit code 1');
  t.match(
    stderr,
    /^error EF_ERR_ENROLL_FAILED: could not enroll within 3 s/m,
    'one line with the code and what to check',
  );
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
});

t.test(
  'a broker that closes the connection before CONNACK (a rate-limited connect): retried, never a hang',
  async (t) => {
    // aedes answers a connect its preConnect refuses (the per-address rate limit) by closing the socket.
    let connects = 0;
    const closing = createTcpServer((socket) => {
      connects += 1;
      socket.once('data', () => socket.destroy());
    });
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', () => resolve()));
    t.teardown(() => new Promise<void>((resolve) => closing.close(() => resolve())));
    const port = (closing.address() as AddressInfo).port;
    const enrolling = enrollDevice({
      brokerUrl: `mqtt://127.0.0.1:${port}`,
      token: 'efe_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      agentVersion: '0.1.0',
      logger: pino({ level: 'silent' }),
      timeoutMs: 2_000,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    // Before the fix the attempt waited forever for a CONNACK that
    // could not come; bounded here so a regression fails fast.
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref());
    const outcome = await Promise.race([
      enrolling.then(
        () => 'enrolled',
        (err: unknown) => err,
      ),
      hung,
    ]);
    t.not(outcome, 'hung', 'the enrollment ended');
    t.match(outcome, { code: 'EF_ERR_ENROLL_FAILED' }, 'failed with its code at the deadline');
    t.ok(connects > 1, `retried (${connects} connects)`);
  },
);

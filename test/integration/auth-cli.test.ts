/**
 * The admin CLI commands: `token` on the data directory, `enroll-token` and `device` through
 * a running server's API, `broker-config mosquitto` writing its files.
 */
import t from 'tap';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/run-cli.js';
import { parseTtl } from '@edgefleet/cli/commands/enroll-token';
import { makeAuthServer } from '../helpers/auth.js';
import { openSqliteStore } from '@edgefleet/server';

const run = runCli;

t.test('token, enroll-token, device and broker-config commands', async (t) => {
  const dataDir = t.testdir();
  // A store a server has made before (issue 21: admin commands never create one on the side).
  await (await openSqliteStore({ dataDir })).close();
  const created = await run(['token', 'create', '--scope', 'admin', '--name', 'ci', '--data-dir', dataDir]);
  t.equal(created.code, 0);
  const token = created.out.trim();
  t.match(token, /^efa_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'prints the token alone on stdout');
  t.match(created.err, /not shown again/);
  const listed = await run(['token', 'list', '--data-dir', dataDir, '--json']);
  t.match(JSON.parse(listed.out), [{ name: 'ci', scope: 'admin', revokedAt: null }]);
  t.notMatch(listed.out, token.slice(17), 'the list never shows the token');
  t.equal(
    (await run(['token', 'create', '--scope', 'root', '--data-dir', dataDir])).code,
    2,
    'a bad scope is a usage error',
  );

  const server = makeAuthServer(dataDir);
  t.teardown(() => server.stop());
  const { apiUrl } = await server.start();
  const api = ['--api', apiUrl!, '--token', token];

  const enroll = await run([
    'enroll-token',
    'create',
    '--class',
    'rpi4',
    '--uses',
    '3',
    '--ttl',
    '2h',
    ...api,
    '--json',
  ]);
  t.equal(enroll.code, 0, enroll.err);
  const enrollToken = JSON.parse(enroll.out) as {
    id: string;
    token: string;
    maxUses: number;
    expiresAt: number;
    createdAt: number;
  };
  t.match(enrollToken, { maxUses: 3, token: /^efe_/ });
  t.equal(enrollToken.expiresAt - enrollToken.createdAt, 7_200_000);
  t.match((await run(['enroll-token', 'list', ...api])).out, new RegExp(`${enrollToken.id}\\s+rpi4\\s+0/3`));
  const typo = await run(['enroll-token', 'create', '--class', 'rpi-4', ...api, '--json']);
  t.equal(typo.code, 0, 'a token for a class not configured yet is allowed (devices may enroll first)');
  t.match(typo.err, /class rpi-4 is not configured yet: its devices enroll but get no model until `edgefleet class/);
  t.match((await run(['enroll-token', 'revoke', JSON.parse(typo.out).id, ...api])).out, /revoked/);
  t.equal(
    (
      await run([
        'enroll-token',
        'create',
        '--class',
        'rpi4',
        '--api',
        apiUrl!,
        '--token',
        `efa_000000000000_${'A'.repeat(43)}`,
      ])
    ).code,
    1,
    'a bad token fails',
  );
  const noServer = await run(['enroll-token', 'list', '--api', 'http://127.0.0.1:1', '--token', token]);
  t.equal(noServer.code, 1);
  t.match(noServer.err, /EF_ERR_API_UNREACHABLE.*is `edgefleet server` running/);

  await server.auth().provisionDevice('cli-dev', 'rpi4');
  t.match((await run(['device', 'show', 'cli-dev', ...api])).out, /credential\s+active/);
  t.match((await run(['device', 'revoke', 'cli-dev', ...api])).out, /device cli-dev revoked \(it was not connected\)/);
  const missing = await run(['device', 'show', 'ghost', ...api]);
  t.equal(missing.code, 1);
  t.match(missing.err, /EF_ERR_DEVICE_NOT_FOUND/);
  t.match((await run(['enroll-token', 'revoke', enrollToken.id, ...api])).out, /revoked/);

  const revoked = await run(['token', 'revoke', JSON.parse(listed.out)[0].id, '--data-dir', dataDir]);
  t.equal(revoked.code, 0);
  t.match(
    (await run(['device', 'show', 'cli-dev', ...api])).err,
    /EF_ERR_AUTH_INVALID/,
    'the revoked token no longer works',
  );

  const out = join(dataDir, 'mq');
  const written = await run(['broker-config', 'mosquitto', '--data-dir', dataDir, '--out', out, '--port', '18830']);
  t.equal(written.code, 0, written.err);
  t.match(written.out, /server \+ 0 devices \+ 0 enrollment tokens/, 'revoked devices and tokens are left out');
  for (const file of ['passwd', 'acl', 'mosquitto.conf']) t.ok(existsSync(join(out, file)), `${file} written`);
  t.equal(statSync(join(out, 'passwd')).mode & 0o777, 0o600, 'passwd is 0600');
  t.equal(statSync(join(dataDir, 'mqtt-server.secret')).mode & 0o777, 0o600, "the server's broker secret is 0600");
});

t.test('ttl parsing', async (t) => {
  t.equal(parseTtl('90'), 90);
  t.equal(parseTtl('15m'), 900);
  t.equal(parseTtl('1h'), 3600);
  t.equal(parseTtl('7d'), 604_800);
  t.throws(() => parseTtl('soon'));
});

import t from 'tap';
import { readFileSync } from 'node:fs';
import { isEdgefleetError, asError } from '@edgefleet/shared';
import { CONFIG_ENV_VARS, CONFIG_FILE_ENV_VAR, loadServerConfig } from '@edgefleet/server/config/index';
import { main } from '@edgefleet/cli';

t.test('defaults apply when nothing is given', async (t) => {
  const config = loadServerConfig();
  t.equal(config.dataDir, './.edgefleet');
  t.equal(config.brokerUrl, null);
  t.equal(config.port, 1883);
  t.equal(config.drainTimeoutMs, 15_000);
  t.equal(config.maxPayloadBytes, 256 * 1024);
  t.equal(config.presence.offlineAfterMs, 15_000);
  t.equal(config.log.level, 'info');
});

t.test('the store is SQLite unless a Postgres URL is given (flag beats EDGEFLEET_STORE)', async (t) => {
  t.equal(loadServerConfig().store, null);
  const env = { EDGEFLEET_STORE: 'postgres://a@db:5432/fleet' };
  t.equal(loadServerConfig({ env }).store, 'postgres://a@db:5432/fleet');
  t.equal(loadServerConfig({ env, flags: { store: 'postgresql://b@db/x' } }).store, 'postgresql://b@db/x');
  t.throws(() => loadServerConfig({ flags: { store: 'mysql://db/x' } }), /store must be a Postgres URL/);
});

t.test('layers merge: file < env < flags, nested keys one by one', async (t) => {
  const dir = t.testdir({
    'edgefleet.json': JSON.stringify({
      dataDir: '/from-file',
      port: 1000,
      presence: { offlineAfterMs: 5000, sweepIntervalMs: 250 },
    }),
  });
  const config = loadServerConfig({
    env: {
      [CONFIG_FILE_ENV_VAR]: `${dir}/edgefleet.json`,
      EDGEFLEET_PORT: '2000',
      EDGEFLEET_OFFLINE_AFTER_MS: '7000',
      EDGEFLEET_LOG_LEVEL: 'debug',
      UNRELATED: 'x',
    },
    flags: { port: '3000', brokerUrl: undefined },
  });
  t.equal(config.dataDir, '/from-file', 'file value kept where nothing overrides it');
  t.equal(config.port, 3000, 'flag beats env beats file');
  t.equal(config.presence.offlineAfterMs, 7000, 'env beats file for a nested key');
  t.equal(config.presence.sweepIntervalMs, 250, 'sibling nested key from the file survives');
  t.equal(config.log.level, 'debug');
  t.equal(config.brokerUrl, null, 'an undefined flag does not override');
});

t.test('the --config path wins over EDGEFLEET_CONFIG', async (t) => {
  const dir = t.testdir({ 'a.json': '{"port": 1}', 'b.json': '{"port": 2}' });
  t.equal(loadServerConfig({ env: { [CONFIG_FILE_ENV_VAR]: `${dir}/a.json` }, configFile: `${dir}/b.json` }).port, 2);
});

t.test('the result is deeply frozen', async (t) => {
  const config = loadServerConfig();
  t.ok(Object.isFrozen(config));
  t.ok(Object.isFrozen(config.presence));
  t.throws(() => {
    (config as { port: number }).port = 1;
  });
});

t.test('every problem is reported with its dotted path', async (t) => {
  const dir = t.testdir({ 'bad.json': JSON.stringify({ bogus: true, presence: { offlineAfterMs: -5 } }) });
  try {
    loadServerConfig({
      configFile: `${dir}/bad.json`,
      env: { EDGEFLEET_PORT: 'eighty', EDGEFLEET_BROKER: 'not a url' },
      flags: { 'log.level': 'loud' },
    });
    t.fail('should throw');
  } catch (err: unknown) {
    t.ok(isEdgefleetError(err, 'EF_ERR_CONFIG_INVALID'));
    const problems = (isEdgefleetError(err) ? err.details['problems'] : []) as string[];
    for (const path of [
      'port:',
      'brokerUrl:',
      'presence.offlineAfterMs:',
      'log.level:',
      '(root): Unrecognized key: "bogus"',
    ]) {
      t.ok(
        problems.some((p) => p.startsWith(path) || p.includes(path)),
        `reports ${path}`,
      );
    }
    t.match(asError(err).message, /presence\.offlineAfterMs/);
  }
});

t.test('an unreadable or non-JSON config file is EF_ERR_CONFIG_FILE', async (t) => {
  const dir = t.testdir({ 'broken.json': '{ nope', 'array.json': '[1]' });
  for (const file of ['missing.json', 'broken.json', 'array.json']) {
    t.throws(() => loadServerConfig({ configFile: `${dir}/${file}` }), { code: 'EF_ERR_CONFIG_FILE' }, file);
  }
});

t.test('the CLI exits with code 2 on bad config and names the path', async (t) => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    errors.push(args.join(' '));
  };
  try {
    const code = await main(['node', 'edgefleet', 'server', '--port', 'x', '--data-dir', t.testdir()]);
    t.equal(code, 2);
  } finally {
    console.error = original;
  }
  t.match(errors.join('\n'), /EF_ERR_CONFIG_INVALID[\s\S]*port: /);
});

t.test('the README lists every environment variable', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const name of [...Object.keys(CONFIG_ENV_VARS), CONFIG_FILE_ENV_VAR])
    t.match(readme, name, `README mentions ${name}`);
});

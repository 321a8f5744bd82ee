import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_FLAGS,
  AGENT_VERSION,
  agentConfigSchema,
  agentUsage,
  deviceIdFromHostname,
  enrollmentToken,
  flagsToConfig,
  joinNegativeValues,
  loadAgentConfig,
  runAgentCli,
  serveOptions,
} from '@edgefleet/agent';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_KEEPALIVE_S, isEdgefleetError } from '@edgefleet/shared';

t.test('defaults: device id from the host name, shared protocol defaults, frozen', async (t) => {
  const c = loadAgentConfig({ env: {}, hostname: 'pi-kitchen.local' });
  t.same(c, {
    deviceId: 'pi-kitchen.local',
    deviceClass: 'generic',
    brokerUrl: 'mqtt://127.0.0.1:1883',
    dataDir: './.edgefleet-agent',
    keepaliveS: DEFAULT_KEEPALIVE_S,
    heartbeatMs: DEFAULT_HEARTBEAT_MS,
    logLevel: 'info',
    trustedKeys: [],
    intraOpThreads: 1,
    inlineMaxMs: 1,
    workloadRate: 0,
    workloadBatch: 1,
    telemetryWindowS: 10,
    enrollTimeoutS: 120,
    artifactTransport: 'mqtt',
    maxPartialBytes: 64 * 1024 * 1024,
  });
  t.ok(Object.isFrozen(c));
});

t.test('host names become valid device ids', async (t) => {
  const table: Array<[string, string]> = [
    ['My Pi!', 'My-Pi'],
    ['--x', 'x'],
    ['', 'agent'],
    ['!!!', 'agent'],
    ['a'.repeat(80), 'a'.repeat(64)],
    ['jetson_01', 'jetson_01'],
  ];
  for (const [host, id] of table) t.equal(deviceIdFromHostname(host), id, JSON.stringify(host));
});

t.test('precedence: defaults < file < env < flags', async (t) => {
  const dir = t.testdir({
    'agent.json': JSON.stringify({ deviceId: 'from-file', deviceClass: 'rpi4', keepaliveS: 30, heartbeatMs: 2000 }),
  });
  const file = join(dir, 'agent.json');
  const c = loadAgentConfig({
    env: {
      EDGEFLEET_AGENT_CONFIG: file,
      EDGEFLEET_AGENT_CLASS: 'jetson-orin',
      EDGEFLEET_AGENT_KEEPALIVE_S: '20',
      EDGEFLEET_AGENT_BROKER: '',
    },
    flags: { keepaliveS: '5', deviceId: undefined },
    hostname: 'host',
  });
  t.match(c, {
    deviceId: 'from-file',
    deviceClass: 'jetson-orin',
    keepaliveS: 5,
    heartbeatMs: 2000,
    brokerUrl: 'mqtt://127.0.0.1:1883',
  });
});

t.test('every problem is reported with its dotted path as EF_ERR_CONFIG_INVALID', async (t) => {
  let caught: unknown;
  try {
    loadAgentConfig({
      env: { EDGEFLEET_AGENT_KEEPALIVE_S: '0', EDGEFLEET_AGENT_BROKER: 'http://x' },
      flags: { deviceClass: 'a b', heartbeatMs: 'often' },
      hostname: 'h',
    });
  } catch (err: unknown) {
    caught = err;
  }
  t.ok(isEdgefleetError(caught, 'EF_ERR_CONFIG_INVALID'));
  const problems = (caught as { details: { problems: string[] } }).details.problems;
  for (const key of ['keepaliveS', 'brokerUrl', 'deviceClass', 'heartbeatMs'])
    t.ok(
      problems.some((p) => p.startsWith(`${key}:`)),
      `${key} named`,
    );
});

t.test('config file problems are EF_ERR_CONFIG_FILE', async (t) => {
  const dir = t.testdir({ 'bad.json': '{nope', 'list.json': '[1]', 'extra.json': '{"wat": 1}' });
  t.throws(() => loadAgentConfig({ configFile: join(dir, 'missing.json') }), { code: 'EF_ERR_CONFIG_FILE' });
  t.throws(() => loadAgentConfig({ configFile: join(dir, 'bad.json') }), { code: 'EF_ERR_CONFIG_FILE' });
  t.throws(() => loadAgentConfig({ configFile: join(dir, 'list.json') }), { code: 'EF_ERR_CONFIG_FILE' });
  t.throws(
    () => loadAgentConfig({ configFile: join(dir, 'extra.json') }),
    { code: 'EF_ERR_CONFIG_INVALID' },
    'unknown keys are refused (strict schema)',
  );
});

t.test('every flag maps to a config key and is documented', async (t) => {
  const keys = Object.keys(agentConfigSchema.shape);
  for (const f of AGENT_FLAGS) t.ok(f.key === 'config' || keys.includes(f.key), `--${f.name}`);
  for (const k of keys)
    t.ok(
      AGENT_FLAGS.some((f) => f.key === k),
      `config key ${k} has a flag`,
    );
  t.same(flagsToConfig({ 'device-id': 'd', config: 'x.json', class: undefined }), {
    flags: { deviceId: 'd' },
    configFile: 'x.json',
  });
  const usage = agentUsage();
  for (const f of AGENT_FLAGS) t.match(usage, `--${f.name}`);
});

t.test('edgefleet-agent exit codes: --help 0, unknown flag 2, bad config 2', async (t) => {
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => {
    out.push(s);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    out.push(s);
    return true;
  }) as typeof process.stderr.write;
  // Collect exit codes first and assert only after stdout is restored: tap writes its own
  // TAP lines to stdout, and asserting while it is captured swallows them.
  const codes: number[] = [];
  const dir = t.testdir({ empty: '\n' });
  try {
    codes.push(await runAgentCli(['--help'], {}));
    codes.push(await runAgentCli(['--bogus'], {}));
    codes.push(await runAgentCli(['--keepalive', 'x'], {}));
    codes.push(await runAgentCli(['--version'], {}));
    codes.push(await runAgentCli(['--serve-port', '-2'], {}));
    codes.push(
      await runAgentCli(
        ['--data-dir', join(dir, 'a'), '--enroll-token-file', join(dir, 'empty'), '--log-level', 'silent'],
        {},
      ),
    );
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
  t.same(
    codes,
    [0, 2, 2, 0, 2, 2],
    '--help 0, unknown flag 2, bad config 2, --version 0, a token file without a token 2',
  );
  const text = out.join('');
  t.match(text, /Usage: edgefleet-agent/);
  t.match(text, /--enroll-token-file or EDGEFLEET_AGENT_ENROLL_TOKEN/, '--help says how to keep the token out of ps');
  t.match(text, /keepaliveS: /);
  t.match(text, new RegExp(`^${AGENT_VERSION.replace(/\./g, '\\.')}$`, 'm'), '--version prints the version');
  t.match(text, /servePort: Too small/, '--serve-port -2 reaches the schema (not refused by the argument parser)');
  t.match(text, /error EF_ERR_CONFIG_INVALID: .*does not hold an enrollment token/);
});

t.test('--serve-port -1 as two arguments is accepted; serving falls back to the socket or nothing', async (t) => {
  const names = new Set(AGENT_FLAGS.map((f) => f.name));
  t.same(joinNegativeValues(['--serve-port', '-1', '--class', 'x'], names), ['--serve-port=-1', '--class', 'x']);
  t.same(joinNegativeValues(['--device-id', '-x'], names), ['--device-id', '-x'], 'only numbers are joined');
  const off = loadAgentConfig({ flags: { servePort: '-1' }, hostname: 'h' });
  t.equal(off.servePort, -1);
  t.equal(serveOptions(off), false, '-1 and no socket: no local API');
  t.same(serveOptions({ servePort: undefined, serveSocket: undefined }), { port: 8787 }, 'default port 8787');
  t.same(
    serveOptions({ servePort: undefined, serveSocket: '/run/a.sock' }),
    { socketPath: '/run/a.sock' },
    'socket only',
  );
  t.same(serveOptions({ servePort: 0, serveSocket: '/run/a.sock' }), { port: 0, socketPath: '/run/a.sock' }, 'both');
});

t.test('the enrollment token from a file or the environment', async (t) => {
  const token = `efe_0123456789ab_${'A'.repeat(43)}`;
  const dir = t.testdir({ token: `${token}\n`, bad: 'nope\n' });
  t.equal(
    enrollmentToken({ enrollToken: undefined, enrollTokenFile: join(dir, 'token') }),
    token,
    'first line of the file',
  );
  t.equal(
    enrollmentToken(loadAgentConfig({ env: { EDGEFLEET_AGENT_ENROLL_TOKEN: token }, hostname: 'h' })),
    token,
    'or the environment',
  );
  t.equal(enrollmentToken({ enrollToken: undefined, enrollTokenFile: undefined }), undefined);
  t.throws(() => enrollmentToken({ enrollToken: undefined, enrollTokenFile: join(dir, 'bad') }), {
    code: 'EF_ERR_CONFIG_INVALID',
  });
  t.throws(() => enrollmentToken({ enrollToken: undefined, enrollTokenFile: join(dir, 'missing') }), {
    code: 'EF_ERR_CONFIG_FILE',
  });
});

t.test('AGENT_VERSION matches agent/package.json', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../agent/package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  t.equal(AGENT_VERSION, pkg.version);
});

t.test('trusted keys: a comma-separated env list, each checked', async (t) => {
  const { createManifestSigner, generateSigningKeyPem } = await import('@edgefleet/shared');
  const a = createManifestSigner(generateSigningKeyPem()).publicKey;
  const b = createManifestSigner(generateSigningKeyPem()).publicKey;
  t.same(loadAgentConfig({ env: { EDGEFLEET_AGENT_TRUSTED_KEYS: `${a}, ${b}` }, hostname: 'h' }).trustedKeys, [a, b]);
  t.throws(
    () => loadAgentConfig({ env: { EDGEFLEET_AGENT_TRUSTED_KEYS: 'not-a-key' }, hostname: 'h' }),
    /trustedKeys\.0: trusted key must be/,
  );
});

/**
 * Issue 21, point 1, against `edgefleet server` as its own process with auth on, as shipped:
 * exported EDGEFLEET_API / EDGEFLEET_TOKEN send every admin command to that server; an API and
 * a data directory together, or a data directory without a store, are usage errors that say
 * which was used, and nothing is created on the side.
 */
import { spawn } from 'node:child_process';
import { tsxChildEnv } from '../helpers/spawn-ts.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/run-cli.js';
import { waitFor } from './presence-suite.js';

const ENTRY = "import { main } from '@edgefleet/cli'; main(process.argv).then((code) => { process.exitCode = code; });";
const MLP = join(import.meta.dirname, '../../models/zoo/mnist-mlp.onnx');
const VARS = ['EDGEFLEET_API', 'EDGEFLEET_TOKEN', 'EDGEFLEET_DATA_DIR'] as const;

/** Runs the CLI with these variables exported (and the others unset), as a shell would. */
async function withEnv(env: Partial<Record<(typeof VARS)[number], string>>, argv: string[]) {
  const saved = VARS.map((k) => [k, process.env[k]] as const);
  for (const k of VARS) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return await runCli(argv);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

t.test('exported variables choose the server; conflicts and missing stores are named', async (t) => {
  const dataDir = t.testdir({ cwd: {} });
  const cwd = join(dataDir, 'cwd');
  const child = spawn(
    process.execPath,
    [
      '--import=tsx',
      '--conditions=edgefleet-source',
      '--input-type=module',
      '-e',
      ENTRY,
      'edgefleet',
      'server',
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--api-port',
      '0',
      '--api-host',
      '127.0.0.1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: tsxChildEnv({ EDGEFLEET_LOG_LEVEL: 'warn' }) },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const runtime = join(dataDir, 'server.json');
  // Generous: on a loaded box, loading the sources through tsx alone can take half a minute.
  await waitFor(
    () => existsSync(runtime) && /"listening"/.test(readFileSync(runtime, 'utf8')),
    120_000,
    'the server to open its API',
  );
  const url = (JSON.parse(readFileSync(runtime, 'utf8')) as { api: { url: string } }).api.url;
  const made = await withEnv({}, ['token', 'create', '--name', 'laptop', '--data-dir', dataDir]);
  t.equal(made.code, 0, made.err);
  const token = made.out.trim();

  // Commands run from an empty folder, where the default ./.edgefleet does not exist.
  process.chdir(cwd);
  const remote = { EDGEFLEET_API: url, EDGEFLEET_TOKEN: token };
  t.equal((await withEnv(remote, ['class', 'create', 'cams', '--profile', 'rpi4'])).code, 0);
  const added = await withEnv(remote, ['model', 'add', MLP, '--name', 'mlp']);
  t.equal(added.code, 0, added.err);
  t.match((await withEnv(remote, ['model', 'list'])).out, /^mlp\s+[0-9a-f]{16}/m, 'not "no models yet"');
  t.match((await withEnv(remote, ['class', 'list'])).out, /^cams\s+1/m);
  t.match((await withEnv(remote, ['devices'])).out, new RegExp(`no devices registered yet \\(${url}\\)`));
  t.match((await withEnv(remote, ['rollout', 'status'])).out, /no rollouts yet/);
  t.match((await withEnv(remote, ['decisions', 'cams'])).out, /no decisions for class cams/);
  t.notOk(existsSync(join(cwd, '.edgefleet')), 'no store was created on the side');

  // The same fleet through the data directory (the running server's runtime file).
  t.match((await withEnv({ EDGEFLEET_DATA_DIR: dataDir }, ['model', 'list'])).out, /^mlp\s/m);

  const both = await withEnv({ ...remote, EDGEFLEET_DATA_DIR: dataDir }, ['model', 'list']);
  t.equal(both.code, 2, 'an API and a data directory together: usage error');
  t.match(
    both.err,
    /EF_ERR_CLI_USAGE: both a server's API \(EDGEFLEET_API http:.*\) and a data directory \(EDGEFLEET_DATA_DIR /,
  );
  const mixed = await withEnv(remote, ['model', 'list', '--data-dir', dataDir]);
  t.equal(mixed.code, 2);
  t.match(mixed.err, /EDGEFLEET_API .* and a data directory \(--data-dir .*drop the --data-dir flag/);

  const none = await withEnv({}, ['plan', 'mlp', '--class', 'cams']);
  t.equal(none.code, 2, 'no store where the default points: usage error');
  t.match(
    none.err,
    /no edgefleet store in \.\/\.edgefleet \(the default data directory, since none of --api, EDGEFLEET_API/,
  );
  t.notOk(existsSync(join(cwd, '.edgefleet')), '`plan` no longer creates an empty ./.edgefleet');

  const noToken = await withEnv({ EDGEFLEET_API: url }, ['model', 'list']);
  t.equal(noToken.code, 1);
  t.match(noToken.err, /EF_ERR_AUTH_MISSING/);

  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

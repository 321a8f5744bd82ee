/**
 * The agent as a device installs it (issue 17): `edgefleet agent-bundle` packs @edgefleet/shared
 * and @edgefleet/agent, installs those tarballs with their production dependencies, keeps one
 * platform's onnxruntime binaries and adds the launcher, unit and install script. The bundle
 * is then unpacked in an empty directory outside the repository (so nothing can be found in
 * the repository's node_modules), installed with its own install.sh, and the installed agent
 * enrolls against a real server with a token read from a file.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  otherPlatformBinary,
  prepareAgentInstall,
  writeAgentBundle,
  type BundlePlatform,
  type PreparedAgentInstall,
} from '@edgefleet/cli/bundle/agent-bundle';
import { IDENTITY_FILE, PENDING_ENROLLMENT_FILE } from '@edgefleet/agent';
import { makeAuthServer } from '../helpers/auth.js';
import { waitFor } from './presence-suite.js';

// Packing and installing two packages (npm) takes ~1 min on a quiet 2-core box and ~2.5 min at load 16;
// tap's 120 s per file (.taprc) is not enough for that, so the file gets room (its work is bounded).
t.setTimeout(600_000);

const host: BundlePlatform | null =
  platform() === 'linux' && arch() === 'x64'
    ? 'linux-x64'
    : platform() === 'linux' && arch() === 'arm64'
      ? 'linux-arm64'
      : null;
const other: BundlePlatform = host === 'linux-arm64' ? 'linux-x64' : 'linux-arm64';

function listing(file: string): string[] {
  return execFileSync('tar', ['-tzf', file], { maxBuffer: 64 * 1024 * 1024 })
    .toString()
    .split('\n');
}

t.test('only the chosen platform of onnxruntime-node is copied', async (t) => {
  const base = 'lib/node_modules/onnxruntime-node/bin/napi-v6';
  t.equal(otherPlatformBinary(`${base}/linux/arm64/libonnxruntime.so.1`, 'linux-arm64'), false);
  t.equal(otherPlatformBinary(`${base}/linux`, 'linux-arm64'), false);
  t.equal(otherPlatformBinary(`${base}/linux/x64`, 'linux-arm64'), true);
  t.equal(otherPlatformBinary(`${base}/darwin`, 'linux-arm64'), true);
  t.equal(otherPlatformBinary('lib/node_modules/onnxruntime-node/dist/index.js', 'linux-x64'), false);
});

if (!host) {
  t.test(
    'agent bundle',
    { skip: `bundles are for linux-x64 and linux-arm64, not ${platform()}-${arch()}` },
    () => undefined,
  );
} else {
  // Packing and installing the packages is the slow part; both platforms' bundles are written from one install.
  let prepared: PreparedAgentInstall | null = null;
  const staging = mkdtempSync(join(tmpdir(), 'ef-bundle-stage-'));
  t.teardown(() => rmSync(staging, { recursive: true, force: true }));
  const prepare = async () => {
    prepared ??= await prepareAgentInstall(staging);
    return prepared;
  };

  t.test('an agent installed from the bundle in an empty directory enrolls against a real server', async (t) => {
    t.setTimeout(300_000);
    const work = mkdtempSync(join(tmpdir(), 'ef-bundle-test-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const file = join(work, 'agent.tgz');
    const bundle = await writeAgentBundle(await prepare(), { platform: host, outFile: file });
    t.equal(bundle.platform, host);
    const entries = listing(file);
    const ortBinaries = entries.filter((e) => /onnxruntime-node\/bin\/napi-v6\/[^/]+\/[^/]+\/.+/.test(e));
    t.ok(ortBinaries.length > 0, 'onnxruntime binaries are inside');
    t.ok(
      ortBinaries.every((e) => e.includes(`/napi-v6/${host.replace('-', '/')}/`)),
      `only ${host}'s onnxruntime binaries`,
    );
    for (const part of ['install.sh', 'bin/edgefleet-agent', 'systemd/edgefleet-agent.service', 'BUNDLE.json'])
      t.ok(entries.includes(`${bundle.root}/${part}`), `contains ${part}`);
    t.ok(
      entries.includes(`${bundle.root}/lib/node_modules/@edgefleet/shared/package.json`),
      'shared installed by version',
    );
    t.notOk(
      entries.some((e) => e.includes('@edgefleet/agent/node_modules/@edgefleet/shared')),
      "the agent's dependency on shared resolved to the packed shared, not a second copy",
    );
    t.notOk(
      entries.some((e) => e.includes('/src/') && e.includes('@edgefleet/')),
      'no TypeScript sources shipped',
    );
    t.ok(
      entries.includes(`${bundle.root}/lib/node_modules/@edgefleet/agent/dist/bundle/edgefleet-agent.js`) &&
        entries.includes(`${bundle.root}/lib/node_modules/@edgefleet/agent/dist/bundle/inference-worker.js`),
      "the agent's one-file bundle and its worker are packed (prepack runs agent/scripts/bundle.mjs)",
    );
    t.ok(bundle.bytes < 60e6, `${(bundle.bytes / 1e6).toFixed(1)} MB compressed`);

    execFileSync('tar', ['-xzf', file, '-C', work]);
    const prefix = join(work, 'opt', 'edgefleet-agent');
    const installed = execFileSync('sh', [join(work, bundle.root, 'install.sh'), '--prefix', prefix, '--no-systemd'], {
      encoding: 'utf8',
    });
    t.match(installed, /installed edgefleet-agent 0\.1\.0/, 'install.sh ran the installed agent once');
    rmSync(join(work, bundle.root), { recursive: true });

    const bundledOrt = JSON.stringify(join(prefix, 'lib/node_modules/onnxruntime-node'));
    const model = JSON.stringify(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url).pathname);
    const ortCheck = execFileSync(
      process.execPath,
      [
        '-e',
        `require(${bundledOrt}).InferenceSession.create(require('fs').readFileSync(${model}))` +
          '.then((s) => console.log(s.inputNames.join()))',
      ],
      { cwd: work, encoding: 'utf8' },
    );
    t.equal(ortCheck.trim(), 'input', "the bundle's onnxruntime loads a model on this host");

    const server = makeAuthServer(t.testdir());
    t.teardown(() => server.stop());
    const { brokerUrl } = await server.start();
    const admin = await server.auth().createAdminToken('bundle', 'admin');
    const created = await server.api()!.app.inject({
      method: 'POST',
      url: '/v1/enroll-tokens',
      headers: { authorization: `Bearer ${admin.token}` },
      payload: { deviceClass: 'rpi4', maxUses: 1, ttlS: 600 },
    });
    const tokenFile = join(work, 'enroll-token');
    writeFileSync(tokenFile, `${(created.json() as { token: string }).token}\n`, { mode: 0o600 });
    const dataDir = join(work, 'state');
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work };
    const agent = spawn(
      join(prefix, 'bin', 'edgefleet-agent'),
      ['--broker', brokerUrl, '--data-dir', dataDir, '--enroll-token-file', tokenFile, '--device-id', 'field-unit-1'],
      { cwd: work, env: { ...env, EDGEFLEET_AGENT_SERVE_PORT: '-1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    agent.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    agent.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    t.teardown(() => {
      agent.kill('SIGKILL');
    });
    // The agent retries enrollment with backoff for two minutes (a busy CI box can miss the first
    // attempt's answer); what it printed is part of the failure, or a timeout says nothing.
    await waitFor(
      async () => (await server.repos().devices.get('field-unit-1'))?.state === 'online' || agent.exitCode !== null,
      150_000,
      'the installed agent to enroll and come online',
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; the agent printed:\n${output.split('\n').slice(-12).join('\n')}`);
    });
    t.equal(agent.exitCode, null, `the agent runs (${output.split('\n').slice(-3).join(' | ')})`);
    t.equal((await server.repos().devices.get('field-unit-1'))?.deviceClass, 'rpi4', 'enrolled into the token class');
    t.match(output, /"msg":"enrolled"/);
    t.notMatch(output, /dist\/bundle is missing/, 'the installed agent runs its one-file bundle');
    t.ok(existsSync(join(dataDir, IDENTITY_FILE)), 'identity stored');
    t.equal(statSync(join(dataDir, IDENTITY_FILE)).mode & 0o777, 0o600);
    t.notOk(existsSync(join(dataDir, PENDING_ENROLLMENT_FILE)), 'the pending enrollment was cleared');
    t.notOk(readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8').includes('efe_'), 'no token on the command line');
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    agent.kill('SIGTERM');
    t.equal(await exited, 0, 'SIGTERM: clean exit 0');
  });

  t.test(`a ${other} bundle carries ${other}'s onnxruntime only`, async (t) => {
    t.setTimeout(300_000);
    const work = mkdtempSync(join(tmpdir(), 'ef-bundle-test-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const bundle = await writeAgentBundle(await prepare(), { platform: other, outFile: join(work, 'agent.tgz') });
    const entries = listing(bundle.file);
    const ortBinaries = entries.filter((e) => /onnxruntime-node\/bin\/napi-v6\/[^/]+\/[^/]+\/.+/.test(e));
    t.ok(ortBinaries.length > 0 && ortBinaries.every((e) => e.includes(`/napi-v6/${other.replace('-', '/')}/`)));
    t.match(JSON.parse(execFileSync('tar', ['-xzOf', bundle.file, `${bundle.root}/BUNDLE.json`]).toString()), {
      platform: other,
    });
    t.ok(
      entries.includes(`${bundle.root}/lib/node_modules/@edgefleet/agent/dist/bundle/edgefleet-agent.js`) &&
        entries.includes(`${bundle.root}/lib/node_modules/@edgefleet/agent/dist/bundle/inference-worker.js`),
      "the agent's one-file bundle and its worker are packed (prepack runs agent/scripts/bundle.mjs)",
    );
    t.ok(bundle.bytes < 60e6, `${(bundle.bytes / 1e6).toFixed(1)} MB compressed`);
  });
}

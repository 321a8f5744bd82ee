/**
 * `edgefleet server` as a real process: it starts on a free port, registers an agent, and
 * on SIGTERM stops accepting, flushes the store and exits 0.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { STORE_FILE } from '@edgefleet/server';
import { runCli } from '../helpers/run-cli.js';
import { storedDevices } from '../helpers/store.js';
import { capabilitiesFor, startAgent, waitFor } from './presence-suite.js';

const ENTRY = "import { main } from '@edgefleet/cli'; main(process.argv).then((code) => { process.exitCode = code; });";

t.test('SIGTERM stops the server cleanly with exit code 0', async (t) => {
  const dataDir = t.testdir();
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
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
      '--log-level',
      'info',
      '--api-port',
      '0',
    ],
    // The agent below carries no credentials; identity is covered by the auth and enroll tests.
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGEFLEET_AUTH: 'false' } },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => /edgefleet server started/.test(out), 20_000, 'the server to start');
  const lines = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const port = lines.find((l) => l['msg'] === 'embedded MQTT broker listening')?.['port'] as number;
  t.ok(port > 0, `listening on free port ${port}`);

  const agent = startAgent(
    `mqtt://127.0.0.1:${port}`,
    { deviceId: 'cmd-1', deviceClass: 'rpi4', capabilities: capabilitiesFor(0) },
    5,
  );
  t.teardown(() => agent.stop({ clean: false }));
  // The CLI in this process finds the server process through the runtime file in its data directory.
  await waitFor(
    async () => {
      const listed = await runCli(['devices', '--data-dir', dataDir, '--json']);
      return listed.code === 0 && (JSON.parse(listed.out) as unknown[]).length === 1;
    },
    10_000,
    'the agent registered',
  );

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0');
  t.match(out, /"signal":"SIGTERM".*shutting down/);
  t.match(out, /embedded MQTT broker closed/);
  const wal = join(dataDir, `${STORE_FILE}-wal`);
  t.ok(!existsSync(wal) || statSync(wal).size === 0, 'the WAL was checkpointed into the store');
  t.same(
    (await storedDevices(dataDir)).map((d) => d.id),
    ['cmd-1'],
    'the registry is intact after shutdown',
  );
});

/**
 * `edgefleet demo` as a real process: when its broker port is taken it says so and moves to a
 * free port, brings a farm online, prints per-class progress, and exits 0 on SIGINT.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { storedDevices } from '../helpers/store.js';
import { waitFor } from './presence-suite.js';

const ENTRY = "import { main } from '@edgefleet/cli'; main(process.argv).then((code) => { process.exitCode = code; });";

t.test('the demo survives a taken port and shows the farm coming online', async (t) => {
  // Occupy a port the way a local mosquitto would occupy 1883.
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '0.0.0.0', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken = (blocker.address() as AddressInfo).port;

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
      'demo',
      '--port',
      String(taken),
      '--api-port',
      '0',
      '--devices',
      '6',
      '--data-dir',
      dataDir,
      '--log-level',
      'silent',
      '--no-loop',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
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

  await waitFor(() => /\(6\/6\)/.test(out), 30_000, 'all six demo devices online');
  t.match(
    out,
    new RegExp(`port ${taken} is taken .*uses free port \\d+`),
    'says the port was taken and which one it uses',
  );
  t.match(out, /online: jetson-orin 2\/2 {2}mcu-gateway 2\/2 {2}rpi4 2\/2 {2}\(6\/6\)/, 'progress per class');
  child.kill('SIGINT');
  t.equal(await exited, 0, 'exit code 0 on SIGINT');
  const devices = await storedDevices(dataDir);
  t.equal(devices.length, 6, 'the registry kept every demo device');
  t.ok(
    devices.every((d) => d.state === 'offline' && d.stateReason === 'clean'),
    'the farm disconnected cleanly',
  );
});

t.test(
  'npm start tells the closed loop: plan, rollouts, throttling, breach, decision, rollout, recovery',
  async (t) => {
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
        'demo',
        '--port',
        '0',
        '--api-port',
        '0',
        '--devices',
        '6',
        '--data-dir',
        dataDir,
        '--throttle-after',
        '3',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
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

    await waitFor(() => /\[loop\] \S+: recovered/.test(out), 240_000, 'the loop to report the class recovered');
    child.kill('SIGINT');
    t.equal(await exited, 0, 'exit code 0 on SIGINT');
    const cls = /\[fault\] thermal throttling on (\S+):/.exec(out)?.[1] ?? '?';
    const at = (re: RegExp): number => {
      const m = re.exec(out);
      return m ? m.index : -1;
    };
    const story = [
      at(/\[plan\] \S+: .* → chosen/),
      at(new RegExp(`\\[rollout\\] ${cls} \\S+: completed`)),
      at(/\[fault\] thermal throttling/),
      at(new RegExp(`\\[breach\\] \\S+ \\(${cls}\\): latency p95 .* > budget .* breached`)),
      at(new RegExp(`\\[loop\\] ${cls}: deploy — .*predicts \\S+ fits`)),
      at(new RegExp(`\\[loop\\] ${cls}: recovered`)),
    ];
    t.ok(
      story.every((i) => i >= 0),
      `every part of the story is printed (${story.join(', ')})`,
    );
    t.same(
      story,
      [...story].sort((a, b) => a - b),
      'in the order it happened',
    );
    const afterDeploy = out.slice(story[4]);
    t.match(
      afterDeploy,
      new RegExp(`\\[rollout\\] ${cls} \\S+: completed, wave \\d+/\\d+, \\d+/\\d+ devices updated`),
      "the loop's own rollout completes before the recovery",
    );
    t.notMatch(out, /"level":40/, 'no device warnings as JSON lines in the narration');
    t.notMatch(out, /the loop demo stopped/, 'the loop demo ran to the end');
  },
);

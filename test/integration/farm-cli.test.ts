/** `edgefleet farm` as a process: devices online per class, clean stop on SIGINT, exit 2 on bad flags. */
import t from 'tap';
import { join } from 'node:path';
import { allDevicesFilter } from '@edgefleet/shared';
import { makeAuthServer } from '../helpers/auth.js';
import { startTestBroker } from '../helpers/broker.js';
import { watchTopics } from '../helpers/mqtt-watch.js';
import { cliSnippet, spawnSnippet } from '../helpers/spawn-ts.js';

t.test('edgefleet farm prints devices online per class and stops cleanly on SIGINT', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const watch = await watchTopics(broker.url, allDevicesFilter('status'));
  t.teardown(() => watch.close());
  const child = spawnSnippet(
    cliSnippet([
      'farm',
      '--devices',
      '6',
      '--classes',
      'mcu-gateway,rpi4,jetson-orin',
      '--broker',
      broker.url,
      '--seed',
      '5',
      '--interval-ms',
      '100',
    ]),
  );
  t.teardown(() => {
    child.proc.kill('SIGKILL');
  });
  await child.waitForOutput(/online 6\/6 · mcu-gateway 2\/2 · rpi4 2\/2 · jetson-orin 2\/2/, 30_000);
  child.proc.kill('SIGINT');
  t.equal(await child.exited, 0, child.output());
  t.match(child.output(), /farm stopped/);
  const offline = () => watch.seen.filter((m) => m.json().state === 'offline');
  await watch.waitFor(() => offline().length === 6, 5_000, 'six offline statuses');
  t.ok(offline().every((m) => m.json().reason === 'clean'));
});

t.test('edgefleet farm --json prints JSON lines', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const child = spawnSnippet(
    cliSnippet([
      'farm',
      '--devices',
      '2',
      '--classes',
      'rpi4',
      '--broker',
      broker.url,
      '--json',
      '--interval-ms',
      '100',
    ]),
  );
  t.teardown(() => {
    child.proc.kill('SIGKILL');
  });
  await child.waitForOutput(/"online":\{"rpi4":2\}/, 30_000);
  child.proc.kill('SIGTERM');
  t.equal(await child.exited, 0);
  const lines = child
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{"at"'));
  for (const l of lines) t.match(JSON.parse(l), { totals: { rpi4: 2 } });
});

t.test('bad flags: exit 2 naming each problem', async (t) => {
  const child = spawnSnippet(cliSnippet(['farm', '--devices', '0', '--classes', 'toaster']));
  t.equal(await child.exited, 2);
  t.match(child.output(), /devices: /);
  t.match(child.output(), /known classes: mcu-gateway, rpi4, jetson-orin/);
});

t.test(
  'edgefleet farm --enroll-token-file joins a server with auth on, and reuses identities on restart',
  async (t) => {
    const server = makeAuthServer(t.testdir(), { apiPort: -1 });
    t.teardown(() => server.stop());
    const { brokerUrl } = await server.start();
    const token = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 4, ttlS: 3600 });
    const dir = t.testdir({ tokens: `${token.token}\n` });
    const args = ['farm', '--devices', '4', '--broker', brokerUrl, '--data-dir', join(dir, 'farm')];
    const start = async (expect: RegExp) => {
      const child = spawnSnippet(
        cliSnippet([...args, '--enroll-token-file', join(dir, 'tokens'), '--interval-ms', '100']),
      );
      t.teardown(() => {
        child.proc.kill('SIGKILL');
      });
      await child.waitForOutput(expect, 30_000);
      await child.waitForOutput(/online 4\/4 · rpi4 4\/4/, 30_000);
      child.proc.kill('SIGINT');
      t.equal(await child.exited, 0, child.output());
      return child.output();
    };
    const first = await start(/4 enrolled now, 0 reused/);
    t.match(first, /enrolled 4\/4/);
    t.equal((await server.auth().listEnrollTokens())[0]?.uses, 4);
    await start(/0 enrolled now, 4 reused/);
    t.equal((await server.auth().listEnrollTokens())[0]?.uses, 4, 'the restart spent no use');
    t.equal((await server.repos().devices.list()).filter((d) => d.deviceClass === 'rpi4').length, 4);
  },
);

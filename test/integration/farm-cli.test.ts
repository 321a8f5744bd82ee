/** `edgefleet farm` as a process: devices online per class, clean stop on SIGINT, exit 2 on bad flags. */
import t from 'tap';
import { allDevicesFilter } from '@edgefleet/shared';
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

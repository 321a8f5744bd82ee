/**
 * The agent as a process, both entries (`edgefleet-agent` and `edgefleet agent`): it
 * announces itself, runs until SIGTERM/SIGINT, then leaves a retained clean offline status
 * and exits 0.
 */
import t from 'tap';
import { deviceTopic, helloSchema } from '@edgefleet/shared';
import { startTestBroker } from '../helpers/broker.js';
import { watchTopics } from '../helpers/mqtt-watch.js';
import { cliSnippet, spawnSnippet } from '../helpers/spawn-ts.js';

const ENTRIES: Array<[string, (args: string[]) => string, NodeJS.Signals]> = [
  [
    'edgefleet-agent',
    (args) =>
      `import { runAgentCli } from '@edgefleet/agent'; runAgentCli(${JSON.stringify(args)}, process.env).then((c) => ` +
      `{ process.exitCode = c; });`,
    'SIGTERM',
  ],
  ['edgefleet agent', (args) => cliSnippet(['agent', ...args]), 'SIGINT'],
];

for (const [name, snippet, signal] of ENTRIES) {
  t.test(`${name}: announces, runs until ${signal}, disconnects cleanly, exits 0`, async (t) => {
    const broker = await startTestBroker();
    t.teardown(() => broker.close());
    const id = name === 'edgefleet-agent' ? 'proc-a' : 'proc-b';
    const watch = await watchTopics(broker.url, [deviceTopic(id, 'hello'), deviceTopic(id, 'status')]);
    t.teardown(() => watch.close());
    const dataDir = t.testdir();
    const child = spawnSnippet(
      snippet([
        '--broker',
        broker.url,
        '--device-id',
        id,
        '--class',
        'rpi4',
        '--data-dir',
        dataDir,
        '--heartbeat-ms',
        '500',
      ]),
      { EDGEFLEET_AGENT_KEEPALIVE_S: '5' },
    );
    t.teardown(() => {
      child.proc.kill('SIGKILL');
    });
    const hello = await watch.waitFor((m) => m.topic.endsWith('/hello'), 30_000, 'hello from the agent process');
    const parsed = helloSchema.parse(hello.json());
    t.equal(parsed.deviceClass, 'rpi4');
    t.ok(parsed.capabilities.cores >= 1);
    child.proc.kill(signal);
    t.equal(await child.exited, 0, child.output());
    const offline = await watch.waitFor(
      (m) => m.topic.endsWith('/status') && m.json().state === 'offline',
      5_000,
      'offline status',
    );
    t.equal(offline.json().reason, 'clean');
  });
}

t.test('bad configuration: exit 2 with the dotted path, before any connection', async (t) => {
  const child = spawnSnippet(cliSnippet(['agent', '--keepalive', '0', '--broker', 'nope']));
  t.equal(await child.exited, 2);
  t.match(child.output(), /EF_ERR_CONFIG_INVALID/);
  t.match(child.output(), /keepaliveS: /);
  t.match(child.output(), /brokerUrl: broker must be a URL/);
});

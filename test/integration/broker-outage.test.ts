/**
 * `edgefleet server` on an external broker that goes away (issue 21, point 6), as a real
 * process: the outage is logged once (not an ECONNREFUSED line per second), reconnect attempts
 * back off, and the end of the outage is logged once when the broker is back.
 */
import { spawn } from 'node:child_process';
import { tsxChildEnv } from '../helpers/spawn-ts.js';
import t from 'tap';
import { startTestBroker } from '../helpers/broker.js';
import { waitFor } from './presence-suite.js';

const ENTRY = "import { main } from '@edgefleet/cli'; main(process.argv).then((code) => { process.exitCode = code; });";

t.test('a broker outage is one warning, quiet retries with backoff, then one line when it is back', async (t) => {
  let broker = await startTestBroker();
  const port = broker.port;
  t.teardown(() => broker.close());
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
      '--broker',
      broker.url,
      '--data-dir',
      t.testdir(),
      '--api-port',
      '0',
      '--api-host',
      '127.0.0.1',
      '--log-level',
      'info',
    ],
    // Auth concerns the broker's users, not its outage; the test broker has none.
    { stdio: ['ignore', 'pipe', 'pipe'], env: tsxChildEnv({ EDGEFLEET_AUTH: 'false' }) },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Generous: on a loaded box, loading the sources through tsx alone can take half a minute.
  await waitFor(() => /edgefleet server started/.test(out), 120_000, 'the server to start');

  await broker.close();
  await waitFor(() => /unreachable/.test(out), 10_000, 'the outage to be logged');
  const outageAt = Date.now();
  // With the old fixed 1 s period this was about seven ECONNREFUSED lines.
  await new Promise((r) => setTimeout(r, 7_000));
  const during = out.split('\n').filter((l) => /unreachable|ECONNREFUSED|MQTT client error/.test(l));
  t.equal(
    during.length,
    1,
    `one line in ${((Date.now() - outageAt) / 1000).toFixed(0)} s of outage:\n${during.join('\n')}`,
  );
  t.match(
    during[0],
    /"level":40.*MQTT broker mqtt:\/\/127\.0\.0\.1:\d+ unreachable \(connection lost\); retrying with backoff/,
  );

  broker = await startTestBroker({ port });
  await waitFor(() => /reachable again/.test(out), 40_000, 'the reconnect to be logged');
  const back = out.split('\n').find((l) => /reachable again/.test(l)) ?? '';
  const { attempts, outageMs } = JSON.parse(back) as { attempts: number; outageMs: number };
  t.ok(outageMs >= 7_000, `the outage lasted ${outageMs} ms`);
  // Backoff 1, 2, 4, 8, 16 s (±20%): at most 5 attempts fit in
  // the ~8–25 s this outage lasts; a fixed 1 s period made ~20.
  t.ok(attempts >= 2 && attempts <= 5, `${attempts} reconnect attempts`);
  t.equal(out.split('\n').filter((l) => /reachable again/.test(l)).length, 1, 'the end is logged once');

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'the server still stops cleanly');
});

/**
 * Broker restarts (issue 18 fault suite), with a real device publishing telemetry the whole
 * time through its durable outbox:
 *   - embedded: the server (and the aedes inside it) stops and starts again on the same port
 *     and data directory;
 *   - external: Debian's mosquitto 2 is stopped (SIGTERM) and started again on the same port
 *     and configuration, under a running server in external mode. Sessions and retained
 *     messages are lost with it (no persistence configured), as after a real crash.
 * Found, each: the device and the server's client reconnect by themselves, the device is
 * online again, and every window it closed (before, during and after) is stored exactly once:
 * seqs 0..n-1, none missing, none twice (convergence through the server's acknowledgements).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createDevice, type Device } from '@edgefleet/agent';
import { createServer, loadServerConfig, type EdgefleetServer } from '@edgefleet/server';
import { linkOptions, recordingLogger } from '../helpers/agent-fixtures.js';
import { freePort, MOSQUITTO } from './mosquitto-suite.js';
import { waitFor } from './presence-suite.js';

const silent = recordingLogger('warn').logger;
const online = (device: Device) => device.link.stats().state === 'online';

function makeServer(dataDir: string, port: number, brokerUrl: string | null): EdgefleetServer {
  const config = loadServerConfig({
    flags: {
      dataDir,
      port,
      host: '127.0.0.1',
      'log.level': 'silent',
      'auth.enabled': false,
      apiPort: -1,
      ...(brokerUrl ? { brokerUrl } : {}),
    },
  });
  return createServer(config, { logger: silent, telemetry: { flushIntervalMs: 20 } });
}

/**
 * A real device whose windows the test closes (one per `closeEvery` ms while `run` is on); acks come from the server.
 */
async function startDevice(t: Test, brokerUrl: string, dataDir: string): Promise<Device> {
  const device = await createDevice({
    link: linkOptions({ brokerUrl, deviceId: 'dev-r', logger: silent }),
    dataDir,
    trustedKeys: [],
    logger: silent,
    telemetry: { windowMs: 0, ackTimeoutMs: 1_000 },
  });
  t.teardown(() => device.stop({ clean: false }).catch(() => undefined));
  await device.start();
  return device;
}

/** Closes a window every 50 ms until the returned stop is called; resolves to how many were closed. */
function keepClosing(device: Device): () => Promise<number> {
  let closed = 0;
  let on = true;
  const loop = (async () => {
    while (on) {
      device.telemetry?.closeWindow();
      closed += 1;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    on = false;
    await loop;
    return closed;
  };
}

/** Waits until the server holds seqs 0..n-1 of the device; returns what it holds. */
async function storedSeqs(server: () => EdgefleetServer, n: number): Promise<number[]> {
  let seqs: number[] = [];
  await waitFor(
    async () => {
      seqs = (await server().telemetry().deviceSeries('dev-r', {})).map((w) => w.seq);
      return seqs.length >= n;
    },
    60_000,
    `${n} windows stored`,
  );
  return seqs;
}

t.test('embedded broker: the server restarts on its port; the device reconnects and loses nothing', async (t) => {
  const dataDir = t.testdir();
  const port = await freePort();
  let server = makeServer(join(dataDir, 'server'), port, null);
  t.teardown(() => server.stop());
  await server.start();
  const device = await startDevice(t, `mqtt://127.0.0.1:${port}`, join(dataDir, 'agent'));
  await waitFor(() => online(device), 20_000, 'device online');
  const stop = keepClosing(device);
  await waitFor(async () => (await server.telemetry().deviceSeries('dev-r', {})).length >= 5, 20_000, 'windows');
  await server.stop();
  const during = device.telemetry?.stats().pending ?? 0;
  await new Promise((r) => setTimeout(r, 500));
  server = makeServer(join(dataDir, 'server'), port, null);
  await server.start();
  await waitFor(() => online(device), 30_000, 'device online again');
  await waitFor(async () => (await server.repos().devices.get('dev-r'))?.state === 'online', 30_000, 'registry online');
  const n = await stop();
  const seqs = await storedSeqs(() => server, n);
  t.same(
    seqs,
    Array.from({ length: n }, (_, i) => i),
    `all ${n} windows stored once, in order`,
  );
  await waitFor(() => device.telemetry?.stats().pending === 0, 20_000, 'the acknowledgements');
  t.equal(device.telemetry?.stats().pending, 0, 'the outbox drained: the server acknowledged every window');
  t.comment(
    `tried: the embedded broker (its server) stopped and started while the device closed a window every 50 ms; ` +
      `found: ${n} windows closed, ${seqs.length} stored, ${during} held in the outbox while the broker was away`,
  );
});

/** mosquitto 2 on `port`, anonymous, no persistence; resolves once it listens. */
async function startPlainMosquitto(t: Test, confFile: string): Promise<ChildProcess> {
  const broker = spawn(MOSQUITTO as string, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  broker.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  broker.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  t.teardown(() => {
    broker.kill('SIGKILL');
  });
  await waitFor(() => /running|listen socket/.test(log) || broker.exitCode !== null, 10_000, 'mosquitto up');
  if (broker.exitCode !== null) throw new Error(`mosquitto exited: ${log}`);
  return broker;
}

t.test('mosquitto stopped and started: server and device reconnect, no window lost', async (t) => {
  if (!MOSQUITTO) {
    if (process.env['CI']) t.fail('mosquitto is not installed, but CI must have it: .ci/run installs it');
    else t.plan(0, 'mosquitto not installed: `apt-get install -y mosquitto` to run this fault');
    return;
  }
  const dataDir = t.testdir();
  const port = await freePort();
  const confFile = join(dataDir, 'mosquitto.conf');
  // Auth is covered by mosquitto*.test.ts; this is about the broker going away.
  writeFileSync(confFile, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  let broker = await startPlainMosquitto(t, confFile);
  const url = `mqtt://127.0.0.1:${port}`;
  const server = makeServer(join(dataDir, 'server'), 0, url);
  t.teardown(() => server.stop());
  await server.start();
  const device = await startDevice(t, url, join(dataDir, 'agent'));
  await waitFor(() => online(device), 20_000, 'device online');
  const stop = keepClosing(device);
  await waitFor(async () => (await server.telemetry().deviceSeries('dev-r', {})).length >= 5, 20_000, 'windows');
  broker.kill('SIGTERM');
  await new Promise<void>((resolve) => broker.once('exit', () => resolve()));
  await waitFor(() => !online(device), 10_000, 'the device sees the broker gone');
  await new Promise((r) => setTimeout(r, 500));
  broker = await startPlainMosquitto(t, confFile);
  await waitFor(() => online(device), 30_000, 'device online again');
  await waitFor(
    async () => (await server.repos().devices.get('dev-r'))?.state === 'online',
    30_000,
    "the server's client back and the device registered online",
  );
  const n = await stop();
  const seqs = await storedSeqs(() => server, n);
  t.same(
    seqs,
    Array.from({ length: n }, (_, i) => i),
    `all ${n} windows stored once, in order`,
  );
  await waitFor(() => device.telemetry?.stats().pending === 0, 20_000, 'the acknowledgements');
  t.equal(device.telemetry?.stats().pending, 0, 'the outbox drained: the server acknowledged every window');
  const duplicates = (await server.telemetry().device('dev-r'))?.duplicates ?? 0;
  t.comment(
    `tried: mosquitto 2 stopped (SIGTERM) and started again while the device closed a window every 50 ms; ` +
      `found: ${n} windows closed, ${seqs.length} stored, ${duplicates} resends deduplicated`,
  );
});

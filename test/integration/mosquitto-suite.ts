/**
 * A real mosquitto (Debian's mosquitto 2) configured by `edgefleet broker-config`, in either
 * mode: password file + ACL (`file`) or the dynamic security plugin (`dynsec`), and the
 * permission checks both must pass [EF-PROTO 7.3], run once per mode (STYLE 15). mosquitto is
 * started as configured, with no `user root`: as root it drops to the `mosquitto` user, which
 * must be able to read (and, with the plugin, rewrite) the generated credential files.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { MqttClient } from 'mqtt';
import { findDynsecPlugin, type MosquittoFiles } from '@edgefleet/server/auth/broker-config';
import { deviceTopic, encodeMessage } from '@edgefleet/shared';
import type { EdgefleetServer } from '@edgefleet/server';
import { connect, sleep, subscribeGranted } from '../helpers/auth.js';
import { runCli } from '../helpers/run-cli.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';
import { waitFor } from './presence-suite.js';

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find(
  (p) => spawnSync(p, ['-h']).error === undefined,
);
export const DYNSEC_PLUGIN = findDynsecPlugin();

export async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface MosquittoRig {
  readonly url: string;
  readonly port: number;
  readonly outDir: string;
  readonly files: MosquittoFiles;
  readonly broker: ChildProcess;
  log(): string;
  /** Writes the files again (`edgefleet broker-config mosquitto`, through the data directory's server if one runs). */
  rewrite(): Promise<MosquittoFiles>;
}

/**
 * What a user runs: the CLI asks the data directory's services (its running server, or the
 * services it starts itself) for the credentials and writes the files.
 */
async function writeFiles(t: Test, dataDir: string, outDir: string, port: number, mode: 'file' | 'dynsec') {
  const flags = ['--data-dir', dataDir, '--out', outDir, '--port', String(port), '--bind', '127.0.0.1'];
  if (mode === 'dynsec') flags.push('--dynsec-plugin', DYNSEC_PLUGIN as string);
  const written = await runCli(['broker-config', 'mosquitto', ...flags, '--json']);
  t.equal(written.code, 0, written.err);
  return JSON.parse(written.out) as MosquittoFiles;
}

/** Writes the files for `mode` from the store in `dataDir` and starts mosquitto on them. */
export async function startMosquitto(t: Test, dataDir: string, mode: 'file' | 'dynsec'): Promise<MosquittoRig> {
  const port = await freePort();
  const outDir = join(dataDir, 'mosquitto');
  const files = await writeFiles(t, dataDir, outDir, port, mode);
  const broker = spawn(MOSQUITTO as string, ['-c', files.confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  broker.stdout.on('data', (d: Buffer) => {
    log += d.toString();
  });
  broker.stderr.on('data', (d: Buffer) => {
    log += d.toString();
  });
  t.teardown(() => {
    broker.kill('SIGTERM');
  });
  await waitFor(
    () => /Opening ipv4 listen socket|mosquitto version .* running/.test(log) || broker.exitCode !== null,
    10_000,
    'mosquitto to start',
  );
  t.equal(broker.exitCode, null, `mosquitto runs (${log.trim().split('\n').at(-1)})`);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    outDir,
    files,
    broker,
    log: () => log,
    rewrite: () => writeFiles(t, dataDir, outDir, port, mode),
  };
}

/** Publishes retained desired states for two devices with the server's own credential. */
export async function retainDesired(url: string, dataDir: string, ids: readonly string[]): Promise<void> {
  const secret = readFileSync(join(dataDir, 'mqtt-server.secret'), 'utf8').trim();
  // The server's user name as client id: with use_username_as_clientid (file mode) any other is replaced anyway.
  const privileged = await connect(url, {
    clientId: 'edgefleet-server',
    username: 'edgefleet-server',
    password: secret,
  });
  for (const id of ids)
    await privileged.publishAsync(deviceTopic(id, 'desired'), Buffer.from(`for-${id}`), { qos: 1, retain: true });
  await privileged.endAsync();
}

function hello(id: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: 'hello',
      v: 1,
      deviceId: id,
      deviceClass: 'rpi4',
      agentVersion: 't',
      runtime: { node: 'x', onnxruntime: 'y' },
      capabilities: { cpuModel: 'c', cores: 1, memoryBytes: 1, executionProviders: [], precisions: [] },
      currentModel: null,
      sentAt: 1,
    }),
  );
}

/**
 * The permission checks of [EF-PROTO 7.3] against a running server on `rig`: devices A and B
 * (retained desired states published for both before) see and publish only their own topics.
 */
export async function permissionSuite(
  t: Test,
  rig: MosquittoRig,
  server: EdgefleetServer,
  a: { readonly secret: string; readonly wrong: string },
  b: { readonly secret: string },
): Promise<void> {
  const url = rig.url;
  await t.rejects(
    connect(url, { clientId: 'dev-a', username: 'dev-a', password: a.wrong }),
    { code: 5 },
    'wrong password refused',
  );
  await t.rejects(connect(url, { clientId: 'anon' }), { code: 5 }, 'anonymous refused');
  const devA = await connect(url, { clientId: 'dev-a', username: 'dev-a', password: a.secret, clean: true });
  const devB = await connect(url, { clientId: 'dev-b', username: 'dev-b', password: b.secret, clean: true });
  t.teardown(() => Promise.all([devA.endAsync(true), devB.endAsync(true)]));

  await t.test("A cannot read B's retained desired state, by name or by wildcard; B can", async (t) => {
    const gotA: string[] = [];
    const gotB: string[] = [];
    devA.on('message', (topic, p) => gotA.push(`${topic}=${p.toString()}`));
    devB.on('message', (topic, p) => gotB.push(`${topic}=${p.toString()}`));
    // mosquitto's file ACL acknowledges these SUBSCRIBEs and delivers nothing; the plugin refuses them (0x80).
    for (const filter of ['ef/v1/devices/dev-a/#', deviceTopic('dev-b', 'desired'), 'ef/v1/devices/+/desired', '#'])
      await subscribeGranted(devA, filter);
    await subscribeGranted(devB, deviceTopic('dev-b', 'desired'));
    await sleep(300);
    t.notOk(
      gotA.some((m) => m.includes('dev-b')),
      'nothing of B reaches A',
    );
    t.ok(gotA.includes(`${deviceTopic('dev-a', 'desired')}=for-dev-a`), 'A gets its own');
    t.ok(gotB.includes(`${deviceTopic('dev-b', 'desired')}=for-dev-b`), 'B gets its own: the check could fail');
  });

  await t.test("A cannot publish on B's topics (mosquitto drops it; the server never sees it)", async (t) => {
    await devA.publishAsync(deviceTopic('dev-b', 'hello'), hello('dev-b'), { qos: 1 });
    await devA.publishAsync(deviceTopic('dev-a', 'hello'), hello('dev-a'), { qos: 1 });
    await waitFor(async () => (await server.repos().devices.get('dev-a')) !== null, 5000, "A's own hello registered");
    await sleep(200);
    t.equal(await server.repos().devices.get('dev-b'), null, "B was never registered by A's forged hello");
  });

  await t.test("the server's telemetry acknowledgement reaches A, and only A", async (t) => {
    const got: Record<string, string[]> = { 'dev-a': [], 'dev-b': [] };
    const onA = (topic: string) => got['dev-a']?.push(topic);
    const onB = (topic: string) => got['dev-b']?.push(topic);
    devA.on('message', onA);
    devB.on('message', onB);
    await subscribeGranted(devA, deviceTopic('dev-a', 'telemetry-ack'));
    await subscribeGranted(devB, 'ef/v1/devices/+/telemetry-ack');
    await devA.publishAsync(deviceTopic('dev-a', 'telemetry'), encodeMessage(telemetryWindow('dev-a', 0)), { qos: 1 });
    await waitFor(
      () => got['dev-a']?.includes(deviceTopic('dev-a', 'telemetry-ack')) === true,
      10_000,
      "A's acknowledgement",
    );
    await sleep(200);
    t.same(got['dev-b'], [], "B's wildcard delivered nothing of A's");
    devA.off('message', onA);
    devB.off('message', onB);
  });
}

/** Resolves when the client is closed by the broker within `ms`, with the time it took. */
export function closedAfter(client: MqttClient, ms: number): Promise<number | null> {
  const started = Date.now();
  if (!client.connected) return Promise.resolve(0);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

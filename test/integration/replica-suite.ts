/**
 * What the replica tests share (replicas.test.ts, replica-compress-kill.ts, replicas-dynsec.test.ts):
 * a mosquitto on a loopback port (plain, or on a generated configuration), and the flags of a
 * replica on one Postgres behind it.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { createServer, loadServerConfig, type EdgefleetServer } from '@edgefleet/server';
import { freePort } from '../helpers/postgres.js';
import { MOSQUITTO } from './mosquitto-suite.js';
import { waitFor } from './presence-suite.js';

const silent = pino({ level: 'silent' });

/** Starts mosquitto on a configuration file and waits until it listens. */
export async function startMosquittoOn(
  conf: string,
  port: number,
): Promise<{ url: string; stop: () => void; log: () => string }> {
  const broker = spawn(MOSQUITTO as string, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  broker.stdout.on('data', (d: Buffer) => (log += d.toString()));
  broker.stderr.on('data', (d: Buffer) => (log += d.toString()));
  await waitFor(() => /running/.test(log) || broker.exitCode !== null, 10_000, 'mosquitto to start');
  if (broker.exitCode !== null) throw new Error(`mosquitto exited: ${log}`);
  return { url: `mqtt://127.0.0.1:${port}`, stop: () => broker.kill('SIGTERM'), log: () => log };
}

export async function startPlainMosquitto(dir: string): Promise<{ url: string; stop: () => void; log: () => string }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  // Anonymous on loopback: these tests are about work shared between replicas; the ACL suites cover identity.
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  return startMosquittoOn(conf, port);
}

/** Flags of a replica; the child-process replica gets the same through JSON. */
export function replicaFlags(dataDir: string, store: string, brokerUrl: string, sharedDir?: string) {
  return {
    dataDir,
    ...(sharedDir === undefined ? {} : { sharedDir }),
    store,
    brokerUrl,
    'log.level': 'silent',
    'auth.enabled': false,
    apiPort: -1,
    'presence.offlineAfterMs': 60_000,
    'control.enabled': false,
  };
}

export function replica(dataDir: string, store: string, brokerUrl: string, sharedDir?: string): EdgefleetServer {
  const config = loadServerConfig({ flags: replicaFlags(dataDir, store, brokerUrl, sharedDir) });
  return createServer(config, { logger: silent, telemetry: { flushIntervalMs: 20 } });
}

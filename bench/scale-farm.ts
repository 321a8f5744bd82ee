/**
 * One farm process of `npm run bench:scale` (forked by bench/scale.ts): sampled devices on the
 * real agent link and outbox, each its own MQTT connection, one telemetry window every
 * `windowMs`. A device named in a rollout downloads the artifact for real, through the agent's
 * own chunk downloader over the server's chunk protocol (resumable part file, sha256 check
 * against the manifest), then reports `verifying` and `succeeded` as the agent would, and drops
 * its copy. Not simulated: the signature check, the golden-set smoke test, onnxruntime.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { downloadChunks, openArtifactStore } from '@edgefleet/agent';
import { startFarm, type VirtualDevice } from '@edgefleet/simulators';
import { PROTOCOL_VERSION, systemClock, type Chunk, type ChunkNack, type Desired } from '@edgefleet/shared';

export interface FarmSpec {
  readonly brokerUrl: string;
  readonly devices: number;
  readonly idPrefix: string;
  readonly seed: number;
  readonly dataDir: string;
  readonly windowMs: number;
  readonly classes: readonly string[];
  /** Devices of this farm connecting at once (`FarmOptions.maxConnecting`). */
  readonly maxConnecting: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as FarmSpec;
const log = pino({ level: process.env['EF_BENCH_LOG'] ?? 'silent' });
const model = () => ({
  sha256: 'a'.repeat(64),
  variantId: 'bench',
  precision: 'fp32' as const,
  hostLatencyMs: 3,
  goldenAccuracy: 0.95,
  bytes: 100_000,
});
const farm = await startFarm({
  brokerUrl: spec.brokerUrl,
  devices: spec.devices,
  classes: spec.classes,
  seed: spec.seed,
  idPrefix: spec.idPrefix,
  logger: log,
  maxConnecting: spec.maxConnecting,
  telemetry: { dataDir: spec.dataDir, windowMs: spec.windowMs, model },
});

const installs = { started: 0, succeeded: 0, failed: 0, bytes: 0 };
/** Per finished install, ms: manifest issued → heard here, and the download itself (request → artifact verified). */
const timings = { heardMs: [] as number[], downloadMs: [] as number[] };
const summary = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? null;
  return { n: s.length, p50: at(0.5), p90: at(0.9), max: s[s.length - 1] ?? null };
};

async function report(device: VirtualDevice, desired: Desired, state: 'verifying' | 'succeeded', counts: object) {
  const body = desired.body;
  await device.link.publish('events', {
    type: 'deploy-report',
    v: PROTOCOL_VERSION,
    deviceId: device.deviceId,
    deploymentId: body.deploymentId,
    rolloutId: body.rolloutId,
    variantId: body.variantId,
    sha256: body.artifact.sha256,
    state,
    chunks: { total: body.artifact.chunks.length, fetched: 0, reused: 0, corrupt: 0, ...counts },
    serving: state === 'succeeded' ? body.artifact.sha256 : null,
    sentAt: Date.now(),
  });
}

async function install(device: VirtualDevice, desired: Desired): Promise<void> {
  installs.started += 1;
  const t0 = Date.now();
  const heard = t0 - desired.body.issuedAt;
  const dir = join(spec.dataDir, 'artifacts', device.deviceId);
  mkdirSync(dir, { recursive: true });
  try {
    const store = await openArtifactStore(dir);
    const opened = Date.now() - t0;
    const counts = await downloadChunks(desired.body, {
      deviceId: device.deviceId,
      store,
      clock: systemClock,
      random: Math.random,
      windowTimeoutMs: 30_000,
      maxStalls: 20,
      transport: {
        request: (r) => device.link.publish('chunk-req', r),
        listen: (handler) =>
          device.link.on('chunks', (m) => {
            if (m?.type === 'chunk' || m?.type === 'chunk-nack') handler(m as Chunk | ChunkNack);
          }),
      },
    });
    if (!(await store.has(desired.body.artifact.sha256))) throw new Error('artifact not in the store after download');
    installs.bytes += desired.body.artifact.size;
    timings.heardMs.push(heard);
    timings.downloadMs.push(Date.now() - t0);
    await report(device, desired, 'verifying', counts);
    await report(device, desired, 'succeeded', counts);
    installs.succeeded += 1;
    log.info(
      { deviceId: device.deviceId, ms: Date.now() - t0, opened, late: t0 - desired.body.issuedAt, counts },
      'bench install done',
    );
  } catch (err: unknown) {
    installs.failed += 1;
    process.send?.({ kind: 'install-failed', deviceId: device.deviceId, error: String(err) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A manifest is retained and may come again (reconnect): one install per deployment.
const seen = new Set<string>();
for (const device of farm.devices)
  device.link.on('desired', (m) => {
    if (m?.type !== 'desired' || m.body.deviceId !== device.deviceId || m.body.purpose === 'rollback') return;
    const desired = m as Desired;
    if (seen.has(desired.body.deploymentId)) return;
    seen.add(desired.body.deploymentId);
    void install(device, desired);
  });

const progress = setInterval(() => {
  const online = farm.devices.filter((d) => d.isOnline()).length;
  const pending = farm.devices.reduce((n, d) => n + (d.telemetry?.telemetry.stats().pending ?? 0), 0);
  const closed = farm.devices.reduce((n, d) => n + (d.telemetry?.telemetry.stats().windows ?? 0), 0);
  const installTimes = { heardMs: summary(timings.heardMs), downloadMs: summary(timings.downloadMs) };
  process.send?.({ kind: 'progress', online, pending, closed, installs, installTimes });
}, 1_000);

function stop(): void {
  clearInterval(progress);
  void farm.stop().finally(() => {
    rmSync(spec.dataDir, { recursive: true, force: true });
    process.exit(0);
  });
}
process.on('message', (m: { type: string }) => {
  if (m.type === 'stop') stop();
});
// The bench gone (Ctrl-C, a crash) closes the IPC channel: its devices go too.
process.once('disconnect', stop);
process.send?.({ kind: 'started', pid: process.pid });

/**
 * npm run bench:farm — what a sampled farm costs on this box: N devices (each its own MQTT
 * connection through the real agent link, telemetry through the real outbox with server
 * acknowledgements) against the real server with its embedded broker, in one process. For
 * each N: time until every device is online, then over a steady period the windows the server
 * stored, CPU used (server and farm together, % of one core), RSS, gaps and entries still in flight at the end.
 * With `--enroll`, auth is on and every device first enrolls with one enrollment token, as
 * `edgefleet farm --enroll-token` does: the row adds the time until every device had its identity.
 * Usage: npm run bench:farm [-- --devices 100,1000 --seconds 60 --window-ms 10000 --enroll]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { enrollFarmDevices, farmDeviceIds, startFarm, type FarmIdentity } from '@edgefleet/simulators';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? def) : def;
};
const SIZES = arg('devices', '100,1000')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const SECONDS = Number(arg('seconds', '60'));
const WINDOW_MS = Number(arg('window-ms', '10000'));
const ENROLL = process.argv.includes('--enroll');
const log = pino({ level: 'silent' });
const model = () => ({
  sha256: 'a'.repeat(64),
  variantId: 'bench',
  precision: 'fp32' as const,
  hostLatencyMs: 3,
  goldenAccuracy: 0.95,
  bytes: 100_000,
});

async function once(devices: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'ef-bench-farm-'));
  const config = loadServerConfig({
    flags: {
      dataDir: join(dir, 'server'),
      port: 0,
      host: '127.0.0.1',
      apiPort: -1,
      'auth.enabled': ENROLL,
      'log.level': 'silent',
      'control.enabled': false,
    },
  });
  const server = createServer(config, { logger: log });
  const address = await server.start();
  const t0 = performance.now();
  let identities: Map<string, FarmIdentity> | null = null;
  let enrolledMs = 0;
  if (ENROLL) {
    const token = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: devices, ttlS: 3600 });
    identities = await enrollFarmDevices({
      brokerUrl: address.brokerUrl,
      tokens: [token.token],
      plannedIds: farmDeviceIds(devices),
      dataDir: join(dir, 'farm'),
      logger: log,
    });
    enrolledMs = performance.now() - t0;
    process.stderr.write(`${devices} devices enrolled in ${Math.round(enrolledMs)} ms\n`);
  }
  const farm = await startFarm({
    ...(identities ? { identities } : {}),
    brokerUrl: address.brokerUrl,
    devices,
    classes: ENROLL ? ['rpi4'] : ['mcu-gateway', 'rpi4', 'jetson-orin'],
    logger: log,
    telemetry: { dataDir: join(dir, 'farm'), windowMs: WINDOW_MS, model },
  });
  while (Object.values(farm.onlineCount()).reduce((a, b) => a + b, 0) < devices)
    await new Promise((r) => setTimeout(r, 100));
  const onlineMs = performance.now() - t0;
  process.stderr.write(`${devices} devices online in ${Math.round(onlineMs)} ms; measuring ${SECONDS} s…\n`);
  const before = server.telemetry().stats().windows;
  const counts0 = await flowCounts(server, farm);
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const elapsed = performance.now() - w0;
  const stats = server.telemetry().stats();
  const counts1 = await flowCounts(server, farm);
  // Where windows are over the measured period: sent by devices, received/stored/acked by the server, acked back.
  const flow = Object.fromEntries(
    Object.entries(counts1).map(([k, v]) => [k, k.startsWith('now') ? v : v - (counts0[k] ?? 0)]),
  );
  process.stderr.write(`${devices} devices, flow over the measured period: ${JSON.stringify(flow)}\n`);
  const row = {
    devices,
    ...(ENROLL ? { enrolledMs: Math.round(enrolledMs) } : {}),
    onlineMs: Math.round(onlineMs),
    seconds: SECONDS,
    windowMs: WINDOW_MS,
    windowsStored: stats.windows - before,
    windowsPerS: Number(((stats.windows - before) / (elapsed / 1000)).toFixed(1)),
    cpuPctOfOneCore: Math.round(((cpu.user + cpu.system) / 1000 / elapsed) * 100),
    rssMB: Math.round(process.memoryUsage().rss / 1e6),
    gaps: (await server.telemetry().gaps()).length,
    // Windows closed in the last instant are still on their way: a handful is normal, a backlog is not.
    inFlightAtEnd: farm.devices.reduce((n, d) => n + (d.telemetry?.telemetry.stats().pending ?? 0), 0),
    ...Object.fromEntries(Object.entries(flow).map(([k, v]) => [`flow_${k}`, v])),
  };
  await farm.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  return row;
}

type Server = ReturnType<typeof createServer>;
type Farm = Awaited<ReturnType<typeof startFarm>>;

/**
 * Counters along a window's way, summed over every device and the server: what the devices
 * published and had acknowledged, what the server received, stored and acknowledged, and the
 * MQTT connects the broker refused (by reason). `now*` are levels, the rest totals.
 */
async function flowCounts(server: Server, farm: Farm): Promise<Record<string, number>> {
  const s = server.telemetry().stats();
  const sum = (pick: (st: NonNullable<Farm['devices'][number]['telemetry']>['telemetry']) => number) =>
    farm.devices.reduce((n, d) => n + (d.telemetry ? pick(d.telemetry.telemetry) : 0), 0);
  const refused: Record<string, number> = {};
  for (const m of (await server.metrics.render()).matchAll(
    /^edgefleet_mqtt_connects_refused_total\{reason="([^"]+)"\} (\d+)/gm,
  ))
    refused[`refused_${m[1]}`] = Number(m[2]);
  return {
    devWindowsClosed: sum((t) => t.stats().windows),
    devAcked: sum((t) => t.stats().acked),
    devResends: sum((t) => t.stats().resends),
    devPublishFailures: sum((t) => t.stats().publishFailures),
    nowDevAwaitingAck: sum((t) => t.stats().awaitingAck),
    nowDevPending: sum((t) => t.stats().pending),
    nowDevicesOnline: Object.values(farm.onlineCount()).reduce((a, b) => a + b, 0),
    serverReceived: s.received,
    serverStored: s.windows,
    serverDuplicates: s.duplicates,
    serverRefused: s.refused,
    serverAcks: s.acksPublished,
    ...refused,
  };
}

const rows: Array<Record<string, number>> = [];
for (const n of SIZES) {
  const row = await once(n);
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log(
  `\ndevices  ${ENROLL ? 'enrolled after  ' : ''}online after  windows/s  CPU (% of one core)  RSS  gaps  in ` +
    `flight at the end`,
);
for (const r of rows)
  console.log(
    `${r['devices']}  ${ENROLL ? `${r['enrolledMs']} ms  ` : ''}${r['onlineMs']} ms  ${r['windowsPerS']}  ` +
      `${r['cpuPctOfOneCore']}%  ${r['rssMB']} MB  ${r['gaps']}  ${r['inFlightAtEnd']}`,
  );
mkdirSync(join('bench', 'results'), { recursive: true });
const out = join('bench', 'results', `farm-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const note =
  'one process: server, embedded broker and every simulated device share the CPU; device figures are modelled';
writeFileSync(out, `${JSON.stringify({ node: process.version, cpus: cpus().length, note, rows }, null, 2)}\n`);
console.log(`wrote ${out}`);

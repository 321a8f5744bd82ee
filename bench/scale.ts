/**
 * npm run bench:scale — the fleet at scale on this box, two topologies in one run:
 *   (a) one server on SQLite with its embedded aedes broker (what `npm start` runs);
 *   (b) two server replicas on one Postgres behind mosquitto 2 (MQTT 5 shared subscriptions).
 * For each: N sampled devices in farm processes (2,500 each by default), one telemetry window
 * every 10 s per device. Measured: time until the server has every device online, then over a
 * steady period windows/s stored, the delay from a device closing a window to the commit that
 * stored it (p50/p99 of the server's histogram), CPU and RSS of every process (replicas,
 * farms, broker, Postgres with its backends); then a rollout of a ~1 MB variant to
 * `--rollout` devices of one class, each downloading it for real over the chunk protocol.
 * Every process is a real one; device behaviour (inference figures) is sampled, i.e. modelled.
 *
 * Usage: npm run bench:scale [-- --devices 10000 --per-farm 2500 --seconds 60 --window-ms 10000
 *          --rollout 1000 --variant-kb 1024 --topology both|sqlite|postgres --device-disk /dev/shm]
 * Run it under the shared lock: flock /tmp/edgefleet-heavy.lock npm run bench:scale
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../test/helpers/postgres.js';
import { childrenOf, findProcess, meterRoles, type RoleUsage } from './scale-procs.js';
import { forkChild, startMosquitto, type Child } from './scale-children.js';
import { quantileMs, sumDelays, type Delays } from './scale-delays.js';
import { healthOf, runRollout, type FarmInstalls } from './scale-rollout.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? def) : def;
};
if (process.argv.includes('--help')) {
  console.log(
    'npm run bench:scale [-- --devices 10000 --per-farm 2500 --seconds 60 --window-ms 10000 --rollout 1000\n' +
      '   --variant-kb 1024 --topology both|sqlite|postgres --online-timeout-s 900 --device-disk DIR\n' +
      '   --max-connecting 50 --rollout-timeout-s 1800]',
  );
  process.exit(0);
}
const DEVICES = Number(arg('devices', '10000'));
const PER_FARM = Number(arg('per-farm', '2500'));
const SECONDS = Number(arg('seconds', '60'));
const WINDOW_MS = Number(arg('window-ms', '10000'));
const ROLLOUT = Math.min(Number(arg('rollout', '1000')), Math.floor(DEVICES / 3));
// 16·h + h + 4·h + 4 float32 parameters: 12,483 hidden units make 1 MiB (+ the graph's few hundred bytes).
const HIDDEN = Math.round((Number(arg('variant-kb', '1024')) * 1024) / 4 / 21);
const TOPOLOGIES = arg('topology', 'both') === 'both' ? ['sqlite', 'postgres'] : [arg('topology', 'both')];
const ONLINE_TIMEOUT_MS = Number(arg('online-timeout-s', '900')) * 1000;
const ROLLOUT_TIMEOUT_MS = Number(arg('rollout-timeout-s', '1800')) * 1000;
/**
 * Where the simulated devices keep their outboxes and downloads. Real devices each fsync their
 * own disk; 10,000 of them fsyncing this box's one disk would measure the disk, not the fleet,
 * so they live in tmpfs (/dev/shm) when there is one. The servers' stores stay on the disk.
 */
const DEVICE_DISK = arg('device-disk', existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
/** Devices of one farm in their first connect at once (`FarmOptions.maxConnecting`). */
const MAX_CONNECTING = Number(arg('max-connecting', '50'));
const CLASSES = ['rpi4', 'jetson-orin', 'mcu-gateway'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

interface Topology {
  readonly replicas: Child[];
  readonly brokerUrl: string;
  readonly roles: Map<string, () => number[]>;
  stop(): Promise<void>;
}

const baseFlags = (dataDir: string) => ({
  dataDir,
  host: '127.0.0.1',
  apiPort: -1,
  'log.level': 'silent',
  'auth.enabled': false,
  'control.enabled': false,
});

async function sqliteTopology(dir: string): Promise<Topology> {
  // Every simulated device connects from 127.0.0.1, where a real fleet has an address each: the
  // embedded broker's cap on not-yet-accepted connections per address (128) must fit all the
  // farms' devices connecting at once, or the farms' refused devices back off and the ramp crawls.
  const pendingCap = Math.ceil(DEVICES / PER_FARM) * MAX_CONNECTING + 64;
  const a = await forkChild('scale-server.ts', {
    ...baseFlags(join(dir, 'a')),
    port: 0,
    'connections.maxPendingPerAddress': Math.max(128, pendingCap),
  });
  const brokerUrl = (a.started as { brokerUrl: string }).brokerUrl;
  return {
    replicas: [a],
    brokerUrl,
    roles: new Map([['server (SQLite + aedes)', () => [a.pid]]]),
    stop: () => a.stop(),
  };
}

async function postgresTopology(dir: string): Promise<Topology> {
  const pg = await startEmbeddedPostgres({ durable: true });
  if ('unavailable' in pg) throw new Error(`Postgres cannot run here: ${pg.unavailable}`);
  const store = await pg.createDatabase('scale');
  const broker = await startMosquitto(join(dir, 'broker'));
  const flags = (name: string) => ({
    ...baseFlags(join(dir, name)),
    store,
    brokerUrl: broker.url,
    sharedDir: join(dir, 'shared'),
  });
  // a first, so it takes the rollouts' ownership; b starts the bench's rollout like an API call landing there.
  const a = await forkChild('scale-server.ts', flags('a'));
  const b = await forkChild('scale-server.ts', flags('b'));
  const postmaster = findProcess(['-p', String(pg.port)]);
  return {
    replicas: [a, b],
    brokerUrl: broker.url,
    roles: new Map([
      ['replica a (Postgres)', () => [a.pid]],
      ['replica b (Postgres)', () => [b.pid]],
      ['mosquitto', () => [broker.pid]],
      ['postgres (all backends)', () => (postmaster === null ? [] : [postmaster, ...childrenOf(postmaster)])],
    ]),
    stop: async () => {
      await Promise.all([a.stop(), b.stop()]);
      broker.stop();
      await pg.stop();
    },
  };
}

async function statsOf(replicas: readonly Child[]) {
  const all = (await Promise.all(replicas.map((r) => r.ask({ type: 'stats' })))) as Array<{
    stats: { windows: number; duplicates: number; received: number; failedBatches: number };
    delays: Delays;
  }>;
  const sum = (k: 'windows' | 'duplicates' | 'received' | 'failedBatches') => all.reduce((n, s) => n + s.stats[k], 0);
  return {
    windows: sum('windows'),
    duplicates: sum('duplicates'),
    received: sum('received'),
    failedBatches: sum('failedBatches'),
    delays: sumDelays(all.map((s) => s.delays)),
    perReplica: all.map((s) => s.stats.windows),
  };
}

/** Every child and topology of the running topology, so a failed run can still end them. */
const live: { children: Child[]; topo: Topology | null; dirs: string[] } = { children: [], topo: null, dirs: [] };
async function cleanUp(): Promise<void> {
  await Promise.all(live.children.map((c) => c.stop().catch(() => undefined)));
  await live.topo?.stop().catch(() => undefined);
  for (const d of live.dirs) rmSync(d, { recursive: true, force: true });
  live.children = [];
  live.topo = null;
  live.dirs = [];
}

type FarmProgress = FarmInstalls & { online: number; pending: number; closed: number };

async function run(topologyName: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'ef-bench-scale-'));
  const deviceDisk = mkdtempSync(join(DEVICE_DISK, 'ef-bench-scale-devices-'));
  live.dirs = [dir, deviceDisk];
  say(`${topologyName}: starting the servers`);
  const topo = topologyName === 'sqlite' ? await sqliteTopology(dir) : await postgresTopology(dir);
  live.topo = topo;
  const [first] = topo.replicas as [Child];
  const farmCount = Math.ceil(DEVICES / PER_FARM);
  const t0 = performance.now();
  const farms: Child[] = [];
  const progress: FarmProgress[] = [];
  const forks: Array<Promise<Child>> = [];
  for (let i = 0; i < farmCount; i += 1) {
    const devices = Math.min(PER_FARM, DEVICES - i * PER_FARM);
    const spec = {
      maxConnecting: MAX_CONNECTING,
      brokerUrl: topo.brokerUrl,
      devices,
      idPrefix: `f${i}`,
      seed: i + 1,
      dataDir: join(deviceDisk, `farm-${i}`),
      windowMs: WINDOW_MS,
      classes: CLASSES,
    };
    forks.push(forkChild('scale-farm.ts', spec, (m) => (progress[i] = m as FarmProgress)));
    topo.roles.set(`farm ${i} (${devices} devices)`, () => [farms[i]?.pid ?? 0]);
  }
  // Farms build their devices in parallel; each starts connecting as soon as it is built.
  farms.push(...(await Promise.all(forks)));
  live.children = farms;
  const farmsOnline = () => progress.reduce((n, p) => n + (p?.online ?? 0), 0);
  let serverOnline = 0;
  let onlineMs: number | null = null;
  while (performance.now() - t0 < ONLINE_TIMEOUT_MS) {
    serverOnline = ((await first.ask({ type: 'online' })) as { online: number }).online;
    if (serverOnline >= DEVICES) {
      onlineMs = Math.round(performance.now() - t0);
      break;
    }
    const health = JSON.stringify(await healthOf(topo.replicas));
    say(`${topologyName}: online ${serverOnline} (farms connected ${farmsOnline()}) of ${DEVICES} ${health}`);
    await sleep(5_000);
  }
  say(`${topologyName}: ${serverOnline} online after ${Math.round(performance.now() - t0)} ms; settling one window`);
  await sleep(WINDOW_MS + 2_000);
  const meter = meterRoles(topo.roles);
  const before = await statsOf(topo.replicas);
  meter.start();
  const w0 = performance.now();
  await sleep(SECONDS * 1000);
  const usage: RoleUsage[] = meter.stop();
  const after = await statsOf(topo.replicas);
  const elapsedS = (performance.now() - w0) / 1000;
  const delays = sumDelays([after.delays], [before.delays]);
  const steady = {
    windowsStored: after.windows - before.windows,
    windowsPerS: Number(((after.windows - before.windows) / elapsedS).toFixed(1)),
    offeredPerS: Number((farmsOnline() / (WINDOW_MS / 1000)).toFixed(1)),
    storedPerReplica: after.perReplica.map((w, i) => w - (before.perReplica[i] ?? 0)),
    duplicates: after.duplicates - before.duplicates,
    failedBatches: after.failedBatches - before.failedBatches,
    p50DelayMs: quantileMs(delays, 0.5),
    p99DelayMs: quantileMs(delays, 0.99),
    windowsInFlightAtEnd: progress.reduce((n, p) => n + (p?.pending ?? 0), 0),
  };
  say(`${topologyName}: steady ${JSON.stringify(steady)} ${JSON.stringify(await healthOf(topo.replicas))}`);
  // A rollout that fails (a server too far behind to start it) is a result too; the steady figures stand.
  const rollout = await runRollout({
    label: topologyName,
    replicas: topo.replicas,
    roles: topo.roles,
    progress,
    deviceClass: CLASSES[0] as string,
    devices: ROLLOUT,
    hidden: HIDDEN,
    timeoutMs: ROLLOUT_TIMEOUT_MS,
  }).catch((err: unknown) => ({ devices: 0, variantBytes: 0, ms: 0, state: `failed: ${String(err)}` }));
  for (const f of farms) await f.stop();
  await topo.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(deviceDisk, { recursive: true, force: true });
  return {
    topology: topologyName,
    devices: DEVICES,
    farms: farmCount,
    onlineMs,
    onlineAtEnd: serverOnline,
    seconds: SECONDS,
    windowMs: WINDOW_MS,
    ...steady,
    usage,
    rollout,
    load: loadavg().map((l) => Number(l.toFixed(1))),
  };
}

// Ctrl-C: end the children, Postgres and mosquitto, and remove the temp dirs, before exiting.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    say(`${signal}: stopping the servers, farms and brokers`);
    void cleanUp().finally(() => process.exit(130));
  });

const rows: Array<Record<string, unknown>> = [];
for (const t of TOPOLOGIES) {
  try {
    rows.push(await run(t));
  } catch (err: unknown) {
    // A topology that falls over (a server crashing under the load) is a result too, reported as such.
    say(`${t}: failed: ${err instanceof Error ? err.message : String(err)}`);
    rows.push({ topology: t, devices: DEVICES, failed: err instanceof Error ? err.message : String(err) });
    await cleanUp();
  }
}
console.log(renderTable(rows));
mkdirSync(join('bench', 'results'), { recursive: true });
const out = join('bench', 'results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const note =
  'every process real (servers, brokers, Postgres, MQTT connections, chunk downloads); device inference figures ' +
  'are sampled (modelled). Postgres RSS sums its backends, so shared buffers count more than once.';
writeFileSync(out, `${JSON.stringify({ node: process.version, cpus: cpus().length, note, rows }, null, 2)}\n`);
console.log(`wrote ${out}`);

function renderTable(rs: ReadonlyArray<Record<string, unknown>>): string {
  const lines = [
    '| topology | devices | online after | windows/s stored (offered) | p50 / p99 window→stored | rollout ' +
      '(devices, MB) | rollout time, result |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rs) {
    if (r['failed'] !== undefined) {
      lines.push(`| ${r['topology']} | ${r['devices']} | failed: ${r['failed']} | | | | |`);
      continue;
    }
    const ro = r['rollout'] as Record<string, unknown>;
    const online =
      r['onlineMs'] === null ? `not all (${r['onlineAtEnd']})` : `${(Number(r['onlineMs']) / 1000).toFixed(1)} s`;
    lines.push(
      `| ${r['topology']} | ${r['devices']} | ${online} | ${r['windowsPerS']} (${r['offeredPerS']}) | ` +
        `${r['p50DelayMs']} / ${r['p99DelayMs']} ms | ` +
        `${ro['devices']}, ${(Number(ro['variantBytes']) / 1e6).toFixed(2)} | ` +
        `${(Number(ro['ms']) / 1000).toFixed(1)} s, ${ro['deliveredMBps']} MB/s, ${ro['state']} ` +
        `${JSON.stringify(ro['byState'])} |`,
    );
  }
  lines.push(
    '',
    '| topology | process | CPU steady (% of one core) | RSS steady | CPU during rollout |',
    '|---|---|---|---|---|',
  );
  for (const r of rs) {
    if (r['failed'] !== undefined) continue;
    const steady = r['usage'] as RoleUsage[];
    const during = (r['rollout'] as { usage?: RoleUsage[] }).usage ?? [];
    for (const u of steady) {
      const d = during.find((x) => x.role === u.role);
      lines.push(
        `| ${r['topology']} | ${u.role} | ${u.cpuPctOfOneCore}% | ${u.rssMB} MB | ${d?.cpuPctOfOneCore ?? '–'}% |`,
      );
    }
  }
  return lines.join('\n');
}

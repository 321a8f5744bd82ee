/**
 * One server process of `npm run bench:scale` (forked by bench/scale.ts, never run by hand):
 * the real `createServer` with the flags it is given, answering the bench over IPC with its
 * telemetry counters and store-delay histogram, the fleet's online count, and (when asked)
 * starting a rollout and reporting its progress. Each replica is its own process, so its CPU
 * and RSS are measured apart from the farms and the broker.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { buildClassifier, goldenFor } from '../test/fixtures/deploy-models.js';

export type ServerRequest =
  | { readonly type: 'stats' }
  | { readonly type: 'online' }
  | { readonly type: 'class-devices'; readonly deviceClass: string; readonly limit: number }
  | {
      readonly type: 'rollout';
      readonly deviceClass: string;
      readonly deviceIds: readonly string[];
      /** Hidden units of the classifier: 16·h + h + 4·h + 4 floats, so 12,480 make ~1 MB. */
      readonly hidden: number;
    }
  | { readonly type: 'rollout-status'; readonly id: string }
  | { readonly type: 'chunks' }
  | { readonly type: 'health' }
  | { readonly type: 'stop' };

const flags = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
// EF_BENCH_SLOTS=N: downloads served at once (the deployer's default otherwise), to compare settings.
const slots = process.env['EF_BENCH_SLOTS'];
const server = createServer(loadServerConfig({ flags }), {
  logger: pino({ level: process.env['EF_BENCH_SERVER_LOG'] ?? process.env['EF_BENCH_LOG'] ?? 'silent' }),
  ...(slots === undefined ? {} : { deploy: { slots: { max: Number(slots) } } }),
});
const address = await server.start();
/**
 * EF_BENCH_STALL_PCT=P (diagnosis only): this process busy-waits P ms of every 100, a server on a
 * machine too small for its fleet, so falling behind can be studied with a few thousand devices.
 */
const stallPct = Number(process.env['EF_BENCH_STALL_PCT'] ?? 0);
if (stallPct > 0)
  setInterval(() => {
    const until = performance.now() + stallPct;
    while (performance.now() < until);
  }, 100).unref();
// How late this process's event loop runs (reset at each `health` answer): a server falling behind shows it first.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

/** Event-loop delay since the last call, memory, and the messages received but not yet stored. */
function health() {
  const ms = (ns: number) => Math.round(ns / 1e6);
  const loop = { p50Ms: ms(loopDelay.percentile(50)), p99Ms: ms(loopDelay.percentile(99)), maxMs: ms(loopDelay.max) };
  loopDelay.reset();
  const traffic = server.mqttTraffic().received;
  return {
    loop,
    rssMB: Math.round(process.memoryUsage.rss() / 2 ** 20),
    backlog: server.backlog(),
    received: Object.values(traffic).reduce((n, c) => n + c, 0),
  };
}

/**
 * The ids taken in turn from each farm (ids are `f<farm>-<n>`): a rollout's downloads spread over
 * the farm processes as over a fleet's devices, instead of the first ids by name, which all sit in
 * one farm and made that one process (at nice 10) the whole rollout's bottleneck.
 */
function acrossFarms(ids: readonly string[]): string[] {
  const byFarm = new Map<string, string[]>();
  for (const id of ids) {
    const farm = id.slice(0, id.indexOf('-'));
    byFarm.set(farm, [...(byFarm.get(farm) ?? []), id]);
  }
  const lists = [...byFarm.values()];
  const out: string[] = [];
  for (let i = 0; out.length < ids.length; i += 1)
    for (const l of lists) {
      const id = l[i];
      if (id !== undefined) out.push(id);
    }
  return out;
}

async function answer(request: ServerRequest): Promise<unknown> {
  switch (request.type) {
    case 'stats':
      return { stats: server.telemetry().stats(), delays: server.telemetry().storeDelays() };
    case 'online':
      return { online: (await server.repos().devices.list()).filter((d) => d.state === 'online').length };
    case 'class-devices': {
      const online = (await server.repos().devices.list({ deviceClass: request.deviceClass })).filter(
        (d) => d.state === 'online',
      );
      return { ids: acrossFarms(online.map((d) => d.id)).slice(0, request.limit) };
    }
    case 'rollout': {
      const bytes = buildClassifier(41, request.hidden);
      const started = await server.deploy().rollouts.start({
        deviceClass: request.deviceClass,
        deviceIds: request.deviceIds,
        artifact: { bytes },
        variantId: 'bench-scale-1mb',
        golden: goldenFor(41, 8, { hidden: request.hidden }),
        // Waves of 10, 90, 450, then the rest: the canary first, as an operator would.
        policy: { canary: { count: 10 }, baseCount: 90, growthFactor: 5, deviceTimeoutMs: 600_000 },
      });
      return { id: started.rollout.id, bytes: bytes.byteLength };
    }
    case 'rollout-status': {
      const rollout = await server.repos().rollouts.get(request.id);
      const byState: Record<string, number> = {};
      for (const d of await server.repos().rollouts.devicesOf(request.id))
        byState[d.state] = (byState[d.state] ?? 0) + 1;
      return { state: rollout?.state ?? 'missing', byState };
    }
    case 'chunks':
      return server.deploy().chunks.stats();
    case 'health':
      return health();
    case 'stop':
      await server.stop();
      setImmediate(() => process.exit(0));
      return { stopped: true };
  }
}

// The bench gone (Ctrl-C, a crash) closes the IPC channel: stop too, instead of serving on unseen.
process.once('disconnect', () => {
  const kill = setTimeout(() => process.exit(1), 20_000);
  void server.stop().finally(() => {
    clearTimeout(kill);
    process.exit(0);
  });
});

process.on('message', (m: { id: number; request: ServerRequest }) => {
  answer(m.request).then(
    (result) => process.send?.({ id: m.id, result }),
    (err: unknown) => process.send?.({ id: m.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.send?.({ id: 0, result: { brokerUrl: address.brokerUrl, pid: process.pid } });

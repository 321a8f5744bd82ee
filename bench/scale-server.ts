/**
 * One server process of `npm run bench:scale` (forked by bench/scale.ts, never run by hand):
 * the real `createServer` with the flags it is given, answering the bench over IPC with its
 * telemetry counters and store-delay histogram, the fleet's online count, and (when asked)
 * starting a rollout and reporting its progress. Each replica is its own process, so its CPU
 * and RSS are measured apart from the farms and the broker.
 */
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
  | { readonly type: 'stop' };

const flags = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const server = createServer(loadServerConfig({ flags }), {
  logger: pino({ level: process.env['EF_BENCH_LOG'] ?? 'silent' }),
});
const address = await server.start();

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
      return { ids: online.slice(0, request.limit).map((d) => d.id) };
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
      // Chunks are served by the replica that owns the rollouts; the bench logs that one's figures.
      const ownsRollouts = server.ownership().held().includes('rollouts');
      return { state: rollout?.state ?? 'missing', byState, ownsRollouts, chunks: server.deploy().chunks.stats() };
    }
    case 'stop':
      await server.stop();
      setImmediate(() => process.exit(0));
      return { stopped: true };
  }
}

process.on('message', (m: { id: number; request: ServerRequest }) => {
  answer(m.request).then(
    (result) => process.send?.({ id: m.id, result }),
    (err: unknown) => process.send?.({ id: m.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.send?.({ id: 0, result: { brokerUrl: address.brokerUrl, pid: process.pid } });

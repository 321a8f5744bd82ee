/**
 * The presence contract, run once per broker mode (embedded aedes, and an external broker
 * that the test starts itself): the same assertions must hold for both [STYLE 12].
 */
import type { Test } from 'tap';
import { pino } from 'pino';
import { createAgentLink, type AgentLink } from '@edgefleet/agent/link/agent-link';
import type { Capabilities } from '@edgefleet/shared';
import { createServer, loadServerConfig, startEmbeddedBroker, type EdgefleetServer } from '@edgefleet/server';
import { startNetworkFaultRelay } from '@edgefleet/simulators';

export const silent = pino({ level: 'silent' });

/** Polls `predicate` every 20 ms; resolves with the elapsed ms, rejects after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - start;
}

export function capabilitiesFor(i: number): Capabilities {
  return {
    cpuModel: `Test CPU ${i}`,
    cores: 2 + i,
    memoryBytes: (1 + i) * 1024 ** 3,
    executionProviders: ['cpu'],
    precisions: i === 0 ? ['fp32'] : ['fp32', 'int8'],
    powerSource: i === 2 ? 'modelled' : 'none',
  };
}

export interface AgentSpec {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly capabilities: Capabilities;
}

/** A real agent link (the code devices run) with a short keepalive so loss shows fast. */
export function startAgent(brokerUrl: string, spec: AgentSpec, keepaliveS: number): AgentLink {
  const link = createAgentLink({
    ...spec,
    brokerUrl,
    logger: silent,
    keepaliveS,
    heartbeatMs: 300,
    agentVersion: '0.1.0-test',
    runtime: { node: process.version, onnxruntime: '1.30.0' },
  });
  void link.start().catch(() => undefined);
  return link;
}

export function makeServer(dataDir: string, brokerUrl: string | null): EdgefleetServer {
  const config = loadServerConfig({
    flags: {
      dataDir,
      brokerUrl: brokerUrl ?? undefined,
      port: 0,
      host: '127.0.0.1',
      'log.level': 'silent',
      // The presence contract is about presence, not identity: agents here carry no credentials
      // (auth is on by default; auth-*.test.ts and broker-acl*.test.ts cover it). No admin API either.
      'auth.enabled': false,
      apiPort: -1,
      // Long enough that the last will, not the sweep, is what marks a killed agent offline.
      'presence.offlineAfterMs': 60_000,
    },
  });
  return createServer(config, { logger: silent });
}

const KEEPALIVE_S = 1;
const AGENTS: AgentSpec[] = [0, 1, 2].map((i) => ({
  deviceId: `dev-${i}`,
  deviceClass: ['rpi4', 'jetson', 'gateway'][i] as string,
  capabilities: capabilitiesFor(i),
}));

export async function presenceSuite(t: Test, mode: 'embedded' | 'external'): Promise<void> {
  const dataDir = t.testdir();
  const external = mode === 'external' ? await startEmbeddedBroker({ port: 0 }) : null;
  t.teardown(() => external?.close());
  let server = makeServer(dataDir, external?.url ?? null);
  t.teardown(() => server.stop());
  const address = await server.start();
  t.equal(address.brokerMode, mode, `server runs in ${mode} mode`);
  // dev-0 reaches the broker through a relay whose network can be made to hang.
  const relay = await startNetworkFaultRelay(address.brokerUrl);
  t.teardown(() => relay.close());
  const agents = AGENTS.map((spec, i) => startAgent(i === 0 ? relay.url : address.brokerUrl, spec, KEEPALIVE_S));
  t.teardown(() => Promise.all(agents.map((a) => a.stop({ clean: false }))));
  const online = async () => (await server.repos().devices.list()).filter((d) => d.state === 'online');

  await t.test('three agents connect and the registry lists them with their capabilities', async (t) => {
    await waitFor(async () => (await online()).length === 3, 10_000, 'three devices online');
    const listed = await server.repos().devices.list();
    t.same(
      listed.map((d) => d.id).sort(),
      AGENTS.map((a) => a.deviceId),
    );
    for (const spec of AGENTS) {
      const device = await server.repos().devices.get(spec.deviceId);
      t.equal(device?.deviceClass, spec.deviceClass);
      t.same(device?.capabilities, spec.capabilities, `${spec.deviceId} capabilities stored as sent`);
      t.equal(device?.agentVersion, '0.1.0-test');
    }
    const before = (await server.repos().devices.get('dev-1'))?.lastSeen ?? 0;
    await waitFor(
      async () => ((await server.repos().devices.get('dev-1'))?.lastSeen ?? 0) > before,
      5_000,
      'a heartbeat to move last-seen',
    );
  });

  await t.test(
    `an agent killed without a clean disconnect is offline within 1.5 × keepalive (${KEEPALIVE_S} s)`,
    async (t) => {
      // A hung network keeps the socket open but silent (a pulled cable): only the keepalive can tell.
      relay.hang();
      // The bound is the protocol's (aedes waits keepalive × 1.5), plus 500 ms for delivery and the write.
      const bound = KEEPALIVE_S * 1500 + 500;
      const elapsed = await waitFor(
        async () => (await server.repos().devices.get('dev-0'))?.state === 'offline',
        bound,
        'dev-0 offline',
      );
      t.ok(elapsed <= bound, `offline after ${elapsed} ms`);
      t.equal((await server.repos().devices.get('dev-0'))?.stateReason, 'lost', 'marked by the last will');
      t.equal((await online()).length, 2, 'the others stay online');
    },
  );

  await t.test('a clean stop is recorded as offline/clean', async (t) => {
    await (agents[1] as AgentLink).stop();
    await waitFor(async () => (await server.repos().devices.get('dev-1'))?.state === 'offline', 5_000, 'dev-1 offline');
    t.equal((await server.repos().devices.get('dev-1'))?.stateReason, 'clean');
  });

  await t.test('the server restarted on the same data directory still lists every device', async (t) => {
    await server.stop();
    server = makeServer(dataDir, external?.url ?? null);
    const again = await server.start();
    t.equal(again.brokerMode, mode);
    const ids = (await server.repos().devices.list()).map((d) => d.id).sort();
    t.same(
      ids,
      AGENTS.map((a) => a.deviceId),
      'every device survives the restart',
    );
    t.same((await server.repos().devices.get('dev-2'))?.capabilities, AGENTS[2]?.capabilities);
    if (mode === 'external') {
      // The broker kept running, so dev-2's retained status and heartbeats reach the new server.
      await waitFor(
        async () => (await server.repos().devices.get('dev-2'))?.state === 'online',
        5_000,
        'dev-2 still online',
      );
    }
    t.equal(server.rejections.total(), 0, 'no message was rejected');
  });
}

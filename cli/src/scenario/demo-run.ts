/**
 * Everything `edgefleet demo` runs, as a function: the server (moving to free ports when its
 * own are taken), a credential per simulated device, the farm, per-class progress, the
 * closed-loop story once every device is online, and a read-only console link. The command
 * adds flags and Ctrl-C; the console's browser test runs the very same demo in-process.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asError, isEdgefleetError } from '@edgefleet/shared';
import {
  createServer,
  summarizePresence,
  type EdgefleetServer,
  type Logger,
  type ServerAddress,
  type ServerConfig,
} from '@edgefleet/server';
import { parseControlPolicy } from '@edgefleet/server/control/index';
import { type Farm, farmDeviceIds, startFarm } from '@edgefleet/simulators';
import { startDemoLoop } from './demo-loop.js';

/** The bundled model the loop demo plans (relative to this file in src/ and dist/ alike). */
const DEMO_MODEL = new URL('../../../models/zoo/mnist-cnn.onnx', import.meta.url);
/** Name of the read token the demo creates for its console link (revoked when the demo stops). */
export const DEMO_CONSOLE_TOKEN_NAME = 'demo-console';

export interface DemoRunOptions {
  readonly config: ServerConfig;
  readonly devices: number;
  readonly classes: readonly string[];
  readonly seed: number;
  /** Run the closed-loop story (plan, rollouts, throttling, the loop's answer). */
  readonly loop: boolean;
  /** From the first rollouts to the thermal throttling of one class, ms. */
  readonly throttleAfterMs: number;
  readonly logger: Logger;
  /** Logger for the simulated devices (quieter than the server's by default). */
  readonly farmLogger: Logger;
  readonly print: (line: string) => void;
}

export interface DemoRun {
  readonly server: EdgefleetServer;
  readonly address: ServerAddress;
  readonly farm: Farm;
  /** The console URL with a read token in its fragment (`…/ui/#token=…`), or null without a built console. */
  readonly consoleLink: string | null;
  stop(): Promise<void>;
}

/** The demo's loop timings: a breach must hold 4 s (not 30) before the loop acts, so the story fits in a minute. */
export function demoConfig(loaded: ServerConfig): ServerConfig {
  return {
    ...loaded,
    control: {
      ...loaded.control,
      policy: parseControlPolicy({ ...loaded.control.policy, hysteresisMs: 4000, cooldownMs: 120_000 }),
    },
  };
}

/** Which of the server's ports a start failure says is taken, if any. */
function takenPort(err: unknown): 'port' | 'apiPort' | null {
  if (isEdgefleetError(err, 'EF_ERR_BROKER_LISTEN') && err.details['errno'] === 'EADDRINUSE') return 'port';
  if (isEdgefleetError(err, 'EF_ERR_API_LISTEN') && err.details['errno'] === 'EADDRINUSE') return 'apiPort';
  return null;
}

/** Starts the server; if its broker or API port is taken, says so and retries on a free port (twice at most). */
async function startWithFallback(
  config: ServerConfig,
  logger: Logger,
  print: (line: string) => void,
): Promise<{ server: EdgefleetServer; address: ServerAddress }> {
  let current = config;
  const notes: Array<{ which: 'port' | 'apiPort'; taken: number }> = [];
  for (let attempt = 0; ; attempt += 1) {
    const server = createServer(current, { logger });
    try {
      const address = await server.start();
      for (const { which, taken } of notes) {
        const used = which === 'port' ? address.port : address.apiPort;
        print(
          which === 'port'
            ? `port ${taken} is taken (a local MQTT broker such as mosquitto?); the demo broker uses free port ` +
                `${used} instead`
            : `admin API port ${taken} is taken; the demo API uses free port ${used} instead`,
        );
      }
      return { server, address };
    } catch (err: unknown) {
      await server.stop();
      const which = takenPort(err);
      if (!which || current[which] === 0 || attempt >= 2) throw err;
      notes.push({ which, taken: current[which] });
      current = { ...current, [which]: 0 };
    }
  }
}

/** Broker URL with a device's credentials as user info (the farm's devices connect as themselves). */
function withCredentials(brokerUrl: string, username: string, password: string): string {
  const url = new URL(brokerUrl);
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/**
 * A read token for the console link. A demo killed without Ctrl-C leaves its token behind in
 * the data directory; those are revoked first, so at most one demo token is ever live.
 */
async function consoleLink(
  server: EdgefleetServer,
  address: ServerAddress,
): Promise<{ url: string; tokenId: string | null } | null> {
  if (!address.consoleUrl) return null;
  if (!server.config.auth.enabled) return { url: address.consoleUrl, tokenId: null };
  // The demo is the server process: it uses its own auth service, as the admin API does.
  const auth = server.auth();
  for (const t of await auth.listAdminTokens())
    if (t.name === DEMO_CONSOLE_TOKEN_NAME && t.revokedAt === null) await auth.revokeAdminToken(t.id);
  const token = await auth.createAdminToken(DEMO_CONSOLE_TOKEN_NAME, 'read');
  return { url: `${address.consoleUrl}#token=${token.token}`, tokenId: token.id };
}

function startProgress(server: EdgefleetServer, farm: Farm, classes: readonly string[], print: (l: string) => void) {
  const ids = new Set(farm.devices.map((d) => d.deviceId));
  let last = '';
  let lastPrintedAt = 0;
  return setInterval(async () => {
    const mine = (await server.repos().devices.list()).filter((d) => ids.has(d.id));
    const summary = summarizePresence(mine, classes);
    const online = summary.reduce((n, c) => n + c.online, 0);
    const line =
      `online: ${summary.map((c) => `${c.deviceClass} ${c.online}/${c.total}`).join('  ')}  ` +
      `(${online}/${ids.size})`;
    // Print on change, and every 30 s so a quiet terminal still shows the demo is alive.
    if (line !== last || Date.now() - lastPrintedAt > 30_000) {
      print(line);
      last = line;
      lastPrintedAt = Date.now();
    }
  }, 500);
}

export async function startDemoRun(o: DemoRunOptions): Promise<DemoRun> {
  const { config, print } = o;
  const { server, address } = await startWithFallback(config, o.logger, print);
  print(`edgefleet server up: embedded MQTT broker on port ${address.port}, store in ${config.dataDir}`);
  if (address.apiUrl)
    print(
      `admin API on ${address.apiUrl} (OpenAPI: ${address.apiUrl}/openapi.json; token: npx edgefleet token create ` +
        `--scope read --data-dir ${config.dataDir})`,
    );
  const link = await consoleLink(server, address);
  if (link)
    print(
      `web console: ${link.url}\n  (read-only; to start or abort rollouts sign in with: npx edgefleet token create ` +
        `--scope admin --data-dir ${config.dataDir})`,
    );
  // Auth is on: provision each simulated device's credential so it connects as itself, as an enrolled device would.
  const secrets = new Map(
    config.auth.enabled
      ? await Promise.all(
          farmDeviceIds(o.devices).map(
            async (id) => [id, (await server.auth().provisionDevice(id, null)).secret] as const,
          ),
        )
      : [],
  );
  const brokerUrlFor = (deviceId: string) => {
    const secret = secrets.get(deviceId);
    return secret ? withCredentials(address.brokerUrl, deviceId, secret) : address.brokerUrl;
  };
  let farm: Farm;
  try {
    farm = await startFarm({
      brokerUrl: address.brokerUrl,
      brokerUrlFor,
      devices: o.devices,
      classes: o.classes,
      seed: o.seed,
      logger: o.farmLogger,
      // 2 s windows and the agents' 3-of-5 watcher: a breach shows within seconds.
      ...(o.loop
        ? { telemetry: { dataDir: join(config.dataDir, 'farm'), windowMs: 2000, watcher: { k: 3, n: 5 } } }
        : {}),
    });
  } catch (err: unknown) {
    await server.stop();
    throw err;
  }
  print(`farm: ${o.devices} simulated devices over ${o.classes.join(', ')} connecting (Ctrl-C to stop)`);
  const progress = startProgress(server, farm, o.classes, print);
  // Set once every device is online; stop() waits for a story still planning, so nothing outlives the server.
  let loopDemo: Promise<{ stop(): Promise<void> } | null> | null = null;
  const startLoop = setInterval(() => {
    const online = Object.values(farm.onlineCount()).reduce((a, b) => a + b, 0);
    if (!o.loop || loopDemo !== null || online < o.devices) return;
    loopDemo = startDemoLoop({
      server,
      farm,
      classes: o.classes,
      modelPath: fileURLToPath(DEMO_MODEL),
      dataDir: config.dataDir,
      throttleAfterMs: o.throttleAfterMs,
      print,
    }).catch((err: unknown) => {
      print(`[demo] the loop demo stopped: ${asError(err).message}`);
      return null;
    });
  }, 500);
  return {
    server,
    address,
    farm,
    consoleLink: link?.url ?? null,
    async stop() {
      clearInterval(startLoop);
      await (await (loopDemo as Promise<{ stop(): Promise<void> } | null> | null))?.stop();
      clearInterval(progress);
      await farm.stop();
      if (link?.tokenId) await server.auth().revokeAdminToken(link.tokenId);
      await server.stop();
    },
  };
}

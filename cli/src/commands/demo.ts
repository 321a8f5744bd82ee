import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { isEdgefleetError, asError } from '@edgefleet/shared';
import {
  createServer,
  loadServerConfig,
  summarizePresence,
  type EdgefleetServer,
  type Logger,
  type ServerAddress,
  type ServerConfig,
} from '@edgefleet/server';
import { BUILTIN_PROFILES, type Farm, farmDeviceIds, startFarm } from '@edgefleet/simulators';
import { parseControlPolicy } from '@edgefleet/server/control/index';
import { createCliLogger, waitForShutdownSignal } from '../cli-logger.js';
import { startDemoLoop } from '../scenario/demo-loop.js';

/** The bundled model the loop demo plans (relative to this file in src/ and dist/ alike). */
const DEMO_MODEL = new URL('../../../models/zoo/mnist-cnn.onnx', import.meta.url);

interface DemoFlags {
  dataDir?: string;
  port?: string;
  devices: number;
  classes?: string;
  seed: number;
  logLevel?: string;
  apiPort?: string;
  loop: boolean;
  throttleAfter: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
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
): Promise<{ server: EdgefleetServer; address: ServerAddress }> {
  let current = config;
  const notes: Array<{ which: 'port' | 'apiPort'; taken: number }> = [];
  for (let attempt = 0; ; attempt += 1) {
    const server = createServer(current, { logger });
    try {
      const address = await server.start();
      for (const { which, taken } of notes) {
        const used = which === 'port' ? address.port : address.apiPort;
        process.stdout.write(
          which === 'port'
            ? `port ${taken} is taken (a local MQTT broker such as mosquitto?); the demo broker uses free port ${used} instead\n`
            : `admin API port ${taken} is taken; the demo API uses free port ${used} instead\n`,
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

/** `edgefleet demo` (= `npm start`): server with its embedded broker plus a simulated farm. */
export function demoCommand(): Command {
  const classes = [...BUILTIN_PROFILES.keys()].slice(0, 3);
  return new Command('demo')
    .description(
      'Start the server with its embedded broker and a simulated farm, and show devices coming online per class until Ctrl-C.',
    )
    .option('--data-dir <dir>', 'data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--port <n>', 'embedded broker port (default 1883; a free port is used if it is taken)')
    .option('--api-port <n>', 'admin API port (default 8080; a free port is used if it is taken)')
    .option('--devices <n>', 'number of simulated devices', positiveInt, 20)
    .option(
      '--classes <list>',
      `comma-separated device classes (default ${classes.join(',')}; known: ${[...BUILTIN_PROFILES.keys()].join(', ')})`,
    )
    .option('--seed <n>', 'seed for class assignment and device jitter', positiveInt, 1)
    .option('--no-loop', 'only bring the farm online; skip the closed-loop demo (plan, rollout, throttling, reaction)')
    .option(
      '--throttle-after <s>',
      'seconds from the first rollouts to the thermal throttling of one class',
      positiveInt,
      25,
    )
    .option('--log-level <level>', 'log level of server and devices (default warn, so progress stays readable)')
    .action(async (flags: DemoFlags) => {
      const loaded = loadServerConfig({
        env: process.env,
        flags: {
          dataDir: flags.dataDir,
          port: flags.port,
          apiPort: flags.apiPort,
          'log.level': flags.logLevel ?? 'warn',
          'control.tickSeconds': 5,
        },
      });
      // Demo timings: a breach must hold 4 s (not 30) before the loop acts, so the story fits in a minute.
      const config = {
        ...loaded,
        control: {
          ...loaded.control,
          policy: parseControlPolicy({ ...loaded.control.policy, hysteresisMs: 4000, cooldownMs: 120_000 }),
        },
      };
      const logger = createCliLogger(config.log.level, process.stderr);
      // The narration prints every breach already; the devices' own warnings would repeat each as a JSON line.
      const farmLogger = flags.logLevel === undefined ? createCliLogger('error', process.stderr) : logger;
      const farmClasses = flags.classes
        ? flags.classes
            .split(',')
            .map((c) => c.trim())
            .filter((c) => c !== '')
        : classes;
      const stopped = waitForShutdownSignal();
      const { server, address } = await startWithFallback(config, logger);
      process.stdout.write(
        `edgefleet server up: embedded MQTT broker on port ${address.port}, store in ${config.dataDir}\n`,
      );
      if (address.apiUrl)
        process.stdout.write(
          `admin API on ${address.apiUrl} (OpenAPI: ${address.apiUrl}/openapi.json; token: npx edgefleet token create --scope read --data-dir ${config.dataDir})\n`,
        );
      // Auth is on: provision each simulated device's credential so it connects as itself, as an enrolled device would.
      const secrets = new Map(
        config.auth.enabled
          ? await Promise.all(
              farmDeviceIds(flags.devices).map(
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
          devices: flags.devices,
          classes: farmClasses,
          seed: flags.seed,
          logger: farmLogger,
          // 2 s windows and the agents' 3-of-5 watcher: a breach shows within seconds.
          ...(flags.loop
            ? { telemetry: { dataDir: join(config.dataDir, 'farm'), windowMs: 2000, watcher: { k: 3, n: 5 } } }
            : {}),
        });
      } catch (err: unknown) {
        await server.stop();
        throw err;
      }
      process.stdout.write(
        `farm: ${flags.devices} simulated devices over ${farmClasses.join(', ')} connecting (Ctrl-C to stop)\n`,
      );
      const ids = new Set(farm.devices.map((d) => d.deviceId));
      let last = '';
      let lastPrintedAt = 0;
      const progress = setInterval(async () => {
        const mine = (await server.repos().devices.list()).filter((d) => ids.has(d.id));
        const summary = summarizePresence(mine, farmClasses);
        const online = summary.reduce((n, c) => n + c.online, 0);
        const line = `online: ${summary.map((c) => `${c.deviceClass} ${c.online}/${c.total}`).join('  ')}  (${online}/${ids.size})`;
        // Print on change, and every 30 s so a quiet terminal still shows the demo is alive.
        if (line !== last || Date.now() - lastPrintedAt > 30_000) {
          process.stdout.write(`${line}\n`);
          last = line;
          lastPrintedAt = Date.now();
        }
      }, 500);
      let loopDemo: { stop(): Promise<void> } | null = null;
      let loopStarted = false;
      const print = (line: string) => {
        process.stdout.write(`${line}\n`);
      };
      const startLoop = setInterval(() => {
        const online = Object.values(farm.onlineCount()).reduce((a, b) => a + b, 0);
        if (!flags.loop || loopStarted || online < ids.size) return;
        loopStarted = true;
        startDemoLoop({
          server,
          farm,
          classes: farmClasses,
          modelPath: fileURLToPath(DEMO_MODEL),
          dataDir: config.dataDir,
          throttleAfterMs: flags.throttleAfter * 1000,
          print,
        })
          .then((d) => {
            loopDemo = d;
          })
          .catch((err: unknown) => print(`[demo] the loop demo stopped: ${asError(err).message}`));
      }, 500);
      const signal = await stopped;
      clearInterval(startLoop);
      await (loopDemo as { stop(): Promise<void> } | null)?.stop();
      clearInterval(progress);
      process.stdout.write(`${signal}: stopping the farm and the server\n`);
      await farm.stop();
      await server.stop();
    });
}

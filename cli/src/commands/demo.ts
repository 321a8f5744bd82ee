import { Command, InvalidArgumentError } from 'commander';
import { isEdgefleetError } from '@edgefleet/shared';
import { createServer, loadServerConfig, summarizePresence, type EdgefleetServer, type Logger, type ServerAddress, type ServerConfig } from '@edgefleet/server';
import { BUILTIN_PROFILES, startFarm } from '@edgefleet/simulators';
import { createCliLogger, waitForShutdownSignal } from '../cli-logger.js';

interface DemoFlags {
  dataDir?: string;
  port?: string;
  devices: number;
  classes?: string;
  seed: number;
  logLevel?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

/** Starts the server; if its port is taken, says so and retries on a free port. */
async function startWithFallback(config: ServerConfig, logger: Logger): Promise<{ server: EdgefleetServer; address: ServerAddress }> {
  const server = createServer(config, { logger });
  try {
    return { server, address: await server.start() };
  } catch (err: unknown) {
    await server.stop();
    const inUse = isEdgefleetError(err, 'EF_ERR_BROKER_LISTEN') && err.details['errno'] === 'EADDRINUSE';
    if (!inUse || config.port === 0) throw err;
    const fallback = createServer({ ...config, port: 0 }, { logger });
    const address = await fallback.start();
    process.stdout.write(`port ${config.port} is taken (a local MQTT broker such as mosquitto?); the demo broker uses free port ${address.port} instead\n`);
    return { server: fallback, address };
  }
}

/** `edgefleet demo` (= `npm start`): server with its embedded broker plus a simulated farm. */
export function demoCommand(): Command {
  const classes = [...BUILTIN_PROFILES.keys()].slice(0, 3);
  return new Command('demo')
    .description('Start the server with its embedded broker and a simulated farm, and show devices coming online per class until Ctrl-C.')
    .option('--data-dir <dir>', 'data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--port <n>', 'embedded broker port (default 1883; a free port is used if it is taken)')
    .option('--devices <n>', 'number of simulated devices', positiveInt, 20)
    .option('--classes <list>', `comma-separated device classes (default ${classes.join(',')}; known: ${[...BUILTIN_PROFILES.keys()].join(', ')})`)
    .option('--seed <n>', 'seed for class assignment and device jitter', positiveInt, 1)
    .option('--log-level <level>', 'log level of server and devices (default warn, so progress stays readable)')
    .action(async (flags: DemoFlags) => {
      const config = loadServerConfig({
        env: process.env,
        flags: { dataDir: flags.dataDir, port: flags.port, 'log.level': flags.logLevel ?? 'warn' },
      });
      const logger = createCliLogger(config.log.level, process.stderr);
      const farmClasses = flags.classes ? flags.classes.split(',').map((c) => c.trim()).filter((c) => c !== '') : classes;
      const stopped = waitForShutdownSignal();
      const { server, address } = await startWithFallback(config, logger);
      process.stdout.write(`edgefleet server up: embedded MQTT broker on port ${address.port}, store in ${config.dataDir}\n`);
      let farm;
      try {
        farm = await startFarm({ brokerUrl: address.brokerUrl, devices: flags.devices, classes: farmClasses, seed: flags.seed, logger });
      } catch (err: unknown) {
        await server.stop();
        throw err;
      }
      process.stdout.write(`farm: ${flags.devices} simulated devices over ${farmClasses.join(', ')} connecting (Ctrl-C to stop)\n`);
      const ids = new Set(farm.devices.map((d) => d.deviceId));
      let last = '';
      let lastPrintedAt = 0;
      const progress = setInterval(() => {
        const mine = server.store().devices.list().filter((d) => ids.has(d.id));
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
      const signal = await stopped;
      clearInterval(progress);
      process.stdout.write(`${signal}: stopping the farm and the server\n`);
      await farm.stop();
      await server.stop();
    });
}

import { Command, InvalidArgumentError } from 'commander';
import { loadServerConfig } from '@edgefleet/server';
import { BUILTIN_PROFILES } from '@edgefleet/simulators';
import { createCliLogger, waitForShutdownSignal } from '../cli-logger.js';
import { demoConfig, startDemoRun } from '../scenario/demo-run.js';

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

/** `edgefleet demo` (= `npm start`): server with its embedded broker plus a simulated farm. */
export function demoCommand(): Command {
  const classes = [...BUILTIN_PROFILES.keys()].slice(0, 3);
  return new Command('demo')
    .description(
      'Start the server with its embedded broker and a simulated farm, and show devices coming online per class ' +
        'until Ctrl-C.',
    )
    .option('--data-dir <dir>', 'data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--port <n>', 'embedded broker port (default 1883; a free port is used if it is taken)')
    .option('--api-port <n>', 'admin API port (default 8080; a free port is used if it is taken)')
    .option('--devices <n>', 'number of simulated devices', positiveInt, 20)
    .option(
      '--classes <list>',
      `comma-separated device classes (default ${classes.join(',')}; known: ` +
        `${[...BUILTIN_PROFILES.keys()].join(', ')})`,
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
      const config = demoConfig(
        loadServerConfig({
          env: process.env,
          flags: {
            dataDir: flags.dataDir,
            port: flags.port,
            apiPort: flags.apiPort,
            'log.level': flags.logLevel ?? 'warn',
            'control.tickSeconds': 5,
          },
        }),
      );
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
      const demo = await startDemoRun({
        config,
        devices: flags.devices,
        classes: farmClasses,
        seed: flags.seed,
        loop: flags.loop,
        throttleAfterMs: flags.throttleAfter * 1000,
        logger,
        farmLogger,
        print: (line) => process.stdout.write(`${line}\n`),
      });
      const signal = await stopped;
      process.stdout.write(`${signal}: stopping the farm and the server\n`);
      await demo.stop();
    });
}

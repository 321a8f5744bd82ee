import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { parseTrustedKey, asError } from '@edgefleet/shared';
import {
  BUILTIN_PROFILES,
  faultSchema,
  formatOnlineSummary,
  parseFarmConfig,
  startFarm,
  type Fault,
} from '@edgefleet/simulators';
import { createCliLogger, waitForShutdownSignal } from '../cli-logger.js';

interface FarmFlags {
  devices?: string;
  classes?: string;
  broker?: string;
  seed?: string;
  idPrefix?: string;
  keepalive?: string;
  heartbeatMs?: string;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  json?: boolean;
  intervalMs?: string;
  inference?: 'none' | 'sampled' | 'real';
  dataDir?: string;
  trustedKeys?: string;
  workloadRate?: string;
  faults?: string;
}

/**
 * Reads a fault schedule: a JSON list of faults whose `startAt` counts ms from the farm's start
 * (the file cannot know when the farm will run), e.g.
 * `[{"kind":"thermal-throttle","target":{"deviceClass":"rpi4"},"startAt":30000,"slowdown":2}]`.
 */
export function readFaultFile(path: string, farmStart: number): Fault[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err: unknown) {
    throw new InvalidArgumentError(`--faults ${path}: not a readable JSON file (${asError(err).message})`);
  }
  const parsed = z.array(faultSchema).safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`--faults ${path}: ${z.prettifyError(parsed.error)}`);
  return parsed.data.map((f) => ({ ...f, startAt: farmStart + f.startAt }));
}

/** `edgefleet farm`: N virtual devices in this process, each a real MQTT connection, until Ctrl-C. */
export function farmCommand(): Command {
  return new Command('farm')
    .description(
      `Start N simulated devices in one process, each its own MQTT connection through the real agent link, with a hardware profile per class (${[...BUILTIN_PROFILES.keys()].join(', ')}). Prints devices online per class; Ctrl-C disconnects them cleanly.`,
    )
    .option('--devices <n>', 'number of devices (default 10)')
    .option('--classes <a,b,c>', 'device classes, comma-separated (default: all built-in profiles)')
    .option('--broker <url>', 'MQTT broker of the server (default mqtt://127.0.0.1:1883)')
    .option('--seed <n>', 'seed for class assignment and jitter; same seed, same farm (default 1)')
    .option('--id-prefix <p>', 'device ids are <p>-<n> (default sim)')
    .option('--keepalive <s>', 'MQTT keepalive per device in seconds (default 10)')
    .option('--heartbeat-ms <ms>', 'heartbeat interval per device (default 5000)')
    .addOption(
      new Option(
        '--inference <mode>',
        'none: link only; sampled: modelled telemetry; real: every device a full agent with its own onnxruntime worker (tens of devices)',
      )
        .choices(['none', 'sampled', 'real'])
        .default('none'),
    )
    .option(
      '--data-dir <dir>',
      'farm data dir; each device keeps its state in <dir>/<deviceId> (needed by --inference sampled|real)',
    )
    .option('--trusted-keys <k1,k2>', 'server public keys (base64) manifests must be signed with (--inference real)')
    .option('--workload-rate <n>', 'synthetic inferences per second per device (--inference real, default 2)')
    .option(
      '--faults <file>',
      'JSON list of scheduled faults (thermal-throttle, int8-wrong, disconnect, slow-link, crash, clock-skew), each with a target {deviceClass | deviceIds} and startAt in ms after the farm starts',
    )
    .option('--interval-ms <ms>', 'how often to check and print progress', '1000')
    .addOption(
      new Option('--log-level <level>', 'device log level, on stderr')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('warn'),
    )
    .option('--json', 'print progress as JSON lines ({at, online, totals}) instead of text')
    .action(async (flags: FarmFlags) => {
      const config = parseFarmConfig({
        devices: flags.devices,
        classes: flags.classes,
        brokerUrl: flags.broker,
        seed: flags.seed,
        idPrefix: flags.idPrefix,
        keepaliveS: flags.keepalive,
        heartbeatMs: flags.heartbeatMs,
      });
      const mode = flags.inference ?? 'none';
      if (mode !== 'none' && !flags.dataDir)
        throw new InvalidArgumentError(
          `--inference ${mode} needs --data-dir <dir> (each device keeps its state there)`,
        );
      const trustedKeys = (flags.trustedKeys ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '')
        .map(parseTrustedKey);
      const dataDir = flags.dataDir ?? '';
      const inference =
        mode === 'real'
          ? {
              inference: mode,
              real: {
                dataDir,
                trustedKeys,
                ...(flags.workloadRate === undefined
                  ? {}
                  : { workloadRatePerS: Math.max(0, Number(flags.workloadRate) || 0) }),
              },
            }
          : mode === 'sampled'
            ? { inference: mode, telemetry: { dataDir } }
            : { inference: mode };
      const faults = flags.faults === undefined ? [] : readFaultFile(flags.faults, Date.now());
      const intervalMs = Math.max(100, Number(flags.intervalMs) || 1000);
      const logger = createCliLogger(flags.logLevel ?? 'warn', process.stderr);
      const stopped = waitForShutdownSignal();
      const farm = await startFarm({ ...config, logger, ...inference, ...(faults.length > 0 ? { faults } : {}) });
      if (faults.length > 0 && !flags.json)
        process.stdout.write(
          `${faults.length} scheduled fault(s): ${faults.map((f) => `${f.kind} at +${Math.round((f.startAt - Date.now()) / 1000)} s`).join(', ')}\n`,
        );
      const totals = farm.classTotals();
      let last = '';
      const report = () => {
        const online = farm.onlineCount();
        const key = JSON.stringify(online);
        if (key === last) return;
        last = key;
        const line = flags.json
          ? JSON.stringify({ at: new Date().toISOString(), online, totals })
          : `${formatOnlineSummary(online, totals)}`;
        process.stdout.write(`${line}\n`);
      };
      if (mode === 'real' && trustedKeys.length === 0)
        logger.warn('no --trusted-keys: every deployment manifest will be refused');
      if (!flags.json)
        process.stdout.write(
          `farm of ${config.devices} devices (seed ${config.seed}, inference ${mode}) connecting to ${config.brokerUrl}; Ctrl-C to stop\n`,
        );
      const timer = setInterval(report, intervalMs);
      report();
      const signal = await stopped;
      clearInterval(timer);
      logger.info({ signal }, 'stopping farm');
      await farm.stop();
      report();
      if (!flags.json) process.stdout.write('farm stopped\n');
    });
}

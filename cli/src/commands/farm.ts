import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { asError, ENROLL_TOKEN_PATTERN, parseTrustedKey } from '@edgefleet/shared';
import {
  BUILTIN_PROFILES,
  enrollFarmDevices,
  farmDeviceIds,
  faultSchema,
  formatOnlineSummary,
  parseFarmConfig,
  startFarm,
  type Fault,
  type FarmIdentity,
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
  enrollToken?: string;
  enrollTokenFile?: string;
  enrollConcurrency?: string;
}

/** Default data dir of a farm that enrolls (its devices' identities live there). */
export const FARM_ENROLL_DATA_DIR = './.edgefleet-farm';

/**
 * Enrollment tokens from `--enroll-token` (comma-separated), else `--enroll-token-file` (one per
 * line), else `EDGEFLEET_ENROLL_TOKEN`; each checked. Empty when none is given.
 */
export function farmEnrollTokens(
  flags: Pick<FarmFlags, 'enrollToken' | 'enrollTokenFile'>,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  let raw: string;
  if (flags.enrollToken !== undefined) raw = flags.enrollToken;
  else if (flags.enrollTokenFile !== undefined) {
    try {
      raw = readFileSync(flags.enrollTokenFile, 'utf8');
    } catch (err: unknown) {
      throw new InvalidArgumentError(`--enroll-token-file ${flags.enrollTokenFile}: ${asError(err).message}`);
    }
  } else raw = env['EDGEFLEET_ENROLL_TOKEN'] ?? '';
  const tokens = raw
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter((x) => x !== '');
  const bad = tokens.find((x) => !ENROLL_TOKEN_PATTERN.test(x));
  if (bad !== undefined)
    throw new InvalidArgumentError(
      `not an enrollment token (efe_<12 hex>_<43 characters>, as edgefleet enroll-token create prints it): ` +
        `${bad.slice(0, 17)}…`,
    );
  return tokens;
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
      `Start N simulated devices in one process, each its own MQTT connection through the real agent link, with a ` +
        `hardware profile per class (${[...BUILTIN_PROFILES.keys()].join(', ')}). Prints devices online per class; ` +
        `Ctrl-C disconnects them cleanly.`,
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
        'none: link only; sampled: modelled telemetry; real: every device a full agent with its own onnxruntime ' +
          'worker (tens of devices)',
      )
        .choices(['none', 'sampled', 'real'])
        .default('none'),
    )
    .option(
      '--data-dir <dir>',
      'farm data dir; each device keeps its state in <dir>/<deviceId> (needed by --inference sampled|real)',
    )
    .option(
      '--trusted-keys <k1,k2>',
      'server public keys (base64) manifests must be signed with (--inference real; enrolled devices also ' +
        'trust the keys their enrollment named)',
    )
    .option('--workload-rate <n>', 'synthetic inferences per second per device (--inference real, default 2)')
    .option(
      '--faults <file>',
      'JSON list of scheduled faults (thermal-throttle, int8-wrong, disconnect, slow-link, crash, clock-skew; ' +
        'cpu-quota, a real cgroup limit, with --inference real), each with a target {deviceClass | deviceIds} and ' +
        'startAt in ms after the farm starts',
    )
    .option(
      '--enroll-token <t1,t2>',
      'enroll every device with these enrollment tokens (device i uses token i mod n; the classes come from the ' +
        'tokens). Visible in ps: prefer --enroll-token-file or env EDGEFLEET_ENROLL_TOKEN',
    )
    .option('--enroll-token-file <file>', 'enrollment tokens, one per line (instead of --enroll-token)')
    .option('--enroll-concurrency <n>', 'enrollments in flight at once (default 32)')
    .option('--interval-ms <ms>', 'how often to check and print progress', '1000')
    .addOption(
      new Option('--log-level <level>', 'device log level, on stderr')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('warn'),
    )
    .option('--json', 'print progress as JSON lines ({at, online, totals}) instead of text')
    .action(async (flags: FarmFlags) => {
      const tokens = farmEnrollTokens(flags, process.env);
      if (tokens.length > 0 && flags.classes !== undefined)
        throw new InvalidArgumentError(
          '--classes cannot be combined with enrollment tokens: the classes come from the tokens',
        );
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
      const enrollDir = tokens.length > 0 ? (flags.dataDir ?? FARM_ENROLL_DATA_DIR) : undefined;
      if (mode !== 'none' && !flags.dataDir)
        throw new InvalidArgumentError(
          `--inference ${mode} needs --data-dir <dir> (each device keeps its state there)`,
        );
      const trustedKeys = (flags.trustedKeys ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '')
        .map(parseTrustedKey);
      const dataDir = flags.dataDir ?? enrollDir ?? '';
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
      const identities = enrollDir === undefined ? null : await enrollFarm(config, tokens, enrollDir, flags, logger);
      const farm = await startFarm({
        ...config,
        // Enrolled devices belong to their tokens' classes.
        ...(identities ? { classes: [...new Set([...identities.values()].map((i) => i.deviceClass))] } : {}),
        logger,
        ...inference,
        ...(faults.length > 0 ? { faults } : {}),
        ...(identities ? { identities } : {}),
      });
      if (faults.length > 0 && !flags.json)
        process.stdout.write(
          `${faults.length} scheduled fault(s): ` +
            `${faults.map((f) => `${f.kind} at +${Math.round((f.startAt - Date.now()) / 1000)} s`).join(', ')}\n`,
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
      if (mode === 'real' && trustedKeys.length === 0 && !identities)
        logger.warn('no --trusted-keys: every deployment manifest will be refused');
      if (!flags.json)
        process.stdout.write(
          `farm of ${config.devices} devices (seed ${config.seed}, inference ${mode}) connecting to ` +
            `${config.brokerUrl}; Ctrl-C to stop\n`,
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

/** Enrolls (or reloads) every device's identity, printing progress on stderr. */
async function enrollFarm(
  config: { readonly brokerUrl: string; readonly devices: number; readonly idPrefix: string },
  tokens: readonly string[],
  dataDir: string,
  flags: FarmFlags,
  logger: Parameters<typeof enrollFarmDevices>[0]['logger'],
): Promise<Map<string, FarmIdentity>> {
  const started = Date.now();
  let lastPrint = 0;
  process.stderr.write(
    `enrolling ${config.devices} devices with ${tokens.length} token(s); identities are kept in ${dataDir} and ` +
      `reused next time\n`,
  );
  const identities = await enrollFarmDevices({
    brokerUrl: config.brokerUrl,
    tokens,
    plannedIds: farmDeviceIds(config.devices, config.idPrefix),
    dataDir,
    logger,
    simulatedClasses: new Set(BUILTIN_PROFILES.keys()),
    ...(flags.enrollConcurrency === undefined
      ? {}
      : { concurrency: Math.max(1, Number(flags.enrollConcurrency) || 1) }),
    progress: (done, total) => {
      if (done < total && Date.now() - lastPrint < 1000) return;
      lastPrint = Date.now();
      process.stderr.write(`enrolled ${done}/${total}\n`);
    },
  });
  const fresh = [...identities.values()].filter((i) => i.enrolledNow).length;
  process.stderr.write(
    `${identities.size} identities ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${fresh} enrolled now, ` +
      `${identities.size - fresh} reused)\n`,
  );
  return identities;
}

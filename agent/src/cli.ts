/**
 * `edgefleet-agent`: the device-side command, with no dependency on the edgefleet CLI
 * package (a device installs only @edgefleet/agent). Flags come from AGENT_FLAGS so this
 * and `edgefleet agent` accept the same ones.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isEdgefleetError, asError } from '@edgefleet/shared/device';
import { loadAgentConfig } from './config/load.js';
import { AGENT_FLAGS, type AgentConfig } from './config/schema.js';
import { resolveAgentIdentity } from './enroll/resolve.js';
import { createAgentLogger, startAgent, waitForShutdownSignal } from './run.js';
import { AGENT_VERSION } from './version.js';

export function agentUsage(command = 'edgefleet-agent'): string {
  const rows = AGENT_FLAGS.map((f) => [`--${f.name} <${f.placeholder}>`, f.description] as const);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    `Usage: ${command} [options]`,
    '',
    'Runs the edgefleet device agent: connects to the broker, announces this device (hello, retained',
    'status, heartbeats) and serves until SIGINT/SIGTERM, then disconnects cleanly.',
    '',
    'Options:',
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
    `  ${'--version'.padEnd(width)}  print the agent version`,
    `  ${'-h, --help'.padEnd(width)}  show this help`,
    '',
    'Every option can also come from its EDGEFLEET_AGENT_* variable or the --config file. Pass the',
    'enrollment token with --enroll-token-file or EDGEFLEET_AGENT_ENROLL_TOKEN: command lines are',
    'visible to every user in ps (given as a flag, the agent hides its arguments once it runs).',
  ].join('\n');
}

/**
 * `--serve-port -1` as two arguments: node's parseArgs takes a value starting with `-` for an
 * option, so negative numbers after a value-taking flag are joined into `--flag=-1` first.
 */
export function joinNegativeValues(argv: readonly string[], valueFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (arg.startsWith('--') && valueFlags.has(arg.slice(2)) && next !== undefined && /^-\d+(\.\d+)?$/.test(next)) {
      out.push(`${arg}=${next}`);
      i += 1;
    } else out.push(arg);
  }
  return out;
}

export interface AgentCliOptions {
  /**
   * Overwrite this process's command line (what `ps` shows) once parsed, when it carries the
   * enrollment token. Only the real `edgefleet-agent` process sets this. Default false.
   */
  readonly hideArguments?: boolean;
}

/** Turns parsed flag values into config keys (`device-id` → `deviceId`). */
export function flagsToConfig(values: Readonly<Record<string, unknown>>): {
  flags: Partial<Record<keyof AgentConfig, unknown>>;
  configFile: string | undefined;
} {
  const flags: Partial<Record<keyof AgentConfig, unknown>> = {};
  let configFile: string | undefined;
  for (const f of AGENT_FLAGS) {
    const value = values[f.name];
    if (value === undefined) continue;
    if (f.key === 'config') configFile = String(value);
    else flags[f.key] = value;
  }
  return { flags, configFile };
}

/** Runs the command; resolves with the exit code (0 ok, 2 bad usage or config, 1 failure). */
export async function runAgentCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cliOptions: AgentCliOptions = {},
): Promise<number> {
  const options: NonNullable<ParseArgsConfig['options']> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const f of AGENT_FLAGS) options[f.name] = { type: 'string' };
  let values: Record<string, unknown>;
  try {
    const args = joinNegativeValues(argv, new Set(AGENT_FLAGS.map((f) => f.name)));
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err: unknown) {
    process.stderr.write(`${asError(err).message}\n(run with --help for usage)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${agentUsage()}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  // libuv writes the title over the memory of argv, so /proc/<pid>/cmdline no longer shows the token.
  if (cliOptions.hideArguments && values['enroll-token'] !== undefined) process.title = 'edgefleet-agent';
  const { flags, configFile } = flagsToConfig(values);
  let config: AgentConfig;
  try {
    config = loadAgentConfig({ env, configFile, flags });
  } catch (err: unknown) {
    if (isEdgefleetError(err)) {
      process.stderr.write(`error ${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createAgentLogger(config);
  if (values['enroll-token'] !== undefined)
    logger.warn(
      'the enrollment token was given as a flag, which other users can read in ps while the agent starts; use ' +
        '--enroll-token-file or EDGEFLEET_AGENT_ENROLL_TOKEN',
    );
  let identified: AgentConfig;
  try {
    identified = await resolveAgentIdentity(config, logger);
  } catch (err: unknown) {
    if (!isEdgefleetError(err)) throw err;
    logger.error({ code: err.code }, err.message);
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    return isEdgefleetError(err, 'EF_ERR_CONFIG_INVALID') || isEdgefleetError(err, 'EF_ERR_CONFIG_FILE') ? 2 : 1;
  }
  const agent = await startAgent(identified, logger);
  const signal = await waitForShutdownSignal();
  logger.info({ signal }, 'shutting down');
  await agent.stop();
  return 0;
}

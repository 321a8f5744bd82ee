/**
 * `edgefleet-agent`: the device-side command, with no dependency on the edgefleet CLI
 * package (a device installs only @edgefleet/agent). Flags come from AGENT_FLAGS so this
 * and `edgefleet agent` accept the same ones.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isEdgefleetError, asError } from '@edgefleet/shared';
import { loadAgentConfig } from './config/load.js';
import { AGENT_FLAGS, type AgentConfig } from './config/schema.js';
import { resolveAgentIdentity } from './enroll/resolve.js';
import { createAgentLogger, startAgent, waitForShutdownSignal } from './run.js';

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
    `  ${'-h, --help'.padEnd(width)}  show this help`,
  ].join('\n');
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
): Promise<number> {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const f of AGENT_FLAGS) options[f.name] = { type: 'string' };
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err: unknown) {
    process.stderr.write(`${asError(err).message}\n(run with --help for usage)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${agentUsage()}\n`);
    return 0;
  }
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
  let identified: AgentConfig;
  try {
    identified = await resolveAgentIdentity(config, logger);
  } catch (err: unknown) {
    if (!isEdgefleetError(err)) throw err;
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    return 1;
  }
  const agent = await startAgent(identified, logger);
  const signal = await waitForShutdownSignal();
  logger.info({ signal }, 'shutting down');
  await agent.stop();
  return 0;
}

import { Command } from 'commander';
import { AGENT_FLAGS, flagsToConfig, loadAgentConfig, resolveAgentIdentity, startAgent } from '@edgefleet/agent';
import { createCliLogger, waitForShutdownSignal } from '../cli-logger.js';

/** `device-id` → `deviceId`, the key commander stores a flag under. */
function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * `edgefleet agent`: the device agent, same flags as the standalone `edgefleet-agent`
 * (both come from AGENT_FLAGS), until SIGINT/SIGTERM.
 */
export function agentCommand(): Command {
  const command = new Command('agent').description(
    'Run the device agent on this machine: connect to the broker, announce this device (hello, retained status, ' +
      'heartbeats) and serve until Ctrl-C / SIGTERM, then disconnect cleanly. Devices without the CLI run ' +
      '`edgefleet-agent` with the same flags.',
  );
  for (const f of AGENT_FLAGS) command.option(`--${f.name} <${f.placeholder}>`, f.description);
  return command.action(async (opts: Record<string, unknown>) => {
    const values = Object.fromEntries(AGENT_FLAGS.map((f) => [f.name, opts[camel(f.name)]]));
    const { flags, configFile } = flagsToConfig(values);
    const config = loadAgentConfig({ env: process.env, configFile, flags });
    const logger = createCliLogger(config.logLevel);
    if (values['enroll-token'] !== undefined)
      logger.warn(
        'the enrollment token was given as a flag, which other users can read in ps; use --enroll-token-file or ' +
          'EDGEFLEET_AGENT_ENROLL_TOKEN',
      );
    const stopped = waitForShutdownSignal();
    // Enrolls on first start with --enroll-token, else uses the identity stored in --data-dir.
    const agent = await startAgent(await resolveAgentIdentity(config, logger), logger);
    const signal = await stopped;
    logger.info({ signal }, 'shutting down');
    await agent.stop();
  });
}

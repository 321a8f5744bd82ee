import { Command, Option } from 'commander';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { createCliLogger, waitForShutdownSignal } from '../cli-logger.js';

/** Flags shared by commands that build a server config; values left undefined fall through to env/file/defaults. */
export interface ServerFlags {
  dataDir?: string;
  store?: string;
  sharedDir?: string;
  broker?: string;
  port?: string;
  host?: string;
  config?: string;
  logLevel?: string;
  apiPort?: string;
  apiHost?: string;
  tlsCert?: string;
  tlsKey?: string;
  brokerDynsec?: 'auto' | 'on' | 'off';
}

/** Adds `--data-dir --broker --port --host --config --log-level` to a command. */
export function addServerFlags(command: Command): Command {
  return command
    .option(
      '--data-dir <dir>',
      'data directory holding the SQLite store (default ./.edgefleet, env EDGEFLEET_DATA_DIR)',
    )
    .option(
      '--store <url>',
      'keep fleet state in this Postgres (postgres://user:password@host:5432/db), shared by server replicas, instead ' +
        'of SQLite in the data directory (env EDGEFLEET_STORE)',
    )
    .option(
      '--shared-dir <dir>',
      'models, artifacts and signing keys in this directory, shared by server replicas (default: inside the data ' +
        'directory; env EDGEFLEET_SHARED_DIR)',
    )
    .option(
      '--broker <url>',
      'use this external MQTT broker (mqtt://host:port) instead of the embedded one (env EDGEFLEET_BROKER)',
    )
    .addOption(
      new Option(
        '--broker-dynsec <mode>',
        "with --broker: manage device credentials live through mosquitto's dynamic security plugin (auto: when the " +
          'broker has it; env EDGEFLEET_BROKER_DYNSEC)',
      ).choices(['auto', 'on', 'off']),
    )
    .option('--port <n>', 'TCP port of the embedded broker (default 1883, 0 = any free port; env EDGEFLEET_PORT)')
    .option('--host <addr>', 'interface the embedded broker listens on (default 0.0.0.0; env EDGEFLEET_HOST)')
    .option(
      '--api-port <n>',
      'port of the admin HTTP API (default 8080, 0 = any free port, -1 = off; env EDGEFLEET_API_PORT)',
    )
    .option('--api-host <addr>', 'interface the admin API listens on (default 0.0.0.0; env EDGEFLEET_API_HOST)')
    .option(
      '--tls-cert <file>',
      'PEM certificate: serve MQTT over TLS on --port and the API over HTTPS (env EDGEFLEET_TLS_CERT)',
    )
    .option('--tls-key <file>', 'PEM private key for --tls-cert (env EDGEFLEET_TLS_KEY)')
    .option('--config <file>', 'JSON config file; flags and EDGEFLEET_* variables override it (env EDGEFLEET_CONFIG)')
    .addOption(
      new Option('--log-level <level>', 'log level (default info; env EDGEFLEET_LOG_LEVEL)').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    );
}

/** Turns parsed flags into the config loader's flag layer (dotted keys). */
export function serverFlagLayer(flags: ServerFlags): Record<string, unknown> {
  return {
    dataDir: flags.dataDir,
    store: flags.store,
    sharedDir: flags.sharedDir,
    brokerUrl: flags.broker,
    brokerDynsec: flags.brokerDynsec,
    port: flags.port,
    host: flags.host,
    'log.level': flags.logLevel,
    apiPort: flags.apiPort,
    apiHost: flags.apiHost,
    'tls.certFile': flags.tlsCert,
    'tls.keyFile': flags.tlsKey,
  };
}

/** `edgefleet server`: the control server, until SIGINT/SIGTERM. */
export function serverCommand(): Command {
  return addServerFlags(new Command('server'))
    .description(
      'Run the control server: embedded MQTT broker (or --broker), SQLite registry, device presence. Stops cleanly ' +
        'on Ctrl-C / SIGTERM.',
    )
    .action(async (flags: ServerFlags) => {
      const config = loadServerConfig({ env: process.env, configFile: flags.config, flags: serverFlagLayer(flags) });
      const logger = createCliLogger(config.log.level);
      const server = createServer(config, { logger });
      const stopped = waitForShutdownSignal();
      try {
        const address = await server.start();
        const agentUrl =
          address.port === null
            ? address.brokerUrl
            : `${address.brokerUrl.split(':')[0]}://<this host>:${address.port}`;
        logger.info({ brokerUrl: address.brokerUrl }, `agents connect to ${agentUrl}`);
        if (address.apiUrl)
          logger.info({ apiUrl: address.apiUrl }, `admin API on ${address.apiUrl} (OpenAPI at /openapi.json)`);
        if (address.consoleUrl)
          logger.info(
            { consoleUrl: address.consoleUrl },
            `web console on ${address.consoleUrl} (sign in with a token from \`edgefleet token create\`)`,
          );
      } catch (err: unknown) {
        await server.stop();
        throw err;
      }
      const signal = await stopped;
      logger.info({ signal }, 'shutting down');
      await server.stop();
    });
}

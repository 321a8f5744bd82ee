import { Command, InvalidArgumentError } from 'commander';
import { loadServerConfig } from '@edgefleet/server';
import { findDynsecPlugin, writeMosquittoFiles } from '@edgefleet/server/auth/broker-config';

interface BrokerConfigFlags {
  dataDir?: string;
  out: string;
  port: string;
  bind?: string;
  tlsCert?: string;
  tlsKey?: string;
  dynsec?: boolean;
  dynsecPlugin?: string;
  owner?: string;
  json?: boolean;
}

/** `edgefleet broker-config mosquitto`: credentials and config for an external mosquitto. */
export function brokerConfigCommand(): Command {
  const command = new Command('broker-config').description(
    "Generate an external broker's configuration matching the embedded broker's permissions.",
  );
  command
    .command('mosquitto')
    .description(
      [
        'Write mosquitto.conf and the credentials of the server, every active device and every live enrollment token.',
        "With --dynsec: a dynamic-security.json for mosquitto 2's dynamic security plugin; the running server then",
        'creates and deletes clients live (enrollment and revocation take effect at once, no reload). Without it: passwd',
        '($7$ PBKDF2-SHA512) and acl (pattern lines); rerun after enrollments or revocations and reload mosquitto (kill -HUP).',
        'Run as root, the credential file is given to the mosquitto user (mode 0600), who reads it after dropping root.',
      ].join(' '),
    )
    .option('--data-dir <dir>', 'server data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--out <dir>', 'directory for the files', './mosquitto')
    .option('--port <n>', 'port mosquitto listens on', '1883')
    .option('--bind <addr>', 'address mosquitto listens on (default all)')
    .option('--tls-cert <file>', 'PEM certificate for a TLS listener')
    .option('--tls-key <file>', 'PEM key for --tls-cert')
    .option('--dynsec', "use mosquitto's dynamic security plugin (live credentials) instead of passwd + acl")
    .option('--dynsec-plugin <path>', 'path of mosquitto_dynamic_security.so (default: found with dpkg -L mosquitto)')
    .option('--owner <user>', 'user mosquitto runs as, given the credential file (default mosquitto when run as root)')
    .option('--json', 'print what was written as JSON')
    .action((flags: BrokerConfigFlags) => {
      const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
      let plugin: string | undefined;
      if (flags.dynsec || flags.dynsecPlugin) {
        plugin = flags.dynsecPlugin ?? findDynsecPlugin() ?? undefined;
        if (!plugin)
          throw new InvalidArgumentError(
            'mosquitto_dynamic_security.so not found (dpkg -L mosquitto lists nothing); install mosquitto 2 or pass --dynsec-plugin PATH',
          );
      }
      const files = writeMosquittoFiles({
        dataDir: config.dataDir,
        outDir: flags.out,
        port: Number(flags.port),
        maxPayloadBytes: config.maxPayloadBytes,
        ...(flags.bind ? { bindAddress: flags.bind } : {}),
        ...(flags.tlsCert && flags.tlsKey ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
        ...(plugin ? { dynsecPlugin: plugin } : {}),
        ...(flags.owner ? { owner: flags.owner } : {}),
      });
      if (flags.json) return void process.stdout.write(`${JSON.stringify(files, null, 2)}\n`);
      const lines = [
        `wrote ${files.credentialsFile} (server + ${files.devices} devices + ${files.enrollTokens} enrollment tokens${files.owner ? `, owned by ${files.owner}` : ''}), ${files.aclFile ? `${files.aclFile}, ` : ''}${files.confFile}`,
        ...(files.skipped.length > 0
          ? [
              `skipped ${files.skipped.length} devices enrolled without a mosquitto hash; enroll them again: ${files.skipped.join(', ')}`,
            ]
          : []),
        `start: mosquitto -c ${files.confFile}   then run the server with --broker mqtt://<host>:${flags.port}`,
        files.mode === 'dynsec'
          ? 'the server manages clients live through the plugin from then on; rerun this only with mosquitto stopped (it rewrites the plugin file)'
          : 'rerun this after enrollments and revocations, then reload mosquitto (kill -HUP)',
        `(the server's own mosquitto password is in ${config.dataDir}/mqtt-server.secret and is used automatically)`,
      ];
      if (!files.owner && process.getuid?.() !== 0)
        lines.push(
          `note: ${files.credentialsFile} is yours with mode 0600; if mosquitto runs as another user, chown it to that user`,
        );
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  return command;
}

import { Command, InvalidArgumentError } from 'commander';
import { findDynsecPlugin, writeMosquittoFiles } from '@edgefleet/server/auth/broker-config';
import { mosquittoCredentialsSchema, stripUndefined } from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';

interface MosquittoFlags extends AdminFlags {
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

/** The plugin to configure, or undefined for passwd + acl; refuses --dynsec when none is installed. */
function dynsecPluginOf(flags: MosquittoFlags): string | undefined {
  if (!flags.dynsec && !flags.dynsecPlugin) return undefined;
  const plugin = flags.dynsecPlugin ?? findDynsecPlugin();
  if (!plugin)
    throw new InvalidArgumentError(
      'mosquitto_dynamic_security.so not found (dpkg -L mosquitto lists nothing); ' +
        'install mosquitto 2 or pass --dynsec-plugin PATH',
    );
  return plugin;
}

/** `edgefleet broker-config mosquitto`: credentials (from the server) and config for an external mosquitto. */
export function brokerConfigCommand(): Command {
  const command = new Command('broker-config').description(
    "Generate an external broker's configuration matching the embedded broker's permissions.",
  );
  addAdminFlags(command.command('mosquitto'))
    .description(
      [
        'Write mosquitto.conf and the credentials of the server, every active device and every live enrollment token',
        '(from the server through its admin API).',
        "With --dynsec: a dynamic-security.json for mosquitto 2's dynamic security plugin; the running server then",
        'creates and deletes clients live (enrollment and revocation take effect at once, no reload). ' +
          'Without it: passwd',
        '($7$ PBKDF2-SHA512) and acl (pattern lines); rerun after enrollments or revocations and reload mosquitto',
        '(kill -HUP). Run as root, the credential file is given to the mosquitto user (mode 0600), who reads it after',
        'dropping root.',
      ].join(' '),
    )
    .option('--out <dir>', 'directory for the files', './mosquitto')
    .option('--port <n>', 'port mosquitto listens on', '1883')
    .option('--bind <addr>', 'address mosquitto listens on (default all)')
    .option('--tls-cert <file>', 'PEM certificate for a TLS listener')
    .option('--tls-key <file>', 'PEM key for --tls-cert')
    .option('--dynsec', "use mosquitto's dynamic security plugin (live credentials) instead of passwd + acl")
    .option('--dynsec-plugin <path>', 'path of mosquitto_dynamic_security.so (default: found with dpkg -L mosquitto)')
    .option('--owner <user>', 'user mosquitto runs as, given the credential file (default mosquitto when run as root)')
    .option('--json', 'print what was written as JSON')
    .action(async (flags: MosquittoFlags) => {
      const plugin = dynsecPluginOf(flags);
      const { credentials, dataDir } = await withFleet(
        flags,
        // Before the server first starts on an external broker, this makes the store (issue 21 keeps that).
        { command: 'edgefleet broker-config', writes: true, initializes: true },
        async (api, fleet) => ({
          credentials: await api.get('/v1/broker/mosquitto-credentials', mosquittoCredentialsSchema),
          dataDir: fleet.dataDir,
        }),
      );
      const files = writeMosquittoFiles({
        credentials,
        outDir: flags.out,
        port: Number(flags.port),
        ...stripUndefined({ bindAddress: flags.bind, dynsecPlugin: plugin, owner: flags.owner }),
        ...(flags.tlsCert && flags.tlsKey ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
      });
      if (flags.json) return void process.stdout.write(`${JSON.stringify(files, null, 2)}\n`);
      const owned = files.owner ? `, owned by ${files.owner}` : '';
      const lines = [
        `wrote ${files.credentialsFile} (server + ${files.devices} devices + ${files.enrollTokens} enrollment tokens` +
          `${owned}), ${files.aclFile ? `${files.aclFile}, ` : ''}${files.confFile}`,
        ...(files.skipped.length > 0
          ? [
              `skipped ${files.skipped.length} devices enrolled without a mosquitto hash; enroll them again: ` +
                files.skipped.join(', '),
            ]
          : []),
        `start: mosquitto -c ${files.confFile}   then run the server with --broker mqtt://<host>:${flags.port}`,
        files.mode === 'dynsec'
          ? 'the server manages clients live through the plugin from then on; rerun this only with mosquitto ' +
            'stopped (it rewrites the plugin file)'
          : 'rerun this after enrollments and revocations, then reload mosquitto (kill -HUP)',
        "(the server's own mosquitto password is in mqtt-server.secret of the shared directory when one is set " +
          `(replicas share it), else of ${dataDir ?? "the server's data directory"}; it is used automatically)`,
      ];
      if (!files.owner && process.getuid?.() !== 0)
        lines.push(
          `note: ${files.credentialsFile} is yours with mode 0600; if mosquitto runs as another user, ` +
            'chown it to that user',
        );
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  return command;
}

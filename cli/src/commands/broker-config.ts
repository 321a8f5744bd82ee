import { Command } from 'commander';
import { writeMosquittoFiles } from '@edgefleet/server/auth/broker-config';
import { mosquittoPasswdSchema, stripUndefined } from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';

interface MosquittoFlags extends AdminFlags {
  out: string;
  port: string;
  bind?: string;
  tlsCert?: string;
  tlsKey?: string;
  json?: boolean;
}

/** `edgefleet broker-config mosquitto`: password file (from the server), ACL and config for an external mosquitto. */
export function brokerConfigCommand(): Command {
  const command = new Command('broker-config').description(
    "Generate an external broker's configuration matching the embedded broker's permissions.",
  );
  addAdminFlags(command.command('mosquitto'))
    .description(
      'Write passwd ($7$ PBKDF2-SHA512: the server, every active device, every live enrollment token; from the ' +
        'server through its admin API), acl (pattern lines) and mosquitto.conf. Rerun after enrollments or ' +
        'revocations, then reload mosquitto (kill -HUP).',
    )
    .option('--out <dir>', 'directory for the files', './mosquitto')
    .option('--port <n>', 'port mosquitto listens on', '1883')
    .option('--bind <addr>', 'address mosquitto listens on (default all)')
    .option('--tls-cert <file>', 'PEM certificate for a TLS listener')
    .option('--tls-key <file>', 'PEM key for --tls-cert')
    .option('--json', 'print what was written as JSON')
    .action(async (flags: MosquittoFlags) => {
      const { passwd, dataDir } = await withFleet(
        flags,
        { command: 'edgefleet broker-config', writes: true },
        async (api, fleet) => ({
          passwd: await api.get('/v1/broker/mosquitto-passwd', mosquittoPasswdSchema),
          dataDir: fleet.dataDir,
        }),
      );
      const files = writeMosquittoFiles({
        passwd,
        outDir: flags.out,
        port: Number(flags.port),
        ...stripUndefined({ bindAddress: flags.bind }),
        ...(flags.tlsCert && flags.tlsKey ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
      });
      if (flags.json) return void process.stdout.write(`${JSON.stringify(files, null, 2)}\n`);
      const skipped =
        files.skipped.length > 0
          ? [
              `skipped ${files.skipped.length} devices enrolled without a mosquitto hash; enroll them again: ` +
                files.skipped.join(', '),
            ]
          : [];
      process.stdout.write(
        `${[
          `wrote ${files.passwordFile} (server + ${files.devices} devices + ${files.enrollTokens} enrollment tokens), ` +
            `${files.aclFile}, ${files.confFile}`,
          ...skipped,
          `start: mosquitto -c ${files.confFile}   then run the server with --broker mqtt://<host>:${flags.port}`,
          `(the server's own mosquitto password is in ${dataDir ?? "the server's data directory"}/mqtt-server.secret ` +
            'and is used automatically)',
        ].join('\n')}\n`,
      );
    });
  return command;
}

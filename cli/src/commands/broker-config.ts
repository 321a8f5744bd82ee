import { Command } from 'commander';
import { loadServerConfig } from '@edgefleet/server';
import { writeMosquittoFiles } from '@edgefleet/server/auth/broker-config';

/** `edgefleet broker-config mosquitto`: password file, ACL and config for an external mosquitto. */
export function brokerConfigCommand(): Command {
  const command = new Command('broker-config').description(
    "Generate an external broker's configuration matching the embedded broker's permissions.",
  );
  command
    .command('mosquitto')
    .description(
      'Write passwd ($7$ PBKDF2-SHA512: the server, every active device, every live enrollment token), acl (pattern lines) and mosquitto.conf. Rerun after enrollments or revocations, then reload mosquitto (kill -HUP).',
    )
    .option('--data-dir <dir>', 'server data directory (default ./.edgefleet, env EDGEFLEET_DATA_DIR)')
    .option('--out <dir>', 'directory for the files', './mosquitto')
    .option('--port <n>', 'port mosquitto listens on', '1883')
    .option('--bind <addr>', 'address mosquitto listens on (default all)')
    .option('--tls-cert <file>', 'PEM certificate for a TLS listener')
    .option('--tls-key <file>', 'PEM key for --tls-cert')
    .option('--json', 'print what was written as JSON')
    .action(
      (flags: {
        dataDir?: string;
        out: string;
        port: string;
        bind?: string;
        tlsCert?: string;
        tlsKey?: string;
        json?: boolean;
      }) => {
        const config = loadServerConfig({ env: process.env, flags: { dataDir: flags.dataDir } });
        const files = writeMosquittoFiles({
          dataDir: config.dataDir,
          outDir: flags.out,
          port: Number(flags.port),
          maxPayloadBytes: config.maxPayloadBytes,
          ...(flags.bind ? { bindAddress: flags.bind } : {}),
          ...(flags.tlsCert && flags.tlsKey ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
        });
        if (flags.json) return void process.stdout.write(`${JSON.stringify(files, null, 2)}\n`);
        process.stdout.write(
          `${[
            `wrote ${files.passwordFile} (server + ${files.devices} devices + ${files.enrollTokens} enrollment tokens), ${files.aclFile}, ${files.confFile}`,
            ...(files.skipped.length > 0
              ? [
                  `skipped ${files.skipped.length} devices enrolled without a mosquitto hash; enroll them again: ${files.skipped.join(', ')}`,
                ]
              : []),
            `start: mosquitto -c ${files.confFile}   then run the server with --broker mqtt://<host>:${flags.port}`,
            `(the server's own mosquitto password is in ${config.dataDir}/mqtt-server.secret and is used automatically)`,
          ].join('\n')}\n`,
        );
      },
    );
  return command;
}

import { Command, Option } from 'commander';
import { BUNDLE_PLATFORMS, buildAgentBundle, type BundlePlatform } from '../bundle/agent-bundle.js';

/** `edgefleet agent-bundle --platform linux-arm64 -o agent.tgz`: a device install with no network. */
export function agentBundleCommand(): Command {
  return new Command('agent-bundle')
    .description(
      "Build one tarball with the device agent, its production dependencies and only one platform's onnxruntime " +
        'binaries, plus a launcher, the systemd unit and install.sh. On the device: tar xzf FILE && sudo ' +
        './edgefleet-agent-*/install.sh --broker URL --token-file FILE. Needs npm here (packages come from its ' +
        'cache or registry).',
    )
    .addOption(
      new Option('--platform <platform>', 'the device platform').choices([...BUNDLE_PLATFORMS]).makeOptionMandatory(),
    )
    .requiredOption('-o, --out <file>', 'the .tgz to write')
    .option('--offline', 'never contact the package registry (everything must be in npm cache)')
    .option('--json', 'print what was written as JSON')
    .action(async (flags: { platform: BundlePlatform; out: string; offline?: boolean; json?: boolean }) => {
      const bundle = await buildAgentBundle({
        platform: flags.platform,
        outFile: flags.out,
        progress: (line) => process.stderr.write(`${line}\n`),
        ...(flags.offline ? { npmInstallArgs: ['--offline'] } : {}),
      });
      if (flags.json) return void process.stdout.write(`${JSON.stringify(bundle, null, 2)}\n`);
      process.stdout.write(
        `${[
          `wrote ${bundle.file}: edgefleet-agent ${bundle.agentVersion} for ${bundle.platform}, onnxruntime ` +
            `${bundle.onnxruntimeVersion}, ${(bundle.bytes / 1e6).toFixed(1)} MB`,
          `on the device (Node.js 20+): tar xzf ${bundle.file.split('/').at(-1)} && sudo ./${bundle.root}/install.sh ` +
            `--broker mqtt://server:1883 --token-file token.txt`,
        ].join('\n')}\n`,
      );
    });
}

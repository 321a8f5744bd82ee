import { Command } from 'commander';
import { convertModelFile } from '@edgefleet/compress';

/** `edgefleet convert IN.onnx -o OUT.onnx`: read and rewrite a model through the IR. */
export function convertCommand(): Command {
  // exitOverride: usage errors throw to main() (exit code 2) instead of exiting the process.
  return new Command('convert')
    .exitOverride()
    .description(
      "Read an ONNX model through edgefleet's IR (decode + verify) and write it back canonically; behaviour is " +
        'unchanged. The output is written to a temp file and renamed.',
    )
    .argument('<in>', 'path to the input .onnx file')
    .requiredOption('-o, --output <out>', 'path of the .onnx file to write')
    .option('--json', 'print the result as JSON')
    .action(async (input: string, flags: { output: string; json?: boolean }) => {
      const result = await convertModelFile(input, flags.output);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `read  ${result.input.path}: ${result.input.bytes} bytes, sha256 ${result.input.sha256}\n` +
          `wrote ${result.output.path}: ${result.output.bytes} bytes, sha256 ${result.output.sha256} ` +
          `(${result.nodes} nodes, verified)\n`,
      );
    });
}

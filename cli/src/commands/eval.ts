import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { evaluateModel, formatEvalResult, type EvaluateOptions } from '@edgefleet/compress';
import { stripUndefined } from '@edgefleet/shared';

function positiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
    return n;
  };
}

/** `--shape NAME=D1,D2,…`, repeatable, collected into a map. */
function collectShape(value: string, prev: Record<string, number[]> = {}): Record<string, number[]> {
  const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected NAME=D1,D2,… e.g. x=1,3,48,192');
  return { ...prev, [m[1] as string]: (m[2] as string).split(',').map(Number) };
}

interface EvalFlags {
  data?: string;
  reference?: string;
  threads: number;
  json?: string;
  runs: number;
  warmup: number;
  shape?: Record<string, number[]>;
  latency: boolean;
}

/** `edgefleet eval MODEL.onnx`: accuracy or fidelity, size, latency and memory of a model. */
export function evalCommand(): Command {
  return new Command('eval')
    .description(
      'Evaluate an ONNX model: top-1 accuracy on labelled data, fidelity to a reference model, size and gzip size, ' +
        'host latency (p50/p95) with onnxruntime pinned to N threads, and peak memory.',
    )
    .argument('<model>', 'path to an .onnx file')
    .option(
      '--data <spec>',
      'mnist[:train|calib|test][:N], random:N, random:SHAPE (e.g. random:8x1x28x28) or a sample directory; default: ' +
        'mnist test split when the input fits, else random:8',
    )
    .option('--reference <model>', 'reference .onnx for fidelity: top-1 agreement, cosine similarity, max abs error')
    .option('--threads <n>', 'onnxruntime intra-op threads (sequential execution)', positiveInt(256), 1)
    .option('--runs <n>', 'timed latency runs after warm-up', positiveInt(100000), 50)
    .option('--warmup <n>', 'warm-up runs before timing', positiveInt(100000), 5)
    .option(
      '--shape <name=dims>',
      'fix symbolic input dims for random data, e.g. x=1,3,48,192 (repeatable)',
      collectShape,
    )
    .option('--no-latency', 'skip the latency measurement')
    .option('--json <out>', 'also write the result as JSON to this file (- for stdout instead of the table)')
    .addHelpText(
      'after',
      '\nExamples:\n  edgefleet eval models/zoo/mnist-cnn.onnx\n  edgefleet eval small.onnx --reference ' +
        'models/zoo/mnist-cnn.onnx --json result.json\n  edgefleet eval det.onnx --data random:2 --shape x=1,3,320,320',
    )
    .action(async (model: string, flags: EvalFlags) => {
      const tty = process.stderr.isTTY === true && flags.json !== '-';
      const opts: EvaluateOptions = {
        threads: flags.threads,
        timedRuns: flags.runs,
        warmupRuns: flags.warmup,
        latency: flags.latency,
        ...stripUndefined({ data: flags.data, reference: flags.reference }),
        ...(flags.shape === undefined ? {} : { dataOptions: { shapes: flags.shape } }),
        ...(tty ? { onProgress: (phase, done, total) => process.stderr.write(`\r${phase}: ${done}/${total}   `) } : {}),
      };
      const result = await evaluateModel(model, opts);
      if (tty) process.stderr.write('\r\x1b[K');
      const json = `${JSON.stringify(result, null, 2)}\n`;
      if (flags.json === '-') {
        process.stdout.write(json);
        return;
      }
      process.stdout.write(`${formatEvalResult(result)}\n`);
      if (flags.json !== undefined) {
        await writeFile(flags.json, json);
        process.stdout.write(`wrote ${flags.json}\n`);
      }
    });
}

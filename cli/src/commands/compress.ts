import { Command } from 'commander';
import { EdgefleetError } from '@edgefleet/shared';
import {
  compressModel,
  type CompressReport,
  readModelBytes,
  loadModel,
  writeBytesAtomic,
  loadDataSource,
  type Progress,
  type Dataset,
} from '@edgefleet/compress';

function parseShapes(values: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(v);
    if (!m?.[1] || !m[2])
      throw new EdgefleetError('EF_ERR_DATA_SOURCE', `--shape "${v}" is not NAME=D1,D2,…; e.g. --shape x=1,3,64,64`, {
        value: v,
      });
    out[m[1]] = m[2].split(',').map(Number);
  }
  return out;
}

function reportTable(r: CompressReport): string {
  const lines = [
    `recipe ${r.recipe}: ${r.size.beforeBytes} → ${r.size.afterBytes} bytes (${(r.size.ratio * 100).toFixed(1)}%), gzip ${r.size.beforeGzipBytes} → ${r.size.afterGzipBytes}, ${r.seconds.toFixed(2)} s`,
  ];
  for (const p of r.passes) lines.push(`  ${p.ok ? 'ok  ' : 'FAIL'} ${p.pass.padEnd(26)} ${p.summary}`);
  const c = r.runtimeCheck;
  if (c)
    lines.push(
      `  onnxruntime: ${c.ran ? `loaded and ran it on ${c.on}` : `loaded it; not run on ${c.on}: ${c.note ?? 'no feed'}`}`,
    );
  lines.push('', `${'LAYER'.padEnd(32) + 'OP'.padEnd(20) + 'PRECISION'.padEnd(14)}REASON`);
  for (const l of r.layers)
    lines.push(l.node.slice(0, 31).padEnd(32) + l.opType.padEnd(20) + l.precision.padEnd(14) + l.reason);
  return lines.join('\n');
}

/** `edgefleet compress IN.onnx -o OUT.onnx --recipe R`: quantize a model through a recipe. */
export function compressCommand(): Command {
  return new Command('compress')
    .description(
      'Compress an ONNX model with a recipe (int8-dynamic, int8-static, int8-weights, int4-weights, fp16, the bias-corrected int8-static-bc, int8-weights-bc, int4-weights-bc, quantization-aware int8-qat, or a JSON list of passes, among them finetune and qat). The output is written to a temp file and renamed.',
    )
    .argument('<in>', 'path to the input .onnx file')
    .requiredOption('-o, --output <out>', 'path of the .onnx file to write')
    .requiredOption(
      '--recipe <recipe>',
      'preset name or JSON, e.g. \'[{"pass":"int4-weights","options":{"blockSize":64}}]\'',
    )
    .option(
      '--calib <spec>',
      'calibration data: mnist[:N], random:N (N samples whatever the batch dim), or a sample directory (needed by int8-static)',
    )
    .option(
      '--train <spec>',
      'training data for the finetune and qat passes (e.g. mnist:train); default the calibration data',
    )
    .option(
      '--shape <NAME=D1,D2,...>',
      'fix symbolic input dims for random calibration data (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--report <file>', 'also write the report as JSON')
    .option('--json', 'print the report as JSON instead of a table')
    .action(
      async (
        input: string,
        flags: {
          output: string;
          recipe: string;
          calib?: string;
          train?: string;
          shape: string[];
          report?: string;
          json?: boolean;
        },
      ) => {
        const bytes = await readModelBytes(input);
        const shapes = parseShapes(flags.shape);
        let calib: Dataset | undefined;
        let train: Dataset | undefined;
        if (flags.calib || flags.train) {
          const model = loadModel(bytes);
          const inputs = model.graph.inputs
            .filter((i) => !model.graph.initializers.has(i.name))
            .map((i) => ({
              name: i.name,
              dtype: i.type?.kind === 'tensor' ? (i.type.elemType ?? 'float32') : 'float32',
              dims: i.type?.kind === 'tensor' ? (i.type.shape ?? []) : [],
            }));
          if (flags.calib) calib = loadDataSource(flags.calib, inputs, { defaultSplit: 'calib', shapes });
          if (flags.train) train = loadDataSource(flags.train, inputs, { defaultSplit: 'train', shapes });
        }
        const tty = process.stderr.isTTY === true;
        const onProgress = (p: Progress): void => {
          if (tty) process.stderr.write(`\r${p.pass}: ${p.done}/${p.total} ${p.what}`.slice(0, 100).padEnd(100));
        };
        const { bytes: out, report } = await compressModel(bytes, flags.recipe, {
          ...(calib ? { calib } : {}),
          ...(train ? { train } : {}),
          onProgress,
        });
        if (tty) process.stderr.write(`${'\r'.padEnd(101)}\r`);
        await writeBytesAtomic(flags.output, out);
        if (flags.report)
          await writeBytesAtomic(flags.report, new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`));
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(report, null, 2)}\n`
            : `${reportTable(report)}\nwrote ${flags.output} (sha256 ${report.sha256})\n`,
        );
      },
    );
}

import { Command } from 'commander';
import { stripUndefined } from '@edgefleet/shared';
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
import { usageError } from '../usage.js';

function parseShapes(values: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(v);
    if (!m?.[1] || !m[2])
      throw usageError(`--shape "${v}" is not NAME=D1,D2,…; e.g. --shape x=1,3,64,64`, { value: v });
    out[m[1]] = m[2].split(',').map(Number);
  }
  return out;
}

const n = (v: number): string => v.toLocaleString('en-US');
const pct = (a: number, b: number): string => `${b === 0 ? 100 : ((a / b) * 100).toFixed(1)}%`;

/** The pruning section: totals, groups (cut, or left whole and why), layers before → after. */
function pruningTable(p: NonNullable<CompressReport['pruning']>): string[] {
  const t = p.totals;
  const lines = [
    '',
    `pruning (${p.kind}, ${p.importance}${p.reconstructed ? ', reconstructed' : ''}): params ${n(t.paramsBefore)} → ` +
      `${n(t.paramsAfter)} (${pct(t.paramsAfter, t.paramsBefore)}), MACs ${n(t.macsBefore)} → ${n(t.macsAfter)} ` +
      `(${pct(t.macsAfter, t.macsBefore)})`,
  ];
  if (p.fidelity)
    lines.push(
      `checked against the original on ${p.fidelity.samples} calibration samples: output cosine ` +
        `${p.fidelity.cosine.toFixed(4)}, top-1 agreement ${pct(p.fidelity.agreement, 1)}`,
    );
  if (p.groups.length > 0) {
    lines.push('', `${'GROUP'.padEnd(28)}${'CHANNELS'.padEnd(12)}DECISION`);
    for (const g of p.groups)
      lines.push(
        g.name.slice(0, 27).padEnd(28) +
          `${g.channels} → ${g.kept}`.padEnd(12) +
          (g.prunable
            ? g.kept < g.channels
              ? `cut by ${g.method ?? p.importance}`
              : 'kept'
            : `left whole: ${g.reason}`),
      );
  }
  lines.push('', `${'LAYER'.padEnd(28)}${'PARAMS'.padEnd(20)}${'MACS'.padEnd(24)}OUTPUT COSINE`);
  for (const l of p.layers) {
    const cos = l.cosine === null ? '-' : l.cosine.toFixed(4);
    const refit = l.cosineBeforeRefit === null ? '' : ` (${l.cosineBeforeRefit.toFixed(4)} before refit)`;
    lines.push(
      l.node.slice(0, 27).padEnd(28) +
        `${n(l.paramsBefore)} → ${n(l.paramsAfter)}`.padEnd(20) +
        `${n(l.macsBefore)} → ${n(l.macsAfter)}`.padEnd(24) +
        cos +
        refit,
    );
  }
  return lines;
}

function reportTable(r: CompressReport): string {
  const lines = [
    `recipe ${r.recipe}: ${r.size.beforeBytes} → ${r.size.afterBytes} bytes (${(r.size.ratio * 100).toFixed(1)}%), ` +
      `gzip ${r.size.beforeGzipBytes} → ${r.size.afterGzipBytes}, ${r.seconds.toFixed(2)} s`,
  ];
  for (const p of r.passes) lines.push(`  ${p.ok ? 'ok  ' : 'FAIL'} ${p.pass.padEnd(26)} ${p.summary}`);
  const c = r.runtimeCheck;
  if (c) {
    const outcome = c.ran ? `loaded and ran it on ${c.on}` : `loaded it; not run on ${c.on}: ${c.note ?? 'no feed'}`;
    lines.push(`  onnxruntime: ${outcome}`);
  }
  lines.push('', `${'LAYER'.padEnd(32) + 'OP'.padEnd(20) + 'PRECISION'.padEnd(14)}REASON`);
  for (const l of r.layers)
    lines.push(l.node.slice(0, 31).padEnd(32) + l.opType.padEnd(20) + l.precision.padEnd(14) + l.reason);
  if (r.pruning) lines.push(...pruningTable(r.pruning));
  return lines.join('\n');
}

/** `edgefleet compress IN.onnx -o OUT.onnx --recipe R`: quantize a model through a recipe. */
const RECIPE_EXAMPLE =
  '[{"pass":"prune-structured","target":{"params":0.25},"importance":"reconstruction"},{"pass":"reconstruct"}]';

export function compressCommand(): Command {
  return new Command('compress')
    .description(
      'Compress an ONNX model with a recipe: a preset (int8-dynamic, int8-static, int8-weights, int4-weights, fp16, ' +
        'the bias-corrected int8-static-bc, int8-weights-bc, int4-weights-bc, quantization-aware int8-qat, and the ' +
        'pruning presets prune-structured (half the MACs, needs --calib), reconstruct, prune-magnitude), a ' +
        '+-joined chain of presets (e.g. prune-structured+reconstruct+int8-static), or a JSON list of passes ' +
        'with their options inline or under "options" (among them finetune and qat). The output is written to a ' +
        'temp file and renamed.',
    )
    .argument('<in>', 'path to the input .onnx file')
    .requiredOption('-o, --output <out>', 'path of the .onnx file to write')
    .requiredOption('--recipe <recipe>', `preset, preset chain (a+b+c) or JSON, e.g. '${RECIPE_EXAMPLE}'`)
    .option(
      '--calib <spec>',
      'calibration data: mnist[:N], random:N (N samples whatever the batch dim), text:N (synthetic text pages), or a ' +
        'sample directory (needed by int8-static and pruning)',
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
          ...stripUndefined({ calib, train }),
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

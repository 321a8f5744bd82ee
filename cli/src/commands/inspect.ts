import { Command, InvalidArgumentError } from 'commander';
import { loadModel, readModelBytes, sha256Hex, inspectModel, type InspectReport } from '@edgefleet/compress';

/** Left-aligned text table with a dashed header rule. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const num = (n: number): string => n.toLocaleString('en-US');
const shapeText = (shape: InspectReport['inputs'][number]['shape']): string =>
  shape === null ? '(unknown rank)' : `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;

/** The human-readable form of an inspect report. */
/** `ai.onnx 17, ai.onnx.ml 3`, plus the opsets no node uses (a rewrite drops them). */
function opsetsText(r: InspectReport): string {
  const used = r.opsets.map((o) => `${o.domain} ${o.version}`).join(', ') || 'none';
  if (r.unusedOpsets.length === 0) return used;
  return `${used} (declared but used by no node, dropped on rewrite: ${r.unusedOpsets.join(', ')})`;
}

export function formatInspect(file: string, bytes: number, sha256: string, r: InspectReport): string {
  const values = (vs: InspectReport['inputs']): string =>
    table(
      ['NAME', 'DTYPE', 'SHAPE'],
      vs.map((v) => [v.name, v.dtype ?? '-', shapeText(v.shape)]),
    );
  const parts = [
    `${file}: ${num(bytes)} bytes, sha256 ${sha256}`,
    `ir_version ${r.irVersion}, producer ${r.producer || '-'}, opsets ${opsetsText(r)}`,
    `\nInputs\n${values(r.inputs)}`,
    `\nOutputs\n${values(r.outputs)}`,
    `\nOperators (${num(r.nodeCount)} nodes${r.subgraphCount > 0 ? `, ${r.subgraphCount} subgraphs` : ''})\n${table(
      ['OP', 'COUNT'],
      r.opHistogram.map((o) => [o.op, String(o.count)]),
    )}`,
    `\nParameters: ${num(r.parameterCount)} elements in constant tensors\n${table(
      ['DTYPE', 'TENSORS', 'ELEMENTS', 'BYTES'],
      r.bytesByDtype.map((d) => [d.dtype, num(d.tensors), num(d.elements), num(d.bytes)]),
    )}`,
    `\nLargest tensors\n${table(
      ['NAME', 'SOURCE', 'DTYPE', 'DIMS', 'BYTES'],
      r.largestTensors.map((t) => [t.name, t.source, t.dtype, `[${t.dims.join(', ')}]`, num(t.bytes)]),
    )}`,
    r.verification.ok
      ? '\nVerification: ok'
      : `\nVerification: ${r.verification.problems.length} ` +
        `problem(s)\n${r.verification.problems.map((p) => `  - ${p}`).join('\n')}`,
  ];
  return `${parts.join('\n')}\n`;
}

function parseTop(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  return n;
}

/** `edgefleet inspect MODEL.onnx`: what a model contains, as a report or JSON. */
export function inspectCommand(): Command {
  // exitOverride: usage errors throw to main() (exit code 2) instead of exiting the process.
  return new Command('inspect')
    .exitOverride()
    .description(
      "Show an ONNX model's inputs/outputs with shapes, opsets, op histogram, parameter count, bytes per dtype and " +
        'largest tensors.',
    )
    .argument('<model>', 'path to an .onnx file')
    .option('--json', 'print the report as JSON instead of tables')
    .option('--top <n>', 'how many of the largest tensors to list (default 10)', parseTop)
    .action(async (path: string, flags: { json?: boolean; top?: number }) => {
      const bytes = await readModelBytes(path);
      // Verification problems are part of the report here, not a reason to refuse to show the model.
      const model = loadModel(bytes, { verify: false });
      const report = inspectModel(model, { top: flags.top ?? 10 });
      const sha256 = sha256Hex(bytes);
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({ file: path, bytes: bytes.byteLength, sha256, ...report }, null, 2)}\n`,
        );
      } else {
        process.stdout.write(formatInspect(path, bytes.byteLength, sha256, report));
      }
      if (!report.verification.ok) process.exitCode = 1;
    });
}

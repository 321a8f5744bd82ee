/**
 * What is inside a model, as plain zod-typed data: interface, opsets, op histogram, parameter
 * count, bytes per dtype and the largest tensors. Used by `edgefleet inspect` and anywhere a
 * model needs a summary.
 */
import { z } from 'zod';
import { byteLengthOf } from './ir/dtype.js';
import type { Graph } from './ir/graph.js';
import type { Model, Tensor, ValueInfo } from './ir/types.js';
import { usedOpsetImports, verifyModel } from './ir/verify.js';

const dimSchema = z.union([z.number(), z.string(), z.null()]);

const valueSchema = z.strictObject({
  name: z.string(),
  /** Element type, or null when undeclared or not a tensor. */
  dtype: z.string().nullable(),
  /** Dimensions (size, symbolic name or null = unknown), or null when the rank is unknown. */
  shape: z.array(dimSchema).nullable(),
});

export const inspectReportSchema = z.strictObject({
  irVersion: z.number().int(),
  producer: z.string(),
  opsets: z.array(z.strictObject({ domain: z.string(), version: z.number().int() })),
  /** Declared opset domains no node uses (onnxruntime's optimizer writes such); dropped when the model is rewritten. */
  unusedOpsets: z.array(z.string()),
  inputs: z.array(valueSchema),
  outputs: z.array(valueSchema),
  /** Nodes in the main graph and all subgraphs. */
  nodeCount: z.number().int(),
  subgraphCount: z.number().int(),
  /** Op type (prefixed with its domain when not ai.onnx) → count, most frequent first. */
  opHistogram: z.array(z.strictObject({ op: z.string(), count: z.number().int() })),
  /** Elements of every constant tensor: initializers and `Constant` node values. */
  parameterCount: z.number().int(),
  bytesByDtype: z.array(
    z.strictObject({
      dtype: z.string(),
      tensors: z.number().int(),
      elements: z.number().int(),
      bytes: z.number().int(),
    }),
  ),
  /** The ten largest constant tensors by bytes. */
  largestTensors: z.array(
    z.strictObject({
      name: z.string(),
      source: z.enum(['initializer', 'constant']),
      dtype: z.string(),
      dims: z.array(z.number().int()),
      bytes: z.number().int(),
    }),
  ),
  /** Structural verification of the model (see verifyModel). */
  verification: z.strictObject({ ok: z.boolean(), problems: z.array(z.string()) }),
});

export type InspectReport = z.infer<typeof inspectReportSchema>;

interface ConstantRef {
  tensor: Tensor;
  name: string;
  source: 'initializer' | 'constant';
}

/** Summarise a loaded model. Pure: reads the IR only. */
export function inspectModel(model: Model, options: { top?: number } = {}): InspectReport {
  const histogram = new Map<string, number>();
  const constants: ConstantRef[] = [];
  let nodeCount = 0;
  let subgraphCount = 0;
  const walk = (g: Graph): void => {
    for (const t of g.initializers.values()) constants.push({ tensor: t, name: t.name, source: 'initializer' });
    for (const node of g.nodes) {
      nodeCount++;
      const op = node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}:${node.opType}`;
      histogram.set(op, (histogram.get(op) ?? 0) + 1);
      for (const a of node.attributes) {
        if (a.kind === 'tensor' && node.opType === 'Constant')
          constants.push({ tensor: a.value, name: node.outputs[0] ?? node.name, source: 'constant' });
        const subs = a.kind === 'graph' ? [a.value] : a.kind === 'graphs' ? a.value : [];
        for (const sub of subs) {
          subgraphCount++;
          walk(sub);
        }
      }
    }
  };
  walk(model.graph);
  const sized = constants.map((c) => ({ ...c, elements: elementsOf(c.tensor), bytes: bytesOf(c.tensor) }));
  const initializerNames = new Set(model.graph.initializers.keys());
  return inspectReportSchema.parse({
    irVersion: model.irVersion,
    producer: [model.producerName, model.producerVersion].filter((s) => s !== '').join(' '),
    opsets: model.opsetImports.map((o) => ({ domain: o.domain === '' ? 'ai.onnx' : o.domain, version: o.version })),
    unusedOpsets: model.opsetImports
      .filter((o) => !usedOpsetImports(model).includes(o))
      .map((o) => (o.domain === '' ? 'ai.onnx' : o.domain)),
    // Initializers listed as graph inputs (old ir_version style) are weights, not model inputs.
    inputs: model.graph.inputs.filter((vi) => !initializerNames.has(vi.name)).map(valueSummary),
    outputs: model.graph.outputs.map(valueSummary),
    nodeCount,
    subgraphCount,
    opHistogram: [...histogram]
      .map(([op, count]) => ({ op, count }))
      .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    parameterCount: sized.reduce((s, c) => s + c.elements, 0),
    bytesByDtype: dtypeTotals(sized),
    largestTensors: [...sized]
      .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name))
      .slice(0, options.top ?? 10)
      .map((c) => ({
        name: c.name,
        source: c.source,
        dtype: c.tensor.dtype,
        dims: [...c.tensor.dims],
        bytes: c.bytes,
      })),
    verification: verifyModel(model),
  });
}

function elementsOf(t: Tensor): number {
  return t.dims.reduce((a, b) => a * b, 1);
}

function bytesOf(t: Tensor): number {
  return t.dtype === 'string' ? t.data.reduce((s, b) => s + b.byteLength, 0) : byteLengthOf(t.dtype, elementsOf(t));
}

function dtypeTotals(
  sized: ReadonlyArray<{ tensor: Tensor; elements: number; bytes: number }>,
): InspectReport['bytesByDtype'] {
  const totals = new Map<string, { tensors: number; elements: number; bytes: number }>();
  for (const c of sized) {
    const t = totals.get(c.tensor.dtype) ?? { tensors: 0, elements: 0, bytes: 0 };
    t.tensors++;
    t.elements += c.elements;
    t.bytes += c.bytes;
    totals.set(c.tensor.dtype, t);
  }
  return [...totals]
    .map(([dtype, t]) => ({ dtype, ...t }))
    .sort((a, b) => b.bytes - a.bytes || a.dtype.localeCompare(b.dtype));
}

function valueSummary(vi: ValueInfo): InspectReport['inputs'][number] {
  if (vi.type?.kind !== 'tensor') return { name: vi.name, dtype: null, shape: null };
  return { name: vi.name, dtype: vi.type.elemType ?? null, shape: vi.type.shape ? [...vi.type.shape] : null };
}

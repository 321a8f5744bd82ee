import { byteLengthOf, stableTopoOrder, type Model } from '../ir/index.js';
import { inferShapes } from './shapes.js';

/**
 * Peak memory of running a model, computed from the graph: the bytes of its weights plus
 * the largest set of activations alive at once when nodes run one after another in
 * topological order (a value lives from its producer until its last consumer; graph inputs
 * from the start, graph outputs to the end). onnxruntime's planner reuses and fuses buffers,
 * so this is the model's own requirement, not the runtime's exact figure.
 */
export interface GraphMemory {
  /** Initializers plus Constant-node tensors. */
  weightBytes: number;
  /** Batch size the activations were computed for. */
  batch: number;
  /** Largest live activation set; null when some shapes are unknown. */
  activationPeakBytes: number | null;
  /** The same peak counting only values of known shape (a lower bound). */
  activationPeakKnownBytes: number;
  /** weightBytes + activationPeakBytes; null when unknown. */
  estimatedPeakBytes: number | null;
  /** Op types whose output shapes the estimator cannot infer. */
  unknownOps: string[];
  /** Values whose size is unknown. */
  unknownValues: number;
}

/** Estimate memory for the given concrete input dims (e.g. batch 1). */
export function estimateGraphMemory(
  model: Model,
  inputDims: Readonly<Record<string, readonly number[]>>,
  batch: number,
): GraphMemory {
  const g = model.graph;
  const order = stableTopoOrder(g);
  const shapes = inferShapes(g, order, inputDims);
  let weightBytes = 0;
  for (const t of g.initializers.values())
    weightBytes += byteLengthOf(
      t.dtype,
      t.dims.reduce((a, b) => a * b, 1),
    );
  const sizeOf = (name: string): number | undefined => {
    const v = shapes.values.get(name);
    return v
      ? byteLengthOf(
          v.dtype,
          v.dims.reduce((a, b) => a * b, 1),
        )
      : undefined;
  };
  // Last step at which each activation is needed.
  const lastUse = new Map<string, number>();
  order.forEach((node, step) => {
    for (const i of node.inputs) if (i !== '' && !g.initializers.has(i)) lastUse.set(i, step);
    for (const o of node.outputs) if (o !== '' && !lastUse.has(o)) lastUse.set(o, step);
  });
  for (const out of g.outputs) lastUse.set(out.name, order.length);
  const born = new Map<string, number>();
  for (const vi of g.inputs) if (!g.initializers.has(vi.name)) born.set(vi.name, 0);
  order.forEach((node, step) => {
    if (node.opType === 'Constant') {
      for (const o of node.outputs) weightBytes += sizeOf(o) ?? 0;
      return;
    }
    for (const o of node.outputs) if (o !== '') born.set(o, step);
  });
  let peakKnown = 0;
  let peakComplete = true;
  for (let step = 0; step < Math.max(1, order.length); step++) {
    let known = 0;
    let complete = true;
    for (const [name, b] of born) {
      if (b > step || (lastUse.get(name) ?? b) < step) continue;
      const s = sizeOf(name);
      if (s === undefined) complete = false;
      else known += s;
    }
    if (known > peakKnown) peakKnown = known;
    if (!complete) peakComplete = false;
  }
  const activationPeakBytes = peakComplete ? peakKnown : null;
  return {
    weightBytes,
    batch,
    activationPeakBytes,
    activationPeakKnownBytes: peakKnown,
    estimatedPeakBytes: activationPeakBytes === null ? null : weightBytes + activationPeakBytes,
    unknownOps: shapes.unknownOps,
    unknownValues: shapes.unknownValues,
  };
}

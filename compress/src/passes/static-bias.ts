/**
 * Bias correction inside int8-static, as one of the per-layer choices tried before the fallback
 * reverts a layer to float (empirical bias correction, Nagel et al. 2019 §4.2): the mean output
 * error a quantized layer makes, per output channel, is measured on the calibration data and
 * folded into its int32 bias. Whether a layer keeps its correction is decided once, on the first
 * fully quantized trial, by the error it then adds (the correction must lower it); later trials
 * correct the same layers.
 */
import type { Graph } from '../ir/graph.js';
import type { Model, Node } from '../ir/types.js';
import { addBiasCorrection } from './bias-apply.js';
import type { CalibrationRunner } from './types.js';

/** One quantized layer of a trial and the float tensor its output should match. */
interface Layer {
  readonly node: Node;
  readonly candidate: string;
  readonly reference: string;
  readonly axis: number;
}

function layersOf(float: Model, graph: Graph, names: ReadonlySet<string>): Layer[] {
  const out: Layer[] = [];
  for (const node of graph.nodes) {
    if (!names.has(node.name)) continue;
    const candidate = node.outputs[0] ?? '';
    const twin = float.graph.nodes.find((n) => n.name === node.name);
    const reference = float.graph.producerOf(candidate) ? candidate : twin?.outputs[0];
    if (!reference) continue;
    out.push({ node, candidate, reference, axis: node.opType === 'Conv' ? 1 : -1 });
  }
  return out;
}

/** Channel means of the float model, computed once per tensor. */
export function createFloatMeans(
  float: Model,
  calibration: CalibrationRunner,
): (tensors: ReadonlyArray<{ name: string; axis: number }>) => Promise<Map<string, Float64Array>> {
  const known = new Map<string, Float64Array>();
  return async (tensors) => {
    const todo = tensors.filter((t) => !known.has(t.name));
    if (todo.length > 0) for (const [k, v] of await calibration.channelMeans(float, todo)) known.set(k, v);
    return new Map(tensors.flatMap((t) => (known.has(t.name) ? [[t.name, known.get(t.name) as Float64Array]] : [])));
  };
}

/**
 * Correct the biases of layers `names` of `trial` (its graph is changed in place) by
 * mean(float) − mean(quantized) per channel, measured jointly on the calibration data.
 * Returns how each corrected layer's bias was changed, by node name.
 */
export async function correctBiases(
  float: Model,
  trial: Model,
  names: ReadonlySet<string>,
  calibration: CalibrationRunner,
  floatMeans: ReturnType<typeof createFloatMeans>,
): Promise<Map<string, string>> {
  const layers = layersOf(float, trial.graph, names);
  if (layers.length === 0) return new Map();
  const ref = await floatMeans(layers.map((l) => ({ name: l.reference, axis: l.axis })));
  const got = await calibration.channelMeans(
    trial,
    layers.map((l) => ({ name: l.candidate, axis: l.axis })),
  );
  const done = new Map<string, string>();
  for (const l of layers) {
    const r = ref.get(l.reference);
    const q = got.get(l.candidate);
    if (!r || !q || r.length !== q.length) continue;
    const corr = r.map((v, i) => v - (q[i] ?? 0));
    const where = addBiasCorrection(trial.graph, l.node, corr);
    if (!where.startsWith('skip:')) {
      const maxAbs = corr.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      done.set(l.node.name, `bias corrected (${where}, largest channel shift ${maxAbs.toPrecision(3)})`);
    }
  }
  return done;
}

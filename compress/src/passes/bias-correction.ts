/**
 * `bias-correction`: after a weight-quantizing pass, shift each quantized layer's bias by the
 * mean output error it makes on the calibration data (empirical bias correction, Nagel et al.
 * 2019, "Data-Free Quantization", §4.2): rounding weights biases a layer's output by
 * E[(W − Ŵ)x], which a per-channel constant added to the bias removes.
 *
 * For each quantized Conv/Gemm/MatMul (QDQ weights), MatMulNBits and DynamicQuantizeMatMul the
 * pass takes the per-output-channel mean of the layer's output in the float model and in the
 * quantized one (both exposed as extra graph outputs of a copy); E[float − quant] equals
 * mean(float) − mean(quant), so two streaming means replace storing both activations.
 *
 * Order (option `mode`):
 * - `sequential` (default): layers in topological order, each measured on the quantized model
 *   with every correction upstream already applied. A layer then compensates the error that
 *   actually reaches it, and its correction is not double-counted downstream. Costs one run of
 *   the quantized model over the calibration data per layer (plus one float run).
 * - `joint`: all layers from one run of each model. Each correction is measured with the
 *   upstream layers still uncorrected, so downstream layers also absorb upstream bias that the
 *   upstream corrections remove as well (over-correction on deep nets); for large models where
 *   one run per layer is too slow.
 *
 * The float reference is the model just before the first pass that quantized it (the pipeline
 * keeps that snapshot for passes that ask for it), so fold-batchnorm and opset changes are in
 * both models and layers match by node name.
 */
import type { Graph } from '../ir/graph.js';
import type { Model, Node } from '../ir/types.js';
import { allGraphs } from '../ir/scopes.js';
import { addBiasCorrection } from './bias-apply.js';
import type { CalibrationRunner, NodeNote, Pass, PassContext, PassReport } from './types.js';
import { refused } from './types.js';
import { dropUnusedInitializers, quantizedOpsIn } from './util.js';

/** Options of the pass. */
export interface BiasCorrectionOptions {
  /** `sequential` (default) or `joint`; see the module comment. */
  readonly mode?: 'sequential' | 'joint';
}

/** One quantized layer and the tensors that carry its output in both models. */
interface Layer {
  readonly node: Node;
  readonly reference: string;
  readonly candidate: string;
  /** Output channel axis: 1 for Conv (NCHW), -1 (last) for Gemm/MatMul. */
  readonly axis: number;
  readonly precision: string;
  /** Op type before quantization (what the quantizer's note says), e.g. Gemm for a MatMulNBits. */
  readonly opType: string;
}

/** Create the pass. */
export function createBiasCorrectionPass(opts: BiasCorrectionOptions = {}): Pass {
  return { name: 'bias-correction', needsFloatReference: true, run: (g, ctx) => runBiasCorrection(g, ctx, opts) };
}

const isDq = (graph: Graph, value: string | undefined): boolean =>
  graph.producerOf(value ?? '')?.opType === 'DequantizeLinear';

/** The precision a quantized layer runs at, or undefined when `node` is not a quantized layer. */
function quantizedPrecision(graph: Graph, node: Node): string | undefined {
  if (node.opType === 'MatMulNBits') return 'int4';
  if (node.opType === 'DynamicQuantizeMatMul') return 'int8';
  if (!['Conv', 'Gemm', 'MatMul'].includes(node.opType) || !isDq(graph, node.inputs[1])) return undefined;
  return isDq(graph, node.inputs[0]) ? 'int8' : 'int8-weights';
}

/** Quantized layers inside subgraphs: their outputs cannot be observed, so they are reported, not corrected. */
function subgraphLayers(root: Graph, skipped: NodeNote[]): void {
  for (const { graph, label, owner } of allGraphs(root)) {
    if (!owner) continue;
    for (const node of graph.nodes) {
      const precision = quantizedPrecision(graph, node);
      if (precision === undefined) continue;
      skipped.push({
        node: node.name,
        opType: node.opType,
        precision,
        reason:
          `bias not corrected: inside ${label}, where channel means cannot be observed (a subgraph value ` +
          `cannot be a model output)`,
      });
    }
  }
}

/** Quantized layers of `graph` in topological order, matched to their float counterparts in `reference`. */
function findLayers(graph: Graph, reference: Graph, skipped: NodeNote[]): Layer[] {
  const layers: Layer[] = [];
  subgraphLayers(graph, skipped);
  for (const node of graph.nodes) {
    const precision = quantizedPrecision(graph, node);
    if (precision === undefined) continue;
    const candidate = node.outputs[0] ?? '';
    const byName = node.name === '' ? undefined : reference.nodes.find((n) => n.name === node.name);
    const twin =
      byName && ['Conv', 'Gemm', 'MatMul'].includes(byName.opType) ? byName : reference.producerOf(candidate);
    const ref = twin?.outputs[0];
    if (!twin || ref === undefined || ref === '') {
      skipped.push({
        node: node.name,
        opType: node.opType,
        precision,
        reason: 'bias not corrected: no float counterpart of this layer in the reference model',
      });
      continue;
    }
    layers.push({
      node,
      reference: ref,
      candidate,
      axis: node.opType === 'Conv' ? 1 : -1,
      precision,
      opType: twin.opType,
    });
  }
  return layers;
}

interface Measured {
  readonly layer: Layer;
  readonly corr: Float64Array;
}

/** mean(float) − mean(quant) per channel for `layers`, measured on the current quantized model. */
async function corrections(
  calib: CalibrationRunner,
  model: Model,
  refMeans: ReadonlyMap<string, Float64Array>,
  layers: readonly Layer[],
): Promise<Measured[] | string> {
  const got = await calib.channelMeans(
    model,
    layers.map((l) => ({ name: l.candidate, axis: l.axis })),
  );
  const out: Measured[] = [];
  for (const layer of layers) {
    const r = refMeans.get(layer.reference);
    const q = got.get(layer.candidate);
    if (!r || !q) return `no channel means for ${layer.node.name} (${layer.reference} / ${layer.candidate})`;
    if (r.length !== q.length) return `${layer.node.name}: ${r.length} float channels vs ${q.length} quantized`;
    out.push({ layer, corr: r.map((v, i) => v - (q[i] ?? 0)) });
  }
  return out;
}

function norms(corr: Float64Array): { l2: number; maxAbs: number } {
  let s = 0;
  let m = 0;
  for (const v of corr) {
    s += v * v;
    m = Math.max(m, Math.abs(v));
  }
  return { l2: Math.sqrt(s), maxAbs: m };
}

function preconditions(graph: Graph, ctx: PassContext): string | undefined {
  if (!ctx.calibration)
    return (
      'bias correction measures output error on calibration data; give --calib mnist:256, a sample directory ' +
      'or random:N'
    );
  if (quantizedOpsIn(graph).length === 0)
    return (
      'nothing to correct: the model is not quantized (the quantizing pass before it left every layer in float, ' +
      'see its report, or none ran); put bias-correction after int8-weights, int8-static, int4-weights or int8-dynamic'
    );
  if (!ctx.original)
    return (
      'no float reference: the model was already quantized when the recipe started; run bias-correction in the ' +
      'same recipe as the quantizing pass, on the float original'
    );
  return undefined;
}

async function runBiasCorrection(graph: Graph, ctx: PassContext, opts: BiasCorrectionOptions): Promise<PassReport> {
  const why = preconditions(graph, ctx);
  if (why !== undefined || !ctx.calibration || !ctx.original)
    return refused('bias-correction', why ?? 'preconditions not met');
  const calib = ctx.calibration;
  const skipped: NodeNote[] = [];
  const layers = findLayers(graph, ctx.original.graph, skipped);
  // Nothing quantized where it can be measured (the quantizer before left every layer in float, or
  // only quantized layers inside subgraphs): a report line, not a failed recipe.
  if (layers.length === 0)
    return {
      pass: 'bias-correction',
      ok: true,
      summary:
        `no bias corrected: none of the ${skipped.length} quantized layer(s) can be measured (see the ` +
        `per-layer reasons)`,
      changed: [],
      skipped,
      stats: { corrected: 0, notCorrected: skipped.length },
    };
  const mode = opts.mode ?? 'sequential';
  const refMeans = await calib.channelMeans(
    ctx.original,
    layers.map((l) => ({ name: l.reference, axis: l.axis })),
  );
  // Measure everything before changing anything, so a measurement failure leaves the graph untouched.
  const first = await corrections(calib, ctx.model, refMeans, mode === 'joint' ? layers : layers.slice(0, 1));
  if (typeof first === 'string') return refused('bias-correction', first);
  const changed: NodeNote[] = [];
  let worst = 0;
  let sumL2 = 0;
  for (let i = 0; i < layers.length; i++) {
    ctx.onProgress?.({ pass: 'bias-correction', done: i, total: layers.length, what: layers[i]?.node.name ?? '' });
    const m =
      mode === 'joint' || i === 0
        ? first[i]
        : (await corrections(calib, ctx.model, refMeans, layers.slice(i, i + 1)))[0];
    if (m === undefined || typeof m === 'string')
      return { ...refused('bias-correction', `measuring layer ${layers[i]?.node.name}: ${m ?? 'no result'}`), changed };
    const { layer, corr } = m;
    const where = addBiasCorrection(graph, layer.node, corr);
    const { l2, maxAbs } = norms(corr);
    const stat = `L2 ${l2.toPrecision(3)}, max |Δ| ${maxAbs.toPrecision(3)} over ${corr.length} channels`;
    if (where.startsWith('skip:')) {
      skipped.push({
        node: layer.node.name,
        opType: layer.opType,
        precision: layer.precision,
        reason: `bias not corrected (${where.slice(5).trim()}); measured ${stat}`,
      });
      continue;
    }
    changed.push({
      node: layer.node.name,
      opType: layer.opType,
      precision: layer.precision,
      reason: `bias corrected (${where}): ${stat}`,
    });
    worst = Math.max(worst, maxAbs);
    sumL2 += l2;
  }
  graph.topoSort();
  const dropped = dropUnusedInitializers(graph);
  return {
    pass: 'bias-correction',
    ok: true,
    summary:
      `${changed.length} layer bias(es) corrected (${mode}), ${skipped.length} not; largest channel ` +
      `correction ${worst.toPrecision(3)}`,
    changed,
    skipped,
    stats: {
      corrected: changed.length,
      notCorrected: skipped.length,
      meanCorrectionL2: changed.length ? sumL2 / changed.length : 0,
      maxCorrectionAbs: worst,
      initializersDropped: dropped,
    },
  };
}

/**
 * The plan of a static int8 quantization, separate from calibration so the sensitivity fallback
 * can re-plan with more layers in float: which Conv/MatMul/Gemm nodes get QDQ, which activation
 * tensors need calibrated parameters, and which tensors only pass values through
 * (MaxPool/Flatten/Reshape/Transpose/Squeeze/Unsqueeze after a quantized output) and therefore
 * share the producer's parameters. Shared parameters are what lets onnxruntime drop the DQ→op→Q
 * around such ops and keep the integer chain (QLinearConv → uint8 MaxPool → QLinearConv) instead
 * of dequantizing to float and requantizing with a second calibrated scale.
 */
import type { Graph } from '../ir/graph.js';
import type { Node } from '../ir/types.js';
import { outputChannelAxis, type QParams } from '../quant/int8.js';
import { addQParams, insertActivationQdq, quantizeBiasInput, quantizeWeightInput, type QParamNames } from './qdq.js';
import type { Exclusions, NodeNote } from './types.js';
import { exclusionReason, floatInit, intAttr, linearWeight } from './util.js';

/** Ops that move or select values without changing them: quantized input ⇒ same-parameter quantized output. */
export const PASS_THROUGH_OPS: ReadonlySet<string> = new Set([
  'MaxPool',
  'Flatten',
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
]);

/** One node to quantize. */
export interface Target {
  readonly node: Node;
  /** Output tensor to quantize (after a removable Relu), or undefined when the output stays float. */
  readonly out: string | undefined;
  readonly relu: Node | undefined;
}

/** What a static quantization will do to a graph. */
export interface StaticPlan {
  readonly targets: Target[];
  readonly skipped: NodeNote[];
  /** Tensors whose range must be calibrated. */
  readonly calibrate: string[];
  /** Pass-through tensor → the calibrated tensor whose parameters it shares. */
  readonly shared: Map<string, string>;
}

function weightProblem(graph: Graph, node: Node): string | undefined {
  if (node.opType === 'Conv') {
    if (!floatInit(graph, node.inputs[1])) return 'Conv weight is not a float32 initializer';
    if (node.inputs[2] && !floatInit(graph, node.inputs[2])) return 'Conv bias is not a float32 initializer';
    return undefined;
  }
  const info = linearWeight(graph, node);
  return typeof info === 'string' ? info : undefined;
}

function selectTargets(graph: Graph, exclude: Exclusions, skipped: NodeNote[], floatOutputs: boolean): Target[] {
  const targets: Target[] = [];
  for (const node of graph.nodes) {
    if (!['Conv', 'MatMul', 'Gemm'].includes(node.opType)) {
      if (node.opType === 'ConvTranspose')
        skipped.push({
          node: node.name,
          opType: node.opType,
          precision: 'fp32',
          reason: 'ConvTranspose is not quantized by this pass',
        });
      continue;
    }
    const why = exclusionReason(node, exclude) ?? weightProblem(graph, node);
    if (why !== undefined) {
      skipped.push({ node: node.name, opType: node.opType, precision: 'fp32', reason: why });
      continue;
    }
    const y = node.outputs[0] ?? '';
    const readers = graph.consumersOf(y);
    const relu =
      readers.length === 1 && readers[0]?.opType === 'Relu' && !graph.isGraphOutput(y) ? readers[0] : undefined;
    const out = relu ? relu.outputs[0] : y;
    // A graph output is quantized too (Q→DQ, the DQ writes the output name), as onnxruntime's own
    // quantizer does: left as a float Conv/Gemm output, onnxruntime cannot fuse the layer.
    const keepFloat = floatOutputs && out !== undefined && graph.isGraphOutput(out);
    targets.push({ node, relu, out: out !== undefined && out !== '' && !keepFloat ? out : undefined });
  }
  return targets;
}

/**
 * Walk back from `value` through pass-through ops to a quantized output; returns the chain (value first) and its head.
 */
function passThroughChain(
  graph: Graph,
  value: string,
  quantizedOuts: ReadonlySet<string>,
): { chain: string[]; head: string } | undefined {
  const chain: string[] = [];
  let v = value;
  for (let p = graph.producerOf(v); p && PASS_THROUGH_OPS.has(p.opType); p = graph.producerOf(v)) {
    chain.push(v);
    const src = p.inputs[0];
    if (src === undefined || src === '' || graph.isGraphOutput(v)) return undefined;
    if (quantizedOuts.has(src)) return { chain, head: src };
    v = src;
  }
  return undefined;
}

/**
 * Plan a static quantization of `graph` with `exclude` kept in float. `floatOutputs` keeps a
 * layer that writes a graph output in float at its output (exact float results, no fusion).
 */
export function planStatic(graph: Graph, exclude: Exclusions, floatOutputs = false): StaticPlan {
  const skipped: NodeNote[] = [];
  const targets = selectTargets(graph, exclude, skipped, floatOutputs);
  const outs = new Set(targets.flatMap((t) => (t.out === undefined ? [] : [t.out])));
  const calibrate = new Set<string>(outs);
  const shared = new Map<string, string>();
  for (const t of targets) {
    const x = t.node.inputs[0] ?? '';
    if (outs.has(x) || shared.has(x)) continue;
    const found = passThroughChain(graph, x, outs);
    if (found) for (const c of found.chain) shared.set(c, found.head);
    else calibrate.add(x);
  }
  return { targets, skipped, calibrate: [...calibrate], shared };
}

/**
 * Apply a plan with calibrated parameters; returns the notes of the
 * nodes changed (`describe` names how a tensor's range was chosen).
 */
export function applyStatic(
  graph: Graph,
  plan: StaticPlan,
  params: ReadonlyMap<string, QParams>,
  describe: (tensor: string) => string = () => '',
): NodeNote[] {
  const paramsOf = (name: string): QParams | undefined => params.get(plan.shared.get(name) ?? name);
  const changed: NodeNote[] = [];
  for (const t of plan.targets) {
    const { node } = t;
    const w = floatInit(graph, node.inputs[1]);
    const xp = paramsOf(node.inputs[0] ?? '');
    if (!w || !xp) continue;
    const transB = intAttr(node, 'transB', 0) === 1;
    const use =
      node.opType === 'Conv'
        ? { op: 'Conv' as const }
        : node.opType === 'Gemm'
          ? { op: 'Gemm' as const, transB }
          : { op: 'MatMul' as const };
    const axis = outputChannelAxis(use, w.dims.length);
    const wScales = quantizeWeightInput(graph, node, 1, w, axis);
    const b = floatInit(graph, node.inputs[2]);
    if (b && b.data.length === wScales.length) quantizeBiasInput(graph, node, 2, b, xp.scale, wScales);
    if (t.relu && t.out !== undefined) {
      // Fold the Relu into the output quantization: the node now writes the Relu's output name.
      const y = node.outputs[0] ?? '';
      graph.removeNode(t.relu);
      graph.setNodeOutput(node, 0, t.relu.outputs[0] ?? y);
    }
    const how = t.out === undefined ? '' : describe(plan.shared.get(t.out) ?? t.out);
    changed.push({
      node: node.name,
      opType: node.opType,
      precision: 'int8',
      reason:
        `int8 per-channel weights (axis ${axis}), ${xp.type} activations` +
        (how ? `, output ${how}` : '') +
        (t.relu && t.out ? ', Relu folded into the output range' : '') +
        (t.out !== undefined && graph.isGraphOutput(t.out) ? ', graph output read through DequantizeLinear' : '') +
        (t.out === undefined ? ', float output' : ''),
    });
  }
  const names = new Map<string, QParamNames>();
  for (const name of [...plan.calibrate, ...plan.shared.keys()]) {
    const owner = plan.shared.get(name) ?? name;
    const p = params.get(owner);
    if (!p) continue;
    let n = names.get(owner);
    if (!n) {
      n = addQParams(graph, owner, p);
      names.set(owner, n);
    }
    insertActivationQdq(graph, name, n);
  }
  return changed;
}

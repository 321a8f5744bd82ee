/**
 * Where a quantized layer's bias lives and how to add a per-channel correction to it, for the
 * bias-correction pass. Every layout our quantizing passes emit is covered:
 * - a float32 initializer bias (int8-weights Conv/Gemm, MatMulNBits input 5, DynamicQuantizeMatMul input 4);
 * - an int32 bias read through DequantizeLinear (int8-static): the correction is rounded to the
 *   bias' own scale (x_scale·w_scale[c]), so the layout onnxruntime fuses into QLinearConv/QGemm stays;
 * - no bias: Conv/Gemm get one (int32 through DequantizeLinear when input and weight are QDQ, so
 *   fusion still happens), MatMulNBits/DynamicQuantizeMatMul get their optional bias input, and a
 *   MatMul folds the correction into a following Add of a constant or gets an Add of its own.
 * The corrected bias is always a fresh initializer (the old one is dropped if nothing else reads it),
 * so a bias shared between layers is never corrected twice.
 */
import type { Graph } from '../ir/graph.js';
import type { Node } from '../ir/types.js';
import { clamp, roundHalfEven } from '../quant/rounding.js';
import { quantizeBiasInput } from './qdq.js';
import { floatInit, mkTensor, numel } from './util.js';

/** Input slot of the optional bias per op type. */
const BIAS_SLOT: Readonly<Record<string, number>> = { Conv: 2, Gemm: 2, MatMulNBits: 5, DynamicQuantizeMatMul: 4 };

/** Set input `slot`, padding skipped optional inputs with ''. */
function setInputAt(graph: Graph, node: Node, slot: number, value: string): void {
  while (node.inputs.length < slot) graph.setNodeInput(node, node.inputs.length, '');
  graph.setNodeInput(node, slot, value);
}

function addToFloatInit(graph: Graph, node: Node, slot: number, name: string, corr: Float64Array): string | undefined {
  const b = floatInit(graph, name);
  if (!b) return undefined;
  if (b.data.length !== corr.length) return `bias has ${b.data.length} values for ${corr.length} channels`;
  const data = b.data.map((v, i) => v + (corr[i] ?? 0));
  const fresh = graph.freshName(`${b.name}_bc`);
  graph.addInitializer(mkTensor(fresh, 'float32', [...b.dims], data));
  graph.setNodeInput(node, slot, fresh);
  return '';
}

/** Correct an int32 bias read through DequantizeLinear(q, scale[, zp]) in the integer domain. */
function addToInt32Bias(graph: Graph, dq: Node, corr: Float64Array): string | undefined {
  const q = graph.initializers.get(dq.inputs[0] ?? '');
  const scale = floatInit(graph, dq.inputs[1]);
  if (q?.dtype !== 'int32' || !scale) return 'bias DequantizeLinear does not read constant int32 values and scales';
  if (q.data.length !== corr.length) return `bias has ${q.data.length} values for ${corr.length} channels`;
  if (graph.consumersOf(dq.outputs[0] ?? '').length !== 1) return 'the dequantized bias is shared with other layers';
  const data = new Int32Array(q.data.length);
  for (let i = 0; i < data.length; i++) {
    const s = scale.data.length === 1 ? (scale.data[0] ?? 1) : (scale.data[i] ?? 1);
    data[i] = clamp((q.data[i] ?? 0) + roundHalfEven((corr[i] ?? 0) / (s || 1)), -2147483648, 2147483647);
  }
  const fresh = graph.freshName(`${q.name}_bc`);
  graph.addInitializer(mkTensor(fresh, 'int32', [...q.dims], data));
  graph.setNodeInput(dq, 0, fresh);
  return '';
}

/** Scale of the DequantizeLinear feeding input `slot`, when it reads constant scales. */
function dqScales(graph: Graph, node: Node, slot: number): Float32Array | undefined {
  const dq = graph.producerOf(node.inputs[slot] ?? '');
  return dq?.opType === 'DequantizeLinear' ? floatInit(graph, dq.inputs[1])?.data : undefined;
}

/** Give a Conv/Gemm without bias one: int32 through DQ when its input and weight are QDQ, float otherwise. */
function newBias(graph: Graph, node: Node, slot: number, corr: Float64Array): void {
  const values = Float32Array.from(corr);
  const name = graph.freshName(`${node.name || node.opType}_bias_bc`);
  const xScale = dqScales(graph, node, 0);
  const wScales = dqScales(graph, node, 1);
  if (
    (node.opType === 'Conv' || node.opType === 'Gemm') &&
    xScale?.length === 1 &&
    wScales &&
    (wScales.length === corr.length || wScales.length === 1)
  ) {
    const perChannel = wScales.length === 1 ? new Float32Array(corr.length).fill(wScales[0] ?? 1) : wScales;
    setInputAt(graph, node, slot, '');
    quantizeBiasInput(graph, node, slot, mkTensor(name, 'float32', [corr.length], values), xScale[0] ?? 1, perChannel);
    return;
  }
  graph.addInitializer(mkTensor(name, 'float32', [corr.length], values));
  setInputAt(graph, node, slot, name);
}

/** A MatMul has no bias input: fold into a following `Add(y, const)` or add an Add of its own. */
function correctMatMul(graph: Graph, node: Node, corr: Float64Array): string {
  const y = node.outputs[0] ?? '';
  const readers = graph.consumersOf(y);
  const add = readers.length === 1 && !graph.isGraphOutput(y) && readers[0]?.opType === 'Add' ? readers[0] : undefined;
  const slot = add ? add.inputs.findIndex((v) => v !== y) : -1;
  const c = add && slot >= 0 ? floatInit(graph, add.inputs[slot]) : undefined;
  if (add && c && numel(c.dims) === corr.length && c.dims.length <= 2) {
    const why = addToFloatInit(graph, add, slot, c.name, corr);
    return why === ''
      ? `added to the constant of the following Add ${add.name}`
      : (why ?? 'following Add has no float constant');
  }
  if (readers.some((r) => r.opType === 'QuantizeLinear'))
    return (
      'skip: the MatMul output is quantized (int8-static); an Add between MatMul and QuantizeLinear would break ' +
      "onnxruntime's integer fusion"
    );
  const mid = graph.freshName(`${y}_nobias`);
  const name = graph.freshName(`${node.name || 'MatMul'}_bias_bc`);
  graph.addInitializer(mkTensor(name, 'float32', [corr.length], Float32Array.from(corr)));
  graph.setNodeOutput(node, 0, mid);
  graph.addNode(
    { name: graph.freshName(`${node.name || 'MatMul'}_bias_add`), opType: 'Add', inputs: [mid, name], outputs: [y] },
    { after: node },
  );
  return 'new Add of a bias after the MatMul';
}

/**
 * Add `corr` (one value per output channel) to the bias of quantized layer `node`. Returns where
 * it went, or a reason starting with `skip:` when this layout cannot take a correction (the graph
 * is then unchanged).
 */
export function addBiasCorrection(graph: Graph, node: Node, corr: Float64Array): string {
  if (node.opType === 'MatMul') return correctMatMul(graph, node, corr);
  const slot = BIAS_SLOT[node.opType];
  if (slot === undefined) return `skip: ${node.opType} has no bias input`;
  const current = node.inputs[slot] ?? '';
  if (current === '') {
    newBias(graph, node, slot, corr);
    return 'new bias';
  }
  const asFloat = addToFloatInit(graph, node, slot, current, corr);
  if (asFloat === '') return 'float bias';
  if (asFloat !== undefined) return `skip: ${asFloat}`;
  const dq = graph.producerOf(current);
  if (dq?.opType !== 'DequantizeLinear')
    return 'skip: bias is neither a float32 constant nor a dequantized int32 constant';
  const why = addToInt32Bias(graph, dq, corr);
  return why === '' ? 'int32 bias (rounded to its scale)' : `skip: ${why ?? 'unsupported bias'}`;
}

/**
 * QDQ building blocks shared by int8-weights and int8-static [ONNX:QuantizeLinear],
 * [ONNX:DequantizeLinear]: constant weights become int8 initializers read through a per-axis
 * DequantizeLinear (opset ≥ 13), biases become int32 read through DequantizeLinear with scale
 * x_scale · w_scale[c] and no zero point (the layout onnxruntime folds into QLinearConv/QGemm without inserting ops of
 * its own), and activations get a Q→DQ pair right after their producer.
 *
 * The Q/DQ nodes are unnamed (ONNX names are optional): their output names already say what
 * they are, and on a 200 KB model twenty generated node names are a visible share of the file.
 */
import type { Graph } from '../ir/graph.js';
import type { Node, TensorOf } from '../ir/types.js';
import { quantizePerChannelInt8 } from '../quant/int8.js';
import type { QParams } from '../quant/int8.js';
import { clamp, roundHalfEven } from '../quant/rounding.js';
import { mkIntAttr, mkTensor } from './util.js';

/** Replace weight input `slot` of `node` by DQ(int8 per-channel along `axis`). Returns the scales. */
export function quantizeWeightInput(
  graph: Graph,
  node: Node,
  slot: number,
  w: TensorOf<'float32'>,
  axis: number,
): Float32Array {
  const q = quantizePerChannelInt8(w.data, w.dims, axis);
  const qName = graph.freshName(`${w.name}_q`);
  const sName = graph.freshName(`${w.name}_scale`);
  const zName = graph.freshName(`${w.name}_zp`);
  const c = w.dims[axis] ?? 1;
  graph.addInitializer(mkTensor(qName, 'int8', [...w.dims], q.q));
  graph.addInitializer(mkTensor(sName, 'float32', [c], q.scales));
  graph.addInitializer(mkTensor(zName, 'int8', [c], new Int8Array(c)));
  const out = graph.freshName(`${w.name}_dq`);
  graph.addNode(
    {
      name: '',
      opType: 'DequantizeLinear',
      inputs: [qName, sName, zName],
      outputs: [out],
      attributes: [mkIntAttr('axis', axis)],
    },
    { before: node },
  );
  graph.setNodeInput(node, slot, out);
  return q.scales;
}

/**
 * Replace bias input `slot` by DQ(int32) with scale xScale·wScales[c]. The zero point input is
 * omitted (it defaults to 0): onnxruntime fuses the pattern either way, and on small models the
 * extra [C] int32 tensor is a measurable share of the file.
 */
export function quantizeBiasInput(
  graph: Graph,
  node: Node,
  slot: number,
  b: TensorOf<'float32'>,
  xScale: number,
  wScales: Float32Array,
): void {
  const n = b.data.length;
  const scales = new Float32Array(n);
  const q = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    scales[i] = xScale * (wScales[i] ?? 1);
    q[i] = clamp(roundHalfEven((b.data[i] ?? 0) / (scales[i] || 1)), -2147483648, 2147483647);
  }
  const qName = graph.freshName(`${b.name}_q`);
  const sName = graph.freshName(`${b.name}_scale`);
  graph.addInitializer(mkTensor(qName, 'int32', [n], q));
  graph.addInitializer(mkTensor(sName, 'float32', [n], scales));
  const out = graph.freshName(`${b.name}_dq`);
  graph.addNode(
    {
      name: '',
      opType: 'DequantizeLinear',
      inputs: [qName, sName],
      outputs: [out],
      attributes: [mkIntAttr('axis', 0)],
    },
    { before: node },
  );
  graph.setNodeInput(node, slot, out);
}

/** Names of the scale and zero-point initializers of one set of activation parameters. */
export interface QParamNames {
  readonly scale: string;
  readonly zeroPoint: string;
}

/** Add the scale and zero-point initializers for `p`, named after `value`. */
export function addQParams(graph: Graph, value: string, p: QParams): QParamNames {
  const scale = graph.freshName(`${value}_scale`);
  const zeroPoint = graph.freshName(`${value}_zp`);
  graph.addInitializer(mkTensor(scale, 'float32', [], new Float32Array([p.scale])));
  if (p.type === 'uint8') graph.addInitializer(mkTensor(zeroPoint, 'uint8', [], new Uint8Array([p.zeroPoint])));
  else graph.addInitializer(mkTensor(zeroPoint, 'int8', [], new Int8Array([p.zeroPoint])));
  return { scale, zeroPoint };
}

/**
 * Insert Q→DQ on float tensor `value` right after its producer, with the given parameter
 * initializers (tensors of one pass-through chain share them); every reader reads the DQ. When
 * `value` is a graph output, its producer writes a fresh name instead and the DQ writes `value`,
 * so the model's interface is unchanged and onnxruntime can fuse the producer with the Q.
 */
export function insertActivationQdq(graph: Graph, value: string, names: QParamNames): void {
  const producer = graph.producerOf(value);
  if (producer && graph.isGraphOutput(value)) {
    const pre = graph.freshName(`${value}_float`);
    graph.setNodeOutput(producer, producer.outputs.indexOf(value), pre);
    const qOut = graph.freshName(`${value}_q8`);
    const dq = graph.addNode(
      { name: '', opType: 'DequantizeLinear', inputs: [qOut, names.scale, names.zeroPoint], outputs: [value] },
      { after: producer },
    );
    graph.addNode(
      { name: '', opType: 'QuantizeLinear', inputs: [pre, names.scale, names.zeroPoint], outputs: [qOut] },
      { before: dq },
    );
    return;
  }
  const qOut = graph.freshName(`${value}_q8`);
  const dqOut = graph.freshName(`${value}_dq`);
  const readers = graph.consumersOf(value);
  const first = graph.nodes[0];
  const at = producer ? { after: producer } : first ? { before: first } : undefined;
  const dq = graph.addNode(
    { name: '', opType: 'DequantizeLinear', inputs: [qOut, names.scale, names.zeroPoint], outputs: [dqOut] },
    at,
  );
  const q = graph.addNode(
    { name: '', opType: 'QuantizeLinear', inputs: [value, names.scale, names.zeroPoint], outputs: [qOut] },
    { before: dq },
  );
  for (const r of readers) {
    r.inputs.forEach((v, slot) => {
      if (v === value && r !== q) graph.setNodeInput(r, slot, dqOut);
    });
  }
}

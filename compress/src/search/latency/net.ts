import { createRng } from '../../data/prng.js';
import {
  attr,
  createModel,
  floatTensor,
  tensorValueInfo,
  type Model,
  type NodeSpec,
  type Tensor,
} from '../../ir/index.js';

/**
 * Plain feed-forward networks as data, and their ONNX graphs with seeded random weights. The
 * latency predictor times chains of these layers (microbenchmarks) and the latency bench builds
 * held-out candidates from them; weights do not matter for timing, only shapes do.
 */
export type NetLayer =
  | { readonly kind: 'conv'; readonly filters: number; readonly kernel: number; readonly stride: number }
  | { readonly kind: 'dense'; readonly units: number }
  | { readonly kind: 'maxpool'; readonly size: number }
  | { readonly kind: 'globalpool' }
  | { readonly kind: 'relu' }
  | { readonly kind: 'flatten' };

/** A network: the input's per-sample dims ([C,H,W] or [F]) and its layers. */
export interface NetSpec {
  readonly name: string;
  readonly input: readonly number[];
  readonly layers: readonly NetLayer[];
}

/** Per-sample output dims of each layer (NCHW without N), or throws when a layer cannot apply. */
export function netShapes(spec: NetSpec): number[][] {
  let shape = [...spec.input];
  return spec.layers.map((l) => {
    if (l.kind === 'conv' || l.kind === 'maxpool') {
      if (shape.length !== 3) throw new RangeError(`${spec.name}: ${l.kind} needs a [C,H,W] input, got [${shape}]`);
      const [c, h, w] = shape as [number, number, number];
      const step = l.kind === 'conv' ? l.stride : l.size;
      // Same padding for convolutions (ceil), valid windows for pools (floor), as ONNX computes them.
      const out = l.kind === 'conv' ? (n: number) => Math.ceil(n / step) : (n: number) => Math.floor(n / step);
      shape = [l.kind === 'conv' ? l.filters : c, out(h), out(w)];
    } else if (l.kind === 'globalpool') {
      if (shape.length !== 3) throw new RangeError(`${spec.name}: globalpool needs a [C,H,W] input, got [${shape}]`);
      shape = [shape[0] as number, 1, 1];
    } else if (l.kind === 'dense') {
      if (shape.length !== 1) throw new RangeError(`${spec.name}: dense needs a flat input, got [${shape}]`);
      shape = [l.units];
    } else if (l.kind === 'flatten') shape = [shape.reduce((a, b) => a * b, 1)];
    return [...shape];
  });
}

/** Same padding for a k×k kernel at a stride (ONNX SAME_UPPER spelled out as pads). */
function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + kernel - size);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** The float32 ONNX model of `spec` (input `input` [N,…], output `output`), He-normal weights from `seed`. */
export function buildNet(spec: NetSpec, seed = 1): Model {
  const rng = createRng(seed);
  const shapes = netShapes(spec);
  const nodes: NodeSpec[] = [];
  const inits: Tensor[] = [];
  let cur = 'input';
  let prev = [...spec.input];
  const weights = (name: string, dims: number[], fanIn: number): string => {
    const std = Math.sqrt(2 / fanIn);
    const values = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal() * std);
    inits.push(floatTensor(name, dims, values));
    return name;
  };
  const bias = (name: string, n: number): string => {
    inits.push(
      floatTensor(
        name,
        [n],
        Float32Array.from({ length: n }, () => rng.normal() * 0.01),
      ),
    );
    return name;
  };
  spec.layers.forEach((l, i) => {
    const out = i === spec.layers.length - 1 ? 'output' : `l${i}.out`;
    const c = prev[0] as number;
    if (l.kind === 'conv') {
      const [ph0, ph1] = samePads(prev[1] as number, l.kernel, l.stride);
      const [pw0, pw1] = samePads(prev[2] as number, l.kernel, l.stride);
      const w = weights(`l${i}.weight`, [l.filters, c, l.kernel, l.kernel], c * l.kernel * l.kernel);
      nodes.push({
        opType: 'Conv',
        name: `l${i}.conv`,
        inputs: [cur, w, bias(`l${i}.bias`, l.filters)],
        outputs: [out],
        attributes: [
          attr.ints('kernel_shape', [l.kernel, l.kernel]),
          attr.ints('pads', [ph0, pw0, ph1, pw1]),
          attr.ints('strides', [l.stride, l.stride]),
        ],
      });
    } else if (l.kind === 'dense') {
      const w = weights(`l${i}.weight`, [c, l.units], c);
      nodes.push({ opType: 'Gemm', name: `l${i}.gemm`, inputs: [cur, w, bias(`l${i}.bias`, l.units)], outputs: [out] });
    } else if (l.kind === 'maxpool') {
      const k = [l.size, l.size];
      nodes.push({
        opType: 'MaxPool',
        name: `l${i}.pool`,
        inputs: [cur],
        outputs: [out],
        attributes: [attr.ints('kernel_shape', k), attr.ints('strides', k)],
      });
    } else if (l.kind === 'globalpool') {
      nodes.push({ opType: 'GlobalAveragePool', name: `l${i}.gap`, inputs: [cur], outputs: [out] });
    } else if (l.kind === 'relu') {
      nodes.push({ opType: 'Relu', name: `l${i}.relu`, inputs: [cur], outputs: [out] });
    } else {
      nodes.push({
        opType: 'Flatten',
        name: `l${i}.flatten`,
        inputs: [cur],
        outputs: [out],
        attributes: [attr.int('axis', 1)],
      });
    }
    cur = out;
    prev = shapes[i] as number[];
  });
  return createModel({
    opsets: { '': 13 },
    graph: {
      name: spec.name,
      inputs: [tensorValueInfo('input', 'float32', ['N', ...spec.input])],
      outputs: [tensorValueInfo('output', 'float32', ['N', ...prev])],
      initializers: inits,
      nodes,
    },
  });
}

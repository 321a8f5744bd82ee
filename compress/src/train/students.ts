import { EdgefleetError } from '@edgefleet/shared';
import { getAttrInt, getAttrInts, type Graph, type Model, type Node } from '../ir/index.js';
import { initParams, type ArchSpec, type LayerSpec } from './arch.js';
import { exportArch } from './export-onnx.js';

/**
 * Students built from a teacher's architecture. A plain chain teacher (Conv [Relu] [MaxPool] …
 * Flatten, Gemm [Relu] …, as the zoo's) is read back into an {@link ArchSpec}; transforms make a
 * narrower, shallower, strided or MLP student of it; the result is exported as an initialised
 * ONNX model with the teacher's input and output names, ready for `importTrainable`. Students
 * that are whole ONNX graphs (a pruned teacher from prune-structured, any model of the
 * trainable op set) need none of this: import them directly.
 */

/** Why a node ends the chain reading, or the layer it adds. */
function layerOf(graph: Graph, node: Node): LayerSpec | string {
  const single = (v: string | undefined): boolean => v !== undefined && graph.consumersOf(v).length <= 1;
  if (!single(node.outputs[0])) return `${node.opType} ${node.name} feeds more than one node (not a plain chain)`;
  switch (node.opType) {
    case 'Conv': {
      const w = graph.initializers.get(node.inputs[1] ?? '');
      const k = getAttrInts(node, 'kernel_shape') ?? w?.dims.slice(2);
      const pads = getAttrInts(node, 'pads', [0, 0, 0, 0]) ?? [];
      const strides = getAttrInts(node, 'strides', [1, 1]) ?? [1, 1];
      if (w?.dims.length !== 4 || !k || k[0] !== k[1] || (getAttrInt(node, 'group', 1) ?? 1) !== 1)
        return `Conv ${node.name} is not a square ungrouped 2-D convolution`;
      const kernel = k[0] as number;
      const same = pads.every((p) => p === (kernel - 1) / 2);
      if ((!same && pads.some((p) => p !== 0)) || strides[0] !== strides[1])
        return `Conv ${node.name} has padding or strides a chain student cannot copy`;
      return {
        kind: 'conv',
        filters: w.dims[0] as number,
        kernel,
        relu: false,
        stride: strides[0] as number,
        padding: same ? 'same' : 'valid',
      };
    }
    case 'MaxPool': {
      const k = getAttrInts(node, 'kernel_shape') ?? [];
      const s = getAttrInts(node, 'strides', k) ?? [];
      if (k[0] !== k[1] || s[0] !== k[0] || s[1] !== k[1])
        return `MaxPool ${node.name} is not a k×k pool with stride k`;
      return { kind: 'maxpool', size: k[0] as number };
    }
    case 'Flatten':
      return { kind: 'flatten' };
    case 'Gemm': {
      const w = graph.initializers.get(node.inputs[1] ?? '');
      if (w?.dims.length !== 2) return `Gemm ${node.name} has no constant weight`;
      const transB = (getAttrInt(node, 'transB', 0) ?? 0) === 1;
      return { kind: 'dense', units: w.dims[transB ? 0 : 1] as number, relu: false };
    }
    default:
      return `${node.opType} ${node.name} is not part of a plain chain (Conv, Relu, MaxPool, Flatten, Gemm)`;
  }
}

/** Read a plain chain model back as an architecture, or say why it is not one. */
export function describeChain(model: Model): ArchSpec | string {
  const g = model.graph;
  const input = g.inputs.find((i) => !g.initializers.has(i.name));
  const dims = input?.type?.kind === 'tensor' ? input.type.shape : undefined;
  if (!input || !dims) return 'the model has no input of known shape';
  const rest = dims.slice(1);
  if (!rest.every((d): d is number => typeof d === 'number' && d > 0))
    return 'input dims besides the batch are not fixed';
  let image: [number, number, number];
  if (rest.length === 3) image = [rest[1] as number, rest[2] as number, rest[0] as number];
  else if (rest.length === 1 && Number.isInteger(Math.sqrt(rest[0] as number)))
    image = [Math.sqrt(rest[0] as number), Math.sqrt(rest[0] as number), 1];
  else return `input [N,${rest.join(',')}] is neither [N,C,H,W] nor a flat square image`;
  const layers: LayerSpec[] = [];
  for (const node of g.nodes) {
    if (node.opType === 'Relu') {
      const last = layers.at(-1);
      if (!last || (last.kind !== 'conv' && last.kind !== 'dense') || last.relu)
        return `Relu ${node.name} follows no conv or dense layer`;
      layers[layers.length - 1] = { ...last, relu: true };
      continue;
    }
    const l = layerOf(g, node);
    if (typeof l === 'string') return l;
    layers.push(l);
  }
  if (layers.at(-1)?.kind !== 'dense') return 'the chain does not end in a dense (Gemm) layer';
  return { name: g.name || 'teacher', input: rest.length === 3 ? 'image' : 'flat', image, layers };
}

const hidden = (l: LayerSpec): l is Extract<LayerSpec, { kind: 'conv' | 'dense' }> =>
  l.kind === 'conv' || l.kind === 'dense';

/** Multiply the width of every hidden conv and dense layer (one multiplier, or one per hidden layer). */
export function narrowArch(arch: ArchSpec, multipliers: readonly number[]): ArchSpec {
  const count = arch.layers.filter(hidden).length - 1;
  if (multipliers.length !== 1 && multipliers.length !== count)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_OPTIONS',
      `width needs one multiplier or one per hidden layer (${count}); got ${multipliers.length}`,
      {},
    );
  let k = 0;
  const lastDense = arch.layers.length - 1;
  const layers = arch.layers.map((l, i) => {
    if (!hidden(l) || i === lastDense) return l;
    const m = multipliers.length === 1 ? (multipliers[0] as number) : (multipliers[k] as number);
    k++;
    const width = Math.max(1, Math.round((l.kind === 'conv' ? l.filters : l.units) * m));
    return l.kind === 'conv' ? { ...l, filters: width } : { ...l, units: width };
  });
  return { ...arch, layers };
}

/** Remove the `count` hidden layers nearest the output (pools stay, so spatial sizes do too). */
export function shallowArch(arch: ArchSpec, count: number): ArchSpec {
  const drop = new Set<number>();
  for (let i = arch.layers.length - 2; i >= 0 && drop.size < count; i--)
    if (hidden(arch.layers[i] as LayerSpec)) drop.add(i);
  if (drop.size < count)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_OPTIONS',
      `shallow:${count} asks for more hidden layers than the model has`,
      {},
    );
  return { ...arch, layers: arch.layers.filter((_, i) => !drop.has(i)) };
}

/** Every conv directly followed by a k×k max-pool becomes a conv with stride k; the pool goes. */
export function stridedArch(arch: ArchSpec): ArchSpec {
  const out: LayerSpec[] = [];
  for (const l of arch.layers) {
    const prev = out.at(-1);
    if (l.kind === 'maxpool' && prev?.kind === 'conv' && (prev.stride ?? 1) === 1)
      out[out.length - 1] = { ...prev, stride: l.size };
    else out.push(l);
  }
  return { ...arch, layers: out };
}

/** A multilayer perceptron on the flattened input with these hidden widths. */
export function mlpArch(arch: ArchSpec, widths: readonly number[]): ArchSpec {
  const classes = arch.layers.at(-1);
  if (classes?.kind !== 'dense') throw new Error('architecture does not end in a dense layer');
  return {
    ...arch,
    layers: [
      ...(arch.input === 'image' ? [{ kind: 'flatten' as const }] : []),
      ...widths.map((units) => ({ kind: 'dense' as const, units, relu: true })),
      { kind: 'dense', units: classes.units, relu: false },
    ],
  };
}

/** Initialise `arch` from `seed` and export it with the teacher's input and output names. */
export function instantiateArch(arch: ArchSpec, seed: number, names: { input: string; output: string }): Model {
  return exportArch(arch, initParams(arch, seed), {
    seed,
    epochs: 0,
    inputName: names.input,
    outputName: names.output,
    docString: `edgefleet student ${arch.name}, initialised from seed ${seed}`,
  });
}

/** Float parameters of a model (elements of its float initializers). */
export function parameterCountOf(model: Model): number {
  let n = 0;
  for (const t of model.graph.initializers.values()) if (t.dtype === 'float32') n += t.data.length;
  return n;
}

import {
  attr,
  createModel,
  floatTensor,
  tensorValueInfo,
  type Model,
  type NodeSpec,
  type Tensor,
} from '../ir/index.js';
import { imageOf, layerShapes, type ArchSpec, type ParamArray } from './arch.js';

/** Names of the exported model's one input and one output. */
export const ZOO_INPUT = 'input';
export const ZOO_OUTPUT = 'logits';
/** Opset of exported teachers: 13 has every op they use with today's semantics. */
export const ZOO_OPSET = 13;

/** HWIO (TensorFlow.js) → OIHW (ONNX Conv) [ONNX:Conv]. */
export function hwioToOihw(values: Float32Array, shape: readonly number[]): { values: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + h) * kw + w] = values[((h * kw + w) * cin + i) * cout + o] as number;
  return { values: out, dims: [cout, cin, kh, kw] };
}

/**
 * Reorder the rows of a dense weight that follows a flatten: TensorFlow.js flattens NHWC as
 * (h, w, c), ONNX's Flatten of NCHW gives (c, h, w).
 */
export function nhwcRowsToNchw(values: Float32Array, hwc: readonly number[], units: number): Float32Array {
  const [hh, ww, cc] = hwc as [number, number, number];
  const out = new Float32Array(values.length);
  for (let h = 0; h < hh; h++)
    for (let w = 0; w < ww; w++)
      for (let c = 0; c < cc; c++) {
        const src = ((h * ww + w) * cc + c) * units;
        const dst = (c * hh * ww + h * ww + w) * units;
        out.set(values.subarray(src, src + units), dst);
      }
  return out;
}

/** Descriptive fields stored in the model's doc string and metadata. */
export interface ExportInfo {
  readonly seed: number;
  readonly epochs: number;
  /** Input and output value names; default `input` and `logits`. */
  readonly inputName?: string;
  readonly outputName?: string;
  /** Doc string; default a zoo teacher's. */
  readonly docString?: string;
}

/**
 * Build the ONNX model of a trained architecture: input `input` ([N,784] or [N,1,28,28],
 * N symbolic), output `logits` [N,10], ops Gemm, Conv, Relu, MaxPool, Flatten.
 */
export function exportArch(arch: ArchSpec, params: readonly ParamArray[], info: ExportInfo): Model {
  const shapes = layerShapes(arch);
  const nodes: NodeSpec[] = [];
  const inits: Tensor[] = [];
  const inputName = info.inputName ?? ZOO_INPUT;
  const outputName = info.outputName ?? ZOO_OUTPUT;
  const image = imageOf(arch);
  let cur = inputName;
  let p = 0;
  let prevShape: number[] = arch.input === 'flat' ? [image[0] * image[1] * image[2]] : image;
  let flattenedFrom: number[] | undefined;
  arch.layers.forEach((l, i) => {
    const isLast = i === arch.layers.length - 1;
    const out = isLast && !(l.kind !== 'maxpool' && l.kind !== 'flatten' && l.relu) ? outputName : `l${i}.out`;
    if (l.kind === 'dense' || l.kind === 'conv') {
      const w = params[p++] as ParamArray;
      const b = params[p++] as ParamArray;
      if (l.kind === 'dense') {
        const values = flattenedFrom ? nhwcRowsToNchw(w.values, flattenedFrom, l.units) : w.values;
        flattenedFrom = undefined;
        inits.push(floatTensor(w.name, w.shape, values), floatTensor(b.name, b.shape, b.values));
        nodes.push({ opType: 'Gemm', name: `l${i}.gemm`, inputs: [cur, w.name, b.name], outputs: [out] });
      } else {
        const k = hwioToOihw(w.values, w.shape);
        const pad = l.padding === 'valid' ? 0 : (l.kernel - 1) / 2;
        const stride = l.stride ?? 1;
        inits.push(floatTensor(w.name, k.dims, k.values), floatTensor(b.name, b.shape, b.values));
        nodes.push({
          opType: 'Conv',
          name: `l${i}.conv`,
          inputs: [cur, w.name, b.name],
          outputs: [out],
          attributes: [
            attr.ints('kernel_shape', [l.kernel, l.kernel]),
            attr.ints('pads', [pad, pad, pad, pad]),
            attr.ints('strides', [stride, stride]),
          ],
        });
      }
      cur = out;
      if (l.relu) {
        const r = isLast ? outputName : `l${i}.relu`;
        nodes.push({ opType: 'Relu', name: `l${i}.relu`, inputs: [cur], outputs: [r] });
        cur = r;
      }
    } else if (l.kind === 'maxpool') {
      nodes.push({
        opType: 'MaxPool',
        name: `l${i}.pool`,
        inputs: [cur],
        outputs: [out],
        attributes: [attr.ints('kernel_shape', [l.size, l.size]), attr.ints('strides', [l.size, l.size])],
      });
      cur = out;
    } else {
      flattenedFrom = prevShape;
      nodes.push({
        opType: 'Flatten',
        name: `l${i}.flatten`,
        inputs: [cur],
        outputs: [out],
        attributes: [attr.int('axis', 1)],
      });
      cur = out;
    }
    prevShape = shapes[i] as number[];
  });
  const inputDims = arch.input === 'flat' ? ['N', image[0] * image[1] * image[2]] : ['N', image[2], image[0], image[1]];
  const classes = shapes.at(-1)?.[0] ?? 10;
  const model = createModel({
    opsets: { '': ZOO_OPSET },
    docString:
      info.docString ??
      `edgefleet zoo teacher ${arch.name}: trained with TensorFlow.js on the MNIST train split (seed ${info.seed}, ` +
        `${info.epochs} epochs); output is 10 class scores (logits).`,
    graph: {
      name: arch.name,
      inputs: [tensorValueInfo(inputName, 'float32', inputDims)],
      outputs: [tensorValueInfo(outputName, 'float32', ['N', classes])],
      initializers: inits,
      nodes,
    },
  });
  model.metadataProps.push(
    { key: 'edgefleet.arch', value: arch.name },
    { key: 'edgefleet.seed', value: String(info.seed) },
    { key: 'edgefleet.epochs', value: String(info.epochs) },
  );
  return model;
}

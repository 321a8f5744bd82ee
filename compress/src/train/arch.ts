import { createRng } from '../data/prng.js';
import { tf } from './backend.js';
import { conv2dSame } from './conv2d-grad.js';

/**
 * Teacher architectures as data: a list of layers the trainer, the weight files and the
 * ONNX exporter all walk in the same order. Tensors inside training are NHWC (TensorFlow.js
 * layout); the exporter converts to ONNX's NCHW.
 */
export type LayerSpec =
  | { readonly kind: 'dense'; readonly units: number; readonly relu: boolean }
  | {
      readonly kind: 'conv';
      readonly filters: number;
      readonly kernel: number;
      readonly relu: boolean;
      /** Stride of both axes; default 1. */
      readonly stride?: number;
      /** `same` (default; odd kernels, pad (k−1)/2) or `valid` (no padding). */
      readonly padding?: 'same' | 'valid';
    }
  | { readonly kind: 'maxpool'; readonly size: number }
  | { readonly kind: 'flatten' };

/** A network: input layout plus layers. */
export interface ArchSpec {
  readonly name: string;
  /** `flat`: input [N,784]; `image`: input [N,28,28,1] in training, [N,1,28,28] in ONNX. */
  readonly input: 'flat' | 'image';
  readonly layers: readonly LayerSpec[];
  /** Image size as [H, W, C]; default MNIST's [28, 28, 1]. A flat input has H·W·C features. */
  readonly image?: readonly [number, number, number];
}

/** [H, W, C] of an architecture's images. */
export function imageOf(arch: ArchSpec): [number, number, number] {
  return [...(arch.image ?? [28, 28, 1])] as [number, number, number];
}

/** Spatial output size of a conv layer on `size`. */
export function convOut(size: number, l: { kernel: number; stride?: number; padding?: 'same' | 'valid' }): number {
  const s = l.stride ?? 1;
  return l.padding === 'valid' ? Math.floor((size - l.kernel) / s) + 1 : Math.floor((size - 1) / s) + 1;
}

/** Two hidden layers (256, 128), ReLU. */
export const MNIST_MLP: ArchSpec = Object.freeze<ArchSpec>({
  name: 'mnist-mlp',
  input: 'flat',
  layers: [
    { kind: 'dense', units: 256, relu: true },
    { kind: 'dense', units: 128, relu: true },
    { kind: 'dense', units: 10, relu: false },
  ],
});

/** Two 3x3 conv layers (8, 16 channels) with 2x2 max-pooling, a 64-unit hidden layer. */
export const MNIST_CNN: ArchSpec = Object.freeze<ArchSpec>({
  name: 'mnist-cnn',
  input: 'image',
  layers: [
    { kind: 'conv', filters: 8, kernel: 3, relu: true },
    { kind: 'maxpool', size: 2 },
    { kind: 'conv', filters: 16, kernel: 3, relu: true },
    { kind: 'maxpool', size: 2 },
    { kind: 'flatten' },
    { kind: 'dense', units: 64, relu: true },
    { kind: 'dense', units: 10, relu: false },
  ],
});

/**
 * The classic MNIST CNN (the Keras example): two unpadded 3x3 convolutions of 32 and 64
 * channels, one 2x2 max-pool, a 128-unit hidden layer; 1.2 M parameters. Over-parameterised on
 * purpose: a teacher whose batch-1 cost is dominated by compute, not by the call.
 */
export const MNIST_CNN_LARGE: ArchSpec = Object.freeze<ArchSpec>({
  name: 'mnist-cnn-large',
  input: 'image',
  layers: [
    { kind: 'conv', filters: 32, kernel: 3, relu: true, padding: 'valid' },
    { kind: 'conv', filters: 64, kernel: 3, relu: true, padding: 'valid' },
    { kind: 'maxpool', size: 2 },
    { kind: 'flatten' },
    { kind: 'dense', units: 128, relu: true },
    { kind: 'dense', units: 10, relu: false },
  ],
});

/** A named weight array in training layout (dense [in,out], conv HWIO, bias [out]). */
export interface ParamArray {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** Shape after each layer in training layout, without the batch dim. */
export function layerShapes(arch: ArchSpec): number[][] {
  const image = imageOf(arch);
  let shape = arch.input === 'flat' ? [image[0] * image[1] * image[2]] : image;
  const out: number[][] = [];
  for (const l of arch.layers) {
    if (l.kind === 'dense') shape = [l.units];
    else if (l.kind === 'conv') shape = [convOut(shape[0] as number, l), convOut(shape[1] as number, l), l.filters];
    else if (l.kind === 'maxpool')
      shape = [
        Math.floor((shape[0] as number) / l.size),
        Math.floor((shape[1] as number) / l.size),
        shape[2] as number,
      ];
    else shape = [shape.reduce((a, b) => a * b, 1)];
    out.push(shape);
  }
  return out;
}

/** He-normal weights and zero biases from a seeded generator (not tfjs's own RNG). */
export function initParams(arch: ArchSpec, seed: number): ParamArray[] {
  const rng = createRng(seed);
  const params: ParamArray[] = [];
  const image = imageOf(arch);
  let prev = arch.input === 'flat' ? [image[0] * image[1] * image[2]] : image;
  arch.layers.forEach((l, i) => {
    if (l.kind === 'dense' || l.kind === 'conv') {
      const fanIn = l.kind === 'dense' ? (prev[0] as number) : l.kernel * l.kernel * (prev[2] as number);
      const shape = l.kind === 'dense' ? [fanIn, l.units] : [l.kernel, l.kernel, prev[2] as number, l.filters];
      const std = Math.sqrt(2 / fanIn);
      const w = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let k = 0; k < w.length; k++) w[k] = rng.normal() * std;
      const units = l.kind === 'dense' ? l.units : l.filters;
      params.push(
        { name: `l${i}.weight`, shape, values: w },
        { name: `l${i}.bias`, shape: [units], values: new Float32Array(units) },
      );
    }
    prev = layerShapes(arch)[i] as number[];
  });
  return params;
}

/**
 * Forward pass to logits; `vars` holds weight and bias per dense/conv layer, in order. This is
 * the zoo's original trainer for MNIST-sized, stride-1 `same` architectures; any other
 * architecture trains through the graph trainer (`graph/trainable.ts`, `fit.ts`).
 */
export function forward(arch: ArchSpec, vars: readonly tf.Tensor[], x: tf.Tensor): tf.Tensor2D {
  let h: tf.Tensor = arch.input === 'flat' ? x : tf.reshape(x, [-1, 28, 28, 1]);
  let p = 0;
  for (const l of arch.layers) {
    if (l.kind === 'conv' && ((l.stride ?? 1) !== 1 || l.padding === 'valid'))
      throw new Error(`${arch.name}: strided or valid convolutions train through the graph trainer, not forward()`);
    if (l.kind === 'dense' || l.kind === 'conv') {
      const w = vars[p++] as tf.Tensor;
      const b = vars[p++] as tf.Tensor;
      h =
        l.kind === 'dense'
          ? tf.add(tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D), b)
          : tf.add(conv2dSame(h as tf.Tensor4D, w as tf.Tensor4D), b);
      if (l.relu) h = tf.relu(h);
    } else if (l.kind === 'maxpool') {
      h = tf.maxPool(h as tf.Tensor4D, l.size, l.size, 'valid');
    } else {
      h = tf.reshape(h, [h.shape[0] as number, -1]);
    }
  }
  return h as tf.Tensor2D;
}

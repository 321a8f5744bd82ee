/**
 * 8-bit linear quantization: symmetric per-channel weights and per-tensor activation parameters.
 * Semantics follow [ONNX:QuantizeLinear]/[ONNX:DequantizeLinear]: q = saturate(round(x / s) + zp),
 * x' = (q - zp) * s, with per-axis scales since opset 13.
 */
import { clamp, qRange, roundHalfEven, type QType } from './rounding.js';

/** Result of per-channel weight quantization. */
export interface PerChannelQuantized {
  /** Quantized values, same layout and length as the input. */
  readonly q: Int8Array;
  /** One scale per channel along `axis`. */
  readonly scales: Float32Array;
  /** Axis the scales run along (the output-channel axis). */
  readonly axis: number;
}

/** Which weight-consuming op a tensor feeds, to find its output-channel axis. */
export type WeightUse =
  | { readonly op: 'Conv' }
  | { readonly op: 'ConvTranspose'; readonly group: number }
  | { readonly op: 'Gemm'; readonly transB: boolean }
  | { readonly op: 'MatMul' };

/**
 * The output-channel axis of a weight: Conv OIHW → 0; Gemm with transB=1 stores B as [N,K] → 0,
 * without it [K,N] → 1; MatMul B is [K,N] → 1 (rank 2 only; batched MatMul weights are refused
 * by the passes). ConvTranspose (IOHW) → 1, only meaningful for group 1.
 */
export function outputChannelAxis(use: WeightUse, rank: number): number {
  switch (use.op) {
    case 'Conv':
      return 0;
    case 'ConvTranspose':
      return 1;
    case 'Gemm':
      return use.transB ? 0 : 1;
    case 'MatMul':
      return rank - 1;
  }
}

/** Symmetric int8 range used for weights: [-127, 127], so that -x quantizes to -q exactly. */
const WEIGHT_QMAX = 127;

/**
 * Symmetric per-channel int8 quantization of `data` (row-major, `shape`) along `axis`: scale_c =
 * max|w_c| / 127, zero point 0. An all-zero channel gets scale 1 (a zero scale is legal in ONNX
 * but makes the runtime's requantization multiplier degenerate).
 */
export function quantizePerChannelInt8(
  data: Float32Array,
  shape: readonly number[],
  axis: number,
): PerChannelQuantized {
  const { channels, inner } = axisGeometry(shape, axis, data.length);
  const absMax = new Float32Array(channels);
  forEachChannel(data.length, channels, inner, (i, c) => {
    const a = Math.abs(data[i] ?? 0);
    if (a > (absMax[c] ?? 0)) absMax[c] = a;
  });
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const m = absMax[c] ?? 0;
    scales[c] = m > 0 ? m / WEIGHT_QMAX : 1;
  }
  const q = new Int8Array(data.length);
  forEachChannel(data.length, channels, inner, (i, c) => {
    q[i] = clamp(roundHalfEven((data[i] ?? 0) / (scales[c] ?? 1)), -WEIGHT_QMAX, WEIGHT_QMAX);
  });
  return { q, scales, axis };
}

/** Inverse of {@link quantizePerChannelInt8}. */
export function dequantizePerChannel(
  q: Int8Array | Uint8Array,
  scales: Float32Array,
  shape: readonly number[],
  axis: number,
  zeroPoints?: ArrayLike<number>,
): Float32Array {
  const { channels, inner } = axisGeometry(shape, axis, q.length);
  const out = new Float32Array(q.length);
  forEachChannel(q.length, channels, inner, (i, c) => {
    out[i] = ((q[i] ?? 0) - (zeroPoints?.[c] ?? 0)) * (scales[c] ?? 1);
  });
  return out;
}

function axisGeometry(shape: readonly number[], axis: number, length: number): { channels: number; inner: number } {
  if (axis < 0 || axis >= shape.length) throw new RangeError(`axis ${axis} out of range for rank ${shape.length}`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== length) throw new RangeError(`shape [${shape.join(',')}] has ${size} elements, data has ${length}`);
  const channels = shape[axis] ?? 1;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return { channels, inner };
}

function forEachChannel(length: number, channels: number, inner: number, fn: (i: number, c: number) => void): void {
  for (let i = 0; i < length; i++) fn(i, Math.floor(i / inner) % channels);
}

/** Per-tensor quantization parameters of an activation. */
export interface QParams {
  readonly scale: number;
  readonly zeroPoint: number;
  readonly type: QType;
}

/** Options for {@link activationQParams}. */
export interface ActivationQOptions {
  /** Quantized type; default uint8 (the U8S8 path MLAS runs natively on x86 and ARM). */
  readonly type?: 'uint8' | 'int8';
  /** Symmetric around zero (zero point 0 for int8, 128 for uint8); default false. */
  readonly symmetric?: boolean;
}

/**
 * Scale and zero point for a float range. The range is widened to include 0 so that zero (padding,
 * ReLU output) is exactly representable, as ONNX requires of zero points.
 */
export function activationQParams(min: number, max: number, opts: ActivationQOptions = {}): QParams {
  const type = opts.type ?? 'uint8';
  const { qmin, qmax } = qRange(type);
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new RangeError(`invalid calibration range [${min}, ${max}]`);
  }
  let rmin = Math.min(min, 0);
  let rmax = Math.max(max, 0);
  if (opts.symmetric === true) {
    const a = Math.max(Math.abs(rmin), Math.abs(rmax));
    rmin = -a;
    rmax = a;
  }
  if (rmax === rmin) return { scale: 1, zeroPoint: type === 'uint8' && opts.symmetric === true ? 128 : 0, type };
  if (opts.symmetric === true) {
    const scale = (rmax - rmin) / (qmax - qmin);
    return { scale, zeroPoint: type === 'uint8' ? 128 : 0, type };
  }
  const scale = (rmax - rmin) / (qmax - qmin);
  const zeroPoint = clamp(roundHalfEven(qmin - rmin / scale), qmin, qmax);
  return { scale, zeroPoint, type };
}

/** Quantize one value with per-tensor params (saturating). */
export function quantizeValue(x: number, p: QParams): number {
  const { qmin, qmax } = qRange(p.type);
  return clamp(roundHalfEven(x / p.scale) + p.zeroPoint, qmin, qmax);
}

/** Dequantize one value. */
export function dequantizeValue(q: number, p: QParams): number {
  return (q - p.zeroPoint) * p.scale;
}

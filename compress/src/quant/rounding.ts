/**
 * Rounding and clamping shared by every quantizer. ONNX QuantizeLinear rounds half to even
 * [ONNX:QuantizeLinear] (onnxruntime uses `std::nearbyint` in the default FE_TONEAREST mode), so
 * offline quantization must round the same way or a weight quantized here would differ by one
 * step from what the runtime would have produced from the same float.
 */

/** Round to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds ties up; detect an exact tie and pull odd results back to even.
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Clamp `x` into [lo, hi]. */
export function clamp(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}

/** Integer range of a quantized element type. */
export interface QRange {
  readonly qmin: number;
  readonly qmax: number;
}

/** Quantized integer types produced by our passes. */
export type QType = 'int8' | 'uint8' | 'int4' | 'uint4';

/** [qmin, qmax] of a quantized type. */
export function qRange(type: QType): QRange {
  switch (type) {
    case 'int8':
      return { qmin: -128, qmax: 127 };
    case 'uint8':
      return { qmin: 0, qmax: 255 };
    case 'int4':
      return { qmin: -8, qmax: 7 };
    case 'uint4':
      return { qmin: 0, qmax: 15 };
  }
}

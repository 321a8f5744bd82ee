/**
 * IEEE 754 binary16 conversion. onnxruntime-node (Node 20 has no Float16Array) exchanges
 * float16 tensors as Uint16Array bit patterns, and ONNX stores float16 initializers the same way,
 * so everything here works on bits.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;

/** Smallest magnitude that rounds to Infinity (the tie above 65504 rounds to even, i.e. up). */
export const FLOAT16_OVERFLOW = 65520;

/**
 * float32 → float16 bits with round-to-nearest-even, gradual underflow to subnormals, overflow
 * to ±Infinity, and NaN kept a (quiet) NaN with its sign.
 */
export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Below 2^-25 everything rounds to (signed) zero; exactly 2^-25 is a tie that goes to even (0).
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    const half = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // A carry out of the subnormal mantissa lands on the smallest normal, which is correct.
    return sign | (rem > halfway || (rem === halfway && (half & 1) === 1) ? half + 1 : half);
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry may ripple into the exponent and up to Infinity: that is the correctly rounded result.
  return sign | (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1) ? h + 1 : h);
}

/** float16 bits → the exact float32/float64 value they denote. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >>> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Convert a whole float32 array to float16 bits. */
export function toFloat16Array(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i] ?? 0);
  return out;
}

/** Convert float16 bits back to float32. */
export function fromFloat16Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16BitsToFloat32(bits[i] ?? 0);
  return out;
}

/** Number of finite values that overflow float16 (become ±Infinity) — a pass must refuse or clamp these. */
export function countFloat16Overflows(values: Float32Array): number {
  let n = 0;
  for (const v of values) if (Number.isFinite(v) && Math.abs(v) >= FLOAT16_OVERFLOW) n++;
  return n;
}

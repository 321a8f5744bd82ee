/**
 * Block-wise 4-bit weight quantization in the exact layout of onnxruntime's contrib op
 * [ORT:com.microsoft.MatMulNBits] (docs/ContribOperators.md):
 * - the weight is the MatMul right-hand side W[K, N]; it is quantized along K, per output column n,
 *   in blocks of `block_size` (a power of two ≥ 16);
 * - B is uint8 [N, k_blocks, blob_size] with k_blocks = ceil(K / block_size) and
 *   blob_size = block_size * bits / 8; within a blob "the first 4 bits are stored in the lower 4
 *   bits of a byte, and the second 4 bits ... in the higher 4 bits";
 * - scales are [N, k_blocks] in A's float type;
 * - zero_points, when present, are packed uint8 [N, ceil(k_blocks * bits / 8)] with the same
 *   nibble order; when absent the runtime uses 2^(bits-1) = 8.
 * The nibble order and zero-point layout are also checked against onnxruntime itself in
 * test/unit/quant-int4.test.ts.
 */
import { clamp, roundHalfEven } from './rounding.js';

/** Options for {@link quantizeMatMulNBits4}. */
export interface Int4Options {
  /** Block size along K: 16, 32, 64 or 128 (power of two ≥ 16 per the spec). */
  readonly blockSize: number;
  /** true: no zero_points input (implicit 8); false: per-block zero points (asymmetric). */
  readonly symmetric: boolean;
}

/** Tensors for a MatMulNBits node (bits = 4). */
export interface MatMulNBits4 {
  readonly K: number;
  readonly N: number;
  readonly blockSize: number;
  readonly kBlocks: number;
  /** uint8 [N, kBlocks, blockSize / 2]. */
  readonly b: Uint8Array;
  /** float32 [N, kBlocks]. */
  readonly scales: Float32Array;
  /** uint8 [N, ceil(kBlocks / 2)], present only when asymmetric. */
  readonly zeroPoints?: Uint8Array;
}

const IMPLICIT_ZP = 8;

/** Check a block size against the MatMulNBits constraints. */
export function isValidBlockSize(blockSize: number): boolean {
  return Number.isInteger(blockSize) && blockSize >= 16 && (blockSize & (blockSize - 1)) === 0;
}

/**
 * Round-to-nearest 4-bit quantization of W[K, N] (row-major) into MatMulNBits tensors.
 * Symmetric: the value of largest magnitude m in a block maps to level 0, scale = m / -8, so the
 * full [-8, 7] range is used (as onnxruntime's MLAS quantizer does). Asymmetric: the block range
 * widened to include 0 maps onto [0, 15] with a per-block zero point.
 */
export function quantizeMatMulNBits4(w: Float32Array, K: number, N: number, opts: Int4Options): MatMulNBits4 {
  if (!isValidBlockSize(opts.blockSize))
    throw new RangeError(`block size ${opts.blockSize} is not a power of two ≥ 16`);
  if (w.length !== K * N) throw new RangeError(`weight has ${w.length} values, expected K*N = ${K * N}`);
  const bs = opts.blockSize;
  const kBlocks = Math.ceil(K / bs);
  const blob = bs / 2;
  const b = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  const zpBytes = Math.ceil(kBlocks / 2);
  const zeroPoints = opts.symmetric ? undefined : new Uint8Array(N * zpBytes);
  const block = new Float32Array(bs);
  for (let n = 0; n < N; n++) {
    for (let kb = 0; kb < kBlocks; kb++) {
      const k0 = kb * bs;
      const len = Math.min(bs, K - k0);
      for (let i = 0; i < len; i++) block[i] = w[(k0 + i) * N + n] ?? 0;
      const { scale, zp } = opts.symmetric ? symmetricBlock(block, len) : asymmetricBlock(block, len);
      scales[n * kBlocks + kb] = scale;
      if (zeroPoints) setNibble(zeroPoints, n * zpBytes, kb, zp);
      const inv = scale === 0 ? 0 : 1 / scale;
      const base = (n * kBlocks + kb) * blob;
      for (let i = 0; i < bs; i++) {
        // Padding past K holds the zero point, i.e. dequantizes to exactly 0.
        const q = i < len ? clamp(roundHalfEven((block[i] ?? 0) * inv) + zp, 0, 15) : zp;
        setNibble(b, base, i, q);
      }
    }
  }
  return zeroPoints
    ? { K, N, blockSize: bs, kBlocks, b, scales, zeroPoints }
    : { K, N, blockSize: bs, kBlocks, b, scales };
}

function symmetricBlock(block: Float32Array, len: number): { scale: number; zp: number } {
  let m = 0;
  for (let i = 0; i < len; i++) {
    const v = block[i] ?? 0;
    if (Math.abs(v) > Math.abs(m)) m = v;
  }
  return { scale: Math.fround(m / -8), zp: IMPLICIT_ZP };
}

function asymmetricBlock(block: Float32Array, len: number): { scale: number; zp: number } {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < len; i++) {
    const v = block[i] ?? 0;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = Math.fround((hi - lo) / 15);
  if (scale === 0) return { scale: 0, zp: IMPLICIT_ZP };
  return { scale, zp: clamp(roundHalfEven(-lo / scale), 0, 15) };
}

/** Write a 4-bit value at nibble index `i` of the bytes starting at `base`: even i → low nibble. */
function setNibble(bytes: Uint8Array, base: number, i: number, v: number): void {
  const at = base + (i >> 1);
  const old = bytes[at] ?? 0;
  bytes[at] = (i & 1) === 0 ? (old & 0xf0) | v : (old & 0x0f) | (v << 4);
}

/** Read the 4-bit value at nibble index `i`. */
export function getNibble(bytes: Uint8Array, base: number, i: number): number {
  const byte = bytes[base + (i >> 1)] ?? 0;
  return (i & 1) === 0 ? byte & 0x0f : byte >> 4;
}

/** Reconstruct W'[K, N] from MatMulNBits tensors (the reference the tests hold onnxruntime to). */
export function dequantizeMatMulNBits4(t: MatMulNBits4): Float32Array {
  const { K, N, blockSize: bs, kBlocks } = t;
  const out = new Float32Array(K * N);
  const zpBytes = Math.ceil(kBlocks / 2);
  for (let n = 0; n < N; n++) {
    for (let kb = 0; kb < kBlocks; kb++) {
      const scale = t.scales[n * kBlocks + kb] ?? 0;
      const zp = t.zeroPoints ? getNibble(t.zeroPoints, n * zpBytes, kb) : IMPLICIT_ZP;
      const base = (n * kBlocks + kb) * (bs / 2);
      for (let i = 0; i < bs && kb * bs + i < K; i++) {
        out[(kb * bs + i) * N + n] = (getNibble(t.b, base, i) - zp) * scale;
      }
    }
  }
  return out;
}

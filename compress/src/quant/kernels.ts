/**
 * Input conventions of the quantized operators our passes emit, and which type combinations
 * onnxruntime's CPU execution provider runs. Passes consult this table instead of hard-coding
 * knowledge, and test/unit/quant-kernels.test.ts runs a one-node model for every row against the
 * installed onnxruntime-node, so an upgrade that changes support fails a test instead of
 * producing a model that does not load.
 *
 * Measured with onnxruntime-node 1.30 (CPU): ConvInteger runs u8u8, u8s8, s8s8 and s8u8, but only
 * with a per-tensor weight zero point ("Non per-tensor quantization is not supported now"). The
 * reference notes' "ConvInteger is u8u8 only on CPU" (ORT issue #6430) is from older releases.
 */

/** Quantized element types of activations (X) and weights (W). */
export type IntType = 'uint8' | 'int8';

/** One operator's calling convention and CPU support. */
export interface KernelInfo {
  readonly op: string;
  /** '' is ai.onnx. */
  readonly domain: '' | 'com.microsoft';
  /** Minimum opset of the domain for the form we emit. */
  readonly sinceOpset: number;
  /** Inputs in order; a trailing `?` marks an optional input. */
  readonly inputs: readonly string[];
  /** [activation, weight] type pairs the CPU EP runs. */
  readonly cpuTypes: ReadonlyArray<readonly [IntType, IntType]>;
  readonly notes: string;
}

const ALL_PAIRS = [
  ['uint8', 'uint8'],
  ['uint8', 'int8'],
  ['int8', 'int8'],
  ['int8', 'uint8'],
] as const;

/** The table. Keys are op names. */
export const QUANT_KERNELS = {
  DynamicQuantizeMatMul: {
    op: 'DynamicQuantizeMatMul',
    domain: 'com.microsoft',
    sinceOpset: 1,
    inputs: [
      'A: float',
      'B: int8|uint8 [K,N]',
      'b_scale: float scalar|[N]',
      'b_zero_point?: like B, scalar|[N]',
      'bias?: float [N]',
    ],
    cpuTypes: [
      ['uint8', 'int8'],
      ['uint8', 'uint8'],
    ],
    notes:
      'A is quantized to uint8 per tensor at run time; per-column b_scale gives per-channel weights; bias is added ' +
      'in float. Replaces MatMul and Gemm (alpha=beta=1, no transA; transB folded into B).',
  },
  MatMulInteger: {
    op: 'MatMulInteger',
    domain: '',
    sinceOpset: 10,
    inputs: ['A: int8|uint8', 'B: int8|uint8', 'a_zero_point?', 'b_zero_point?: scalar|[N]'],
    cpuTypes: ALL_PAIRS,
    notes: 'int32 output; scales are applied by a following Mul (DynamicQuantizeMatMul fuses all of this).',
  },
  ConvInteger: {
    op: 'ConvInteger',
    domain: '',
    sinceOpset: 10,
    inputs: [
      'x: int8|uint8',
      'w: int8|uint8 OIHW',
      'x_zero_point?: scalar',
      'w_zero_point?: scalar only (a per-channel [M] zero point fails at run time on CPU)',
    ],
    cpuTypes: ALL_PAIRS,
    notes:
      'int32 output, no bias and no scales: needs DynamicQuantizeLinear before and Cast+Mul+Add after. Not optimized ' +
      'in MLAS (ORT issue #12854), so int8-dynamic keeps Conv in float by default.',
  },
  QuantizeLinear: {
    op: 'QuantizeLinear',
    domain: '',
    sinceOpset: 13,
    inputs: ['x: float', 'y_scale: scalar|[C]', 'y_zero_point?: int8|uint8 scalar|[C]'],
    cpuTypes: [
      ['uint8', 'uint8'],
      ['int8', 'int8'],
    ],
    notes: 'Per-axis (attribute axis) since opset 13. Rounds half to even, saturates.',
  },
  DequantizeLinear: {
    op: 'DequantizeLinear',
    domain: '',
    sinceOpset: 13,
    inputs: ['x: int8|uint8|int32', 'x_scale: scalar|[C]', 'x_zero_point?: scalar|[C]'],
    cpuTypes: [
      ['uint8', 'uint8'],
      ['int8', 'int8'],
    ],
    notes:
      'QDQ form: DQ(weight)→Conv/MatMul/Gemm←DQ(Q(activation)), Q(DQ) after the output; ORT fuses the pattern into ' +
      'QLinearConv/QLinearMatMul/QGemm.',
  },
  QLinearConv: {
    op: 'QLinearConv',
    domain: '',
    sinceOpset: 10,
    inputs: [
      'x',
      'x_scale',
      'x_zero_point',
      'w',
      'w_scale: scalar|[M]',
      'w_zero_point',
      'y_scale',
      'y_zero_point',
      'B?: int32',
    ],
    cpuTypes: [
      ['uint8', 'uint8'],
      ['uint8', 'int8'],
      ['int8', 'int8'],
    ],
    notes: 'What QDQ Conv becomes after ORT fusion; we emit QDQ, not this.',
  },
  MatMulNBits: {
    op: 'MatMulNBits',
    domain: 'com.microsoft',
    sinceOpset: 1,
    inputs: [
      'A: float',
      'B: uint8 [N, k_blocks, blob]',
      'scales: float [N, k_blocks]',
      'zero_points?: uint8 [N, ceil(k_blocks/2)]',
      'g_idx?: deprecated',
      'bias?: float [N]',
    ],
    cpuTypes: [],
    notes:
      'Weight-only (activations float). Attributes K, N, bits, block_size, accuracy_level. Low nibble first; zero ' +
      'points packed per row; bias input runs on CPU (verified).',
  },
} as const satisfies Record<string, KernelInfo>;

/** Ops that already carry quantized weights: a model containing any is "already quantized". */
export const QUANTIZED_OPS: ReadonlySet<string> = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'DynamicQuantizeMatMul',
  'MatMulInteger',
  'ConvInteger',
  'QLinearConv',
  'QLinearMatMul',
  'QGemm',
  'MatMulNBits',
  'MatMulIntegerToFloat',
  'QLinearAdd',
  'QLinearMul',
  'QAttention',
  'MatMulBnb4',
  'MatMulFpQ4',
]);

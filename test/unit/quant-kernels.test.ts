import t from 'tap';
import { QUANT_KERNELS, type IntType } from '@edgefleet/compress/quant/kernels';
import { attr, createModel, makeTensor, tensorValueInfo, writeModel } from '@edgefleet/compress/ir/index';
import type { NodeSpec, Tensor } from '@edgefleet/compress/ir/types';
import { createOrtSession, type RuntimeTensor } from '@edgefleet/compress/runtime/ort';

// Every [activation, weight] type pair kernels.ts claims for the CPU EP is built as a one-node
// model and run in the installed onnxruntime-node, so an upgrade that drops a combination fails
// here instead of producing models that do not load.
const ints = (type: IntType, n: number, base = 1): Int8Array | Uint8Array => {
  const a = type === 'int8' ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 3 + base) % 7;
  return a;
};
// One makeTensor call per dtype: with the union IntType its result type would not narrow to Tensor.
const intTensor = (name: string, type: IntType, dims: number[], base?: number): Tensor => {
  const data = ints(
    type,
    dims.reduce((a, b) => a * b, 1),
    base,
  );
  return type === 'int8'
    ? makeTensor(name, 'int8', dims, data as Int8Array)
    : makeTensor(name, 'uint8', dims, data as Uint8Array);
};
const zp = (name: string, type: IntType, dims: number[]): Tensor => intTensor(name, type, dims, 0);
const w = (name: string, type: IntType, dims: number[]): Tensor => intTensor(name, type, dims);
const f = (name: string, dims: number[], v = 0.05): Tensor =>
  makeTensor(name, 'float32', dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(v));

interface Case {
  input: RuntimeTensor;
  inits: Tensor[];
  node: NodeSpec;
  outType: 'float32' | 'int32' | IntType;
}

function caseFor(op: keyof typeof QUANT_KERNELS, x: IntType, wt: IntType): Case | undefined {
  const xi = (dims: number[]): RuntimeTensor =>
    x === 'int8'
      ? {
          dtype: 'int8',
          dims,
          data: ints(
            'int8',
            dims.reduce((a, b) => a * b, 1),
          ) as Int8Array,
        }
      : {
          dtype: 'uint8',
          dims,
          data: ints(
            'uint8',
            dims.reduce((a, b) => a * b, 1),
          ) as Uint8Array,
        };
  const fx: RuntimeTensor = { dtype: 'float32', dims: [2, 4], data: new Float32Array(8).map((_, i) => i / 8 - 0.3) };
  switch (op) {
    case 'DynamicQuantizeMatMul':
      return {
        input: fx,
        inits: [w('B', wt, [4, 3]), f('s', [3]), zp('z', wt, [3])],
        outType: 'float32',
        node: { opType: op, domain: 'com.microsoft', inputs: ['X', 'B', 's', 'z'], outputs: ['Y'] },
      };
    case 'MatMulInteger':
      return {
        input: xi([2, 4]),
        inits: [w('B', wt, [4, 3]), zp('za', x, []), zp('zb', wt, [3])],
        outType: 'int32',
        node: { opType: op, inputs: ['X', 'B', 'za', 'zb'], outputs: ['Y'] },
      };
    case 'ConvInteger':
      return {
        input: xi([1, 1, 4, 4]),
        inits: [w('W', wt, [2, 1, 3, 3]), zp('zx', x, []), zp('zw', wt, [])],
        outType: 'int32',
        node: { opType: op, inputs: ['X', 'W', 'zx', 'zw'], outputs: ['Y'] },
      };
    case 'QuantizeLinear':
      return {
        input: fx,
        inits: [f('s', []), zp('z', wt, [])],
        outType: wt,
        node: { opType: op, inputs: ['X', 's', 'z'], outputs: ['Y'] },
      };
    case 'DequantizeLinear':
      return {
        input: xi([2, 4]),
        inits: [f('s', [4]), zp('z', x, [4])],
        outType: 'float32',
        node: { opType: op, inputs: ['X', 's', 'z'], outputs: ['Y'], attributes: [attr.int('axis', 1)] },
      };
    case 'QLinearConv':
      return {
        input: xi([1, 1, 4, 4]),
        outType: x,
        inits: [
          f('xs', []),
          zp('xz', x, []),
          w('W', wt, [2, 1, 3, 3]),
          f('ws', [2]),
          zp('wz', wt, [2]),
          f('ys', [], 0.2),
          zp('yz', x, []),
          makeTensor('B', 'int32', [2], new Int32Array([3, -4])),
        ],
        node: { opType: op, inputs: ['X', 'xs', 'xz', 'W', 'ws', 'wz', 'ys', 'yz', 'B'], outputs: ['Y'] },
      };
    default:
      return undefined;
  }
}

for (const [op, info] of Object.entries(QUANT_KERNELS)) {
  for (const [x, wt] of info.cpuTypes) {
    t.test(`${op} runs ${x} activations × ${wt} weights on the CPU EP`, async (t) => {
      const c = caseFor(op as keyof typeof QUANT_KERNELS, x, wt);
      if (!c) return t.fail(`no test case for ${op}: add one when the table gains a row`);
      // Zero points must match the quantized tensor's type; QLinearConv's zero-point inputs already do.
      const graph = {
        inputs: [
          tensorValueInfo('X', c.input.dtype === 'float32' ? 'float32' : c.input.dtype === 'int8' ? 'int8' : 'uint8'),
        ],
        outputs: [tensorValueInfo('Y', c.outType)],
        initializers: c.inits,
        nodes: [c.node],
      };
      const model = createModel({
        graph,
        opsets: { '': Math.max(13, info.sinceOpset), ...(info.domain ? { [info.domain]: 1 } : {}) },
      });
      const s = await createOrtSession(writeModel(model));
      const out = await s.run({ X: c.input });
      await s.release();
      t.equal(out.Y?.dtype, c.outType, `output is ${c.outType}`);
      t.ok((out.Y?.data.length ?? 0) > 0, 'produced values');
    });
  }
}

t.test('ConvInteger rejects a per-channel weight zero point on CPU (why the table says scalar only)', async (t) => {
  const graph = {
    inputs: [tensorValueInfo('X', 'uint8')],
    outputs: [tensorValueInfo('Y', 'int32')],
    initializers: [w('W', 'int8', [2, 1, 3, 3]), zp('zx', 'uint8', []), zp('zw', 'int8', [2])],
    nodes: [{ opType: 'ConvInteger', inputs: ['X', 'W', 'zx', 'zw'], outputs: ['Y'] }],
  };
  const s = await createOrtSession(writeModel(createModel({ graph, opsets: { '': 13 } })));
  await t.rejects(s.run({ X: { dtype: 'uint8', dims: [1, 1, 4, 4], data: new Uint8Array(16) } }), {
    code: 'EF_ERR_RUNTIME_RUN',
    message: /per-tensor|Non per-tensor/,
  });
  await s.release();
});

t.test('every kernel row names its inputs and CPU types (MatMulNBits is run in quant-int4.test.ts)', async (t) => {
  for (const [op, info] of Object.entries(QUANT_KERNELS)) {
    t.ok(info.inputs.length >= 2, `${op}: inputs listed`);
    if (info.cpuTypes.length === 0) t.equal(op, 'MatMulNBits', `${op}: only the weight-only op has no int type pairs`);
  }
});

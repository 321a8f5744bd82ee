import t from 'tap';
import {
  float16BitsToFloat32,
  float32ToFloat16Bits,
  loadModel,
  sha256Hex,
  writeModel,
  type Attribute,
  type Graph,
  type Model,
} from '@edgefleet/compress/ir/index';
import { decodeModelProto } from '@edgefleet/compress/ir/proto';
import {
  TYPED_FIELD_CASES,
  buildAllAttributeKinds,
  buildCnn,
  buildIf,
  buildMlp,
  buildTypedFieldsBytes,
} from '../fixtures/ir-models.js';

t.test('typed fields decode into typed arrays, one case per dtype', async (t) => {
  const model = loadModel(buildTypedFieldsBytes());
  for (const c of TYPED_FIELD_CASES) {
    const tensor = model.graph.initializers.get(`t_${c.dtype}`);
    t.ok(tensor, `${c.dtype} present`);
    if (!tensor) continue;
    t.equal(tensor.dtype, c.dtype, `${c.dtype} dtype`);
    t.same(tensor.dims, [3]);
    const got = Array.from(tensor.data as ArrayLike<number | bigint>);
    const want = c.dtype === 'float32' ? Array.from(Float32Array.from(c.expect as number[])) : [...c.expect];
    t.same(got, want, `${c.dtype} values`);
  }
});

t.test('typed-field tensors are rewritten as raw_data with the same values', async (t) => {
  const first = loadModel(buildTypedFieldsBytes());
  const bytes = writeModel(first);
  const proto = decodeModelProto(bytes);
  for (const init of proto.graph?.initializer ?? []) {
    t.ok(Object.hasOwn(init, 'rawData'), `${init.name} written as raw_data`);
    t.equal(init.floatData?.length ?? 0, 0);
    t.equal(init.int64Data?.length ?? 0, 0);
  }
  const second = loadModel(bytes);
  for (const [name, tensor] of first.graph.initializers) {
    t.same(
      Array.from(second.graph.initializers.get(name)?.data as ArrayLike<unknown>),
      Array.from(tensor.data as ArrayLike<unknown>),
      name,
    );
  }
});

function attrSummary(a: Attribute): unknown {
  switch (a.kind) {
    case 'graph':
      return { name: a.name, kind: a.kind, graph: graphSummary(a.value) };
    case 'graphs':
      return { name: a.name, kind: a.kind, graphs: a.value.map(graphSummary) };
    case 'tensor':
      return {
        name: a.name,
        kind: a.kind,
        t: [a.value.name, a.value.dtype, a.value.dims, Array.from(a.value.data as ArrayLike<unknown>)],
      };
    case 'tensors':
      return {
        name: a.name,
        kind: a.kind,
        ts: a.value.map((x) => [x.name, x.dtype, x.dims, Array.from(x.data as ArrayLike<unknown>)]),
      };
    case 'string':
      return { name: a.name, kind: a.kind, s: Buffer.from(a.value).toString('utf8') };
    case 'strings':
      return { name: a.name, kind: a.kind, ss: a.value.map((s) => Buffer.from(s).toString('utf8')) };
    case 'opaque':
      return { name: a.name, kind: a.kind };
    default:
      return { name: a.name, kind: a.kind, value: a.value };
  }
}

function graphSummary(g: Graph): unknown {
  return {
    name: g.name,
    inputs: g.inputs,
    outputs: g.outputs,
    valueInfo: [...g.valueInfo.values()],
    initializers: [...g.initializers.values()].map((x) => [
      x.name,
      x.dtype,
      x.dims,
      Array.from(x.data as ArrayLike<unknown>),
    ]),
    nodes: g.nodes.map((n) => ({
      name: n.name,
      op: n.opType,
      domain: n.domain,
      inputs: n.inputs,
      outputs: n.outputs,
      attrs: n.attributes.map(attrSummary),
    })),
  };
}

function modelSummary(m: Model): unknown {
  return { ir: m.irVersion, opsets: m.opsetImports, producer: m.producerName, graph: graphSummary(m.graph) };
}

t.test('every attribute kind, symbolic/unknown dims and subgraphs survive write → load', async (t) => {
  const built = buildAllAttributeKinds();
  const loaded = loadModel(writeModel(built));
  t.same(modelSummary(loaded), modelSummary(built));
  const node = loaded.graph.nodes[0];
  const i = node?.attributes.find((a) => a.name === 'i');
  t.equal(i?.kind === 'int' ? i.value : undefined, -(2n ** 62n), 'int64 beyond 2^53 exact');
  const is = node?.attributes.find((a) => a.name === 'is');
  t.same(is?.kind === 'ints' ? is.value : undefined, [0n, -1n, 2n ** 63n - 1n]);
  const x = loaded.graph.inputs[0]?.type;
  t.same(x?.kind === 'tensor' ? x.shape : undefined, ['batch', null, 3]);
  const g = node?.attributes.find((a) => a.name === 'g');
  t.equal(g?.kind === 'graph' ? g.value.parent : undefined, loaded.graph, 'subgraph knows its outer scope');
});

t.test('writing is deterministic and idempotent', async (t) => {
  for (const build of [buildMlp, buildCnn, buildIf, buildAllAttributeKinds]) {
    const a = writeModel(build());
    const b = writeModel(build());
    t.equal(sha256Hex(a), sha256Hex(b), `${build.name}: two builds, same sha256`);
    t.equal(sha256Hex(writeModel(loadModel(a))), sha256Hex(a), `${build.name}: load → write reproduces the bytes`);
  }
});

t.test('a pass that appends nodes out of order still writes a topologically sorted graph', async (t) => {
  const m = buildMlp();
  const g = m.graph;
  const relu = g.nodes.find((n) => n.opType === 'Relu');
  if (!relu) throw new Error('fixture has no Relu');
  // Insert Neg between Add and Relu, but append it at the end of the node list.
  g.addNode({ opType: 'Neg', inputs: ['h1'], outputs: ['h1_neg'] });
  g.setNodeInput(relu, 0, 'h1_neg');
  const order = loadModel(writeModel(m)).graph.nodes.map((n) => n.opType);
  t.same(order, ['MatMul', 'Add', 'Neg', 'Relu', 'Gemm', 'Softmax']);
});

t.test('float16 conversion: exact values, rounding, specials', async (t) => {
  const table: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [1e-8, 0x0000],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [value, bits] of table) t.equal(float32ToFloat16Bits(value), bits, `${value} → 0x${bits.toString(16)}`);
  t.ok(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN))), 'NaN stays NaN');
  for (let bits = 0; bits < 0x7c00; bits += 37)
    t.equal(float32ToFloat16Bits(float16BitsToFloat32(bits)), bits, `0x${bits.toString(16)} round-trips`);
});

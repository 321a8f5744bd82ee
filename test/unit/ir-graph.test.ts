import t from 'tap';
import {
  attr,
  constantTensorOf,
  createGraph,
  floatTensor,
  getAttrFloat,
  getAttrInt,
  getAttrInts,
  getAttrString,
  getOpsetVersion,
  makeTensor,
  setAttr,
  setOpsetVersion,
  tensorValueInfo,
  verifyGraph,
  verifyModel,
  loadModel,
  writeModel,
  type Graph,
} from '@edgefleet/compress/ir/index';
import { buildIf, buildMlp } from '../fixtures/ir-models.js';

const names = (nodes: readonly { name: string }[]): string[] => nodes.map((n) => n.name);

t.test('producer and consumer indexes follow every mutation', async (t) => {
  const g = buildMlp().graph;
  const add = g.producerOf('h1');
  t.equal(add?.opType, 'Add');
  t.same(
    g.consumersOf('h1').map((n) => n.opType),
    ['Relu'],
  );
  t.same(
    g.consumersOf('x').map((n) => n.opType),
    ['MatMul'],
  );
  t.equal(g.producerOf('x'), undefined, 'graph inputs have no producer node');

  const relu = g.consumersOf('h1')[0];
  if (!relu || !add) throw new Error('fixture changed');
  const neg = g.addNode({ opType: 'Neg', inputs: ['h1'], outputs: ['h1n'] }, { after: add });
  t.equal(g.indexOf(neg), g.indexOf(add) + 1, 'inserted right after');
  g.setNodeInput(relu, 0, 'h1n');
  t.same(
    g.consumersOf('h1').map((n) => n.opType),
    ['Neg'],
  );
  t.same(
    g.consumersOf('h1n').map((n) => n.opType),
    ['Relu'],
  );

  const abs = g.replaceNode(neg, { opType: 'Abs', inputs: ['h1'], outputs: ['h1n'] });
  t.equal(g.producerOf('h1n'), abs, 'replacement produces the value');
  t.equal(g.nodes.includes(neg), false);
  t.ok(verifyGraph(g).ok, 'still valid');

  g.removeNode(abs);
  t.equal(g.producerOf('h1n'), undefined);
  t.same(g.consumersOf('h1'), []);
  const v = verifyGraph(g);
  t.equal(v.ok, false);
  t.match(v.problems.join('\n'), /reads 'h1n' at input 0, but no graph input, initializer or node output defines it/);
});

t.test('replaceAllUses rewires consumers but not graph outputs; renameValue renames everywhere', async (t) => {
  const g = buildMlp().graph;
  const matmul = g.producerOf('h0');
  if (!matmul) throw new Error('fixture changed');
  g.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['x2'] }, { before: matmul });
  t.equal(g.replaceAllUses('x', 'x2', { except: [g.producerOf('x2') ?? matmul] }), 1);
  t.same(matmul.inputs, ['x2', 'w1']);
  g.renameValue('w1', 'weights_1');
  t.same(matmul.inputs, ['x2', 'weights_1']);
  t.ok(g.initializers.has('weights_1') && !g.initializers.has('w1'));
  g.renameValue('y', 'probs');
  t.equal(g.outputs[0]?.name, 'probs');
  t.equal(g.producerOf('probs')?.opType, 'Softmax');
  t.throws(() => g.renameValue('h0', 'h1'), /already used/);
  t.ok(verifyGraph(g).ok, verifyGraph(g).problems.join('; '));
});

t.test('renameValue reaches subgraphs that read the value from the outer scope', async (t) => {
  const m = buildIf();
  m.graph.renameValue('c', 'constant_c');
  const ifNode = m.graph.nodes[0];
  const then = ifNode?.attributes.find((a) => a.name === 'then_branch');
  const inner = then?.kind === 'graph' ? then.value.nodes[0] : undefined;
  t.same(inner?.inputs, ['x', 'constant_c']);
  t.ok(verifyModel(m).ok);
  t.same(
    m.graph.implicitConsumersOf('constant_c').map((n) => n.opType),
    ['If'],
  );
});

t.test('fresh names never collide, across subgraphs too', async (t) => {
  const m = buildIf();
  const fresh = new Set<string>();
  for (let i = 0; i < 5; i++) fresh.add(m.graph.freshName('then_out'));
  t.equal(fresh.size, 5);
  t.notOk(fresh.has('then_out'), 'names used inside a subgraph are taken');
  const n = m.graph.addNode({ opType: 'Identity', inputs: ['x'], outputs: [m.graph.freshName('x')] });
  t.not(n.name, '', 'nodes get a fresh name when none is given');
  t.not(n.outputs[0], 'x');
});

t.test('topoSort keeps a sorted graph as it is and fixes an unsorted one', async (t) => {
  const g = buildMlp().graph;
  const before = names(g.nodes);
  g.topoSort();
  t.same(names(g.nodes), before, 'stable on a sorted graph');
  const first = g.nodes[0];
  if (!first) throw new Error('empty fixture');
  g.removeNode(first);
  g.addNode({ ...first, inputs: [...first.inputs], outputs: [...first.outputs] });
  t.not(names(g.nodes)[0], before[0]);
  g.topoSort();
  t.same(names(g.nodes), before);
});

function problemsOf(mutate: (g: Graph) => void): string[] {
  const g = buildMlp().graph;
  mutate(g);
  return verifyGraph(g).problems;
}

t.test('verifyGraph names each kind of problem', async (t) => {
  const cases: Array<[string, (g: Graph) => void, RegExp]> = [
    [
      'cycle',
      (g) => {
        const r = g.nodes.find((n) => n.opType === 'Relu');
        if (r) g.setNodeInput(r, 0, 'logits');
      },
      new RegExp(
        /has a cycle: 'Relu_node' \(Relu\) → 'Gemm_node' \(Gemm\) → 'Relu_node' \(Relu\) /.source +
          /\(each feeds the next\); 3 node\(s\) cannot be ordered/.source,
      ),
    ],
    [
      'two producers',
      (g) => g.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['h0'] }),
      /value 'h0' .* is defined 2 times/,
    ],
    ['undefined input', (g) => g.addNode({ opType: 'Neg', inputs: ['nowhere'], outputs: ['z'] }), /reads 'nowhere'/],
    ['undefined output', (g) => g.outputs.push(tensorValueInfo('ghost', 'float32')), /output 'ghost' is not produced/],
    [
      'size mismatch',
      (g) => {
        g.removeInitializer('b1');
        g.addInitializer({ name: 'b1', dtype: 'float32', dims: [8], data: new Float32Array(7), docString: '' });
      },
      /initializer 'b1' .* declares dims \[8\] of float32 \(8 elements\) but its data holds 7 entries; expected 8/,
    ],
    ['input and initializer', (g) => g.addInitializer(floatTensor('h2', [1], [0])), /value 'h2' .* defined 2 times/],
    ['missing op type', (g) => g.addNode({ opType: '', inputs: ['x'], outputs: ['e'] }), /has no op_type/],
  ];
  for (const [name, mutate, pattern] of cases) t.match(problemsOf(mutate).join('\n'), pattern, name);
  t.same(
    problemsOf(() => undefined),
    [],
    'the unmodified fixture has no problems',
  );
  t.same(
    problemsOf((g) => g.addNode({ opType: 'Clip', inputs: ['x', '', ''], outputs: ['clipped'] })),
    [],
    'omitted optional inputs are fine',
  );
});

t.test('verifyModel checks opset imports against node domains', async (t) => {
  const m = buildMlp();
  m.graph.addNode({ opType: 'FastGelu', domain: 'com.microsoft', inputs: ['y'], outputs: ['z'] });
  t.match(verifyModel(m).problems.join('\n'), /domain 'com.microsoft' but the model does not import an opset for it/);
  setOpsetVersion(m, 'com.microsoft', 1);
  t.ok(verifyModel(m).ok);
  t.equal(getOpsetVersion(m, 'ai.onnx'), 13, "'ai.onnx' and '' are the same domain");
  setOpsetVersion(m, 'ai.onnx', 17);
  t.same(m.opsetImports, [
    { domain: '', version: 17 },
    { domain: 'com.microsoft', version: 1 },
  ]);
  // Domains are judged by use: an unknown domain only declared is no problem (and is dropped on write) ...
  m.opsetImports.push({ domain: 'com.example', version: 1 }, { domain: 'ai.onnx.ml', version: 3 });
  t.ok(verifyModel(m).ok, 'an unused unknown import is not a problem');
  const written = loadModel(writeModel(m));
  t.same(
    written.opsetImports.map((o) => o.domain),
    ['', 'com.microsoft'],
    'unused imports (com.example, ai.onnx.ml) are dropped on write; ai.onnx and the used com.microsoft stay',
  );
  // ... but a node using it, even inside a subgraph, is refused with the node named.
  const withIf = buildIf();
  withIf.opsetImports.push({ domain: 'com.example', version: 1 });
  const branch = withIf.graph.nodes.find((n) => n.opType === 'If')?.attributes.find((a) => a.kind === 'graph');
  if (branch?.kind !== 'graph') throw new Error('fixture has no If branch');
  branch.value.addNode({ name: 'odd', opType: 'Mystery', domain: 'com.example', inputs: [], outputs: ['m'] });
  t.match(
    verifyModel(withIf).problems.join('\n'),
    /node 'odd' \(Mystery\) in subgraph .* uses operator domain 'com.example'/,
  );
  t.throws(() => loadModel(writeModel(withIf)), {
    code: 'EF_ERR_MODEL_UNSUPPORTED',
    message: /'com.example' \(used by node 'odd' \(Mystery\)/,
  });
});

t.test('constantTensorOf finds initializers and Constant outputs, through scopes', async (t) => {
  const m = buildIf();
  const g = m.graph;
  g.addNode({
    opType: 'Constant',
    inputs: [],
    outputs: ['k'],
    attributes: [attr.tensor('value', floatTensor('', [1], [7]))],
  });
  t.equal(constantTensorOf(g, 'c')?.name, 'c');
  t.same(Array.from(constantTensorOf(g, 'k')?.data as Float32Array), [7]);
  t.equal(constantTensorOf(g, 'x'), undefined);
  t.equal(constantTensorOf(g, 'y'), undefined, 'output of a non-Constant node');
  const then = g.nodes[0]?.attributes.find((a) => a.name === 'then_branch');
  if (then?.kind !== 'graph') throw new Error('fixture changed');
  t.equal(constantTensorOf(then.value, 'c')?.name, 'c', 'outer initializer seen from a subgraph');
});

t.test('attribute readers and builders', async (t) => {
  const g = createGraph();
  const n = g.addNode({
    opType: 'Conv',
    inputs: ['x', 'w'],
    outputs: ['y'],
    attributes: [
      attr.int('group', 2),
      attr.ints('pads', [1, 1, 1, 1]),
      attr.string('auto_pad', 'NOTSET'),
      attr.float('alpha', 0.5),
    ],
  });
  t.equal(getAttrInt(n, 'group'), 2);
  t.equal(getAttrInt(n, 'missing', 1), 1);
  t.same(getAttrInts(n, 'pads'), [1, 1, 1, 1]);
  t.equal(getAttrString(n, 'auto_pad'), 'NOTSET');
  t.equal(getAttrFloat(n, 'alpha'), 0.5);
  t.throws(() => getAttrInt(n, 'pads'), /is ints, not int/);
  setAttr(n, attr.int('group', 4));
  t.equal(getAttrInt(n, 'group'), 4);
  t.equal(n.attributes.filter((a) => a.name === 'group').length, 1, 'replaced, not duplicated');
  t.throws(() => makeTensor('bad', 'float32', [2, 2], new Float32Array(3)), /need 4 float32 entries, got 3/);
  t.same(makeTensor('q', 'int4', [3], Uint8Array.of(0x21, 0x03)).dims, [3], 'int4 packs two per byte');
});

/**
 * `opset-upgrade`: raises the ai.onnx opset to 13 (default), the first with per-axis
 * QuantizeLinear/DequantizeLinear, and the opset onnxruntime's QDQ fusion needs (fusing a QDQ
 * Conv into QLinearConv in an opset-9 model produces a node that opset 9 lacks; measured with
 * onnxruntime-node 1.30). Ops whose inference semantics changed between the model's opset and 13
 * are rewritten (Clip/Slice/Squeeze/Unsqueeze/Split/ReduceSum attributes → inputs, Softmax family
 * through Flatten + Reshape); any op outside the known-safe list makes the pass refuse, so a model
 * is never silently re-interpreted.
 */
import type { Graph } from '../ir/graph.js';
import type { Node } from '../ir/types.js';
import type { Pass, PassContext, PassReport } from './types.js';
import { refused } from './types.js';
import { intAttr, intsAttr, mkIntAttr, mkTensor, opsetOf } from './util.js';

/** Ops whose inference semantics are the same from opset 9 to 13 (type additions only). */
const UNCHANGED = new Set([
  'Abs',
  'Add',
  'And',
  'ArgMax',
  'ArgMin',
  'AveragePool',
  'BatchNormalization',
  'Cast',
  'Ceil',
  'Concat',
  'Constant',
  'ConstantOfShape',
  'Conv',
  'ConvTranspose',
  'Div',
  'Elu',
  'Equal',
  'Erf',
  'Exp',
  'Expand',
  'Flatten',
  'Floor',
  'Gather',
  'Gemm',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Greater',
  'HardSigmoid',
  'Identity',
  'InstanceNormalization',
  'LeakyRelu',
  'Less',
  'Log',
  'LRN',
  'MatMul',
  'Max',
  'MaxPool',
  'Mean',
  'Min',
  'Mul',
  'Neg',
  'Not',
  'Or',
  'PRelu',
  'Pow',
  'Reciprocal',
  'ReduceL2',
  'ReduceMax',
  'ReduceMean',
  'ReduceMin',
  'ReduceProd',
  'Relu',
  'Reshape',
  'Selu',
  'Shape',
  'Sigmoid',
  'Sign',
  'Sin',
  'Cos',
  'Size',
  'Softplus',
  'Softsign',
  'Sqrt',
  'Sub',
  'Sum',
  'Tanh',
  'Tile',
  'Transpose',
  'Where',
  'HardSwish',
  'Resize',
  'Gelu',
]);
const REWRITTEN = new Set([
  'Clip',
  'Slice',
  'Squeeze',
  'Unsqueeze',
  'Split',
  'ReduceSum',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
]);
/** Ops whose older forms we do not rewrite; Resize before 11 had different coordinate semantics. */
const SINCE: Readonly<Record<string, number>> = { Resize: 11, HardSwish: 14, Gelu: 20 };

/** Create the pass. */
export function createOpsetUpgradePass(target = 13): Pass {
  return { name: 'opset-upgrade', run: (g, ctx) => runUpgrade(g, ctx, target) };
}

async function runUpgrade(graph: Graph, ctx: PassContext, target: number): Promise<PassReport> {
  const from = opsetOf(ctx.model, '') ?? 1;
  if (from >= target)
    return {
      pass: 'opset-upgrade',
      ok: true,
      summary: `opset ${from} ≥ ${target}, nothing to do`,
      changed: [],
      skipped: [],
      stats: { from, to: from },
    };
  if (from < 9)
    return refused('opset-upgrade', `opset ${from} is too old (need ≥ 9); re-export the model with a newer exporter`);
  const unknown = graph.nodes.filter((n) => n.domain === '' && !UNCHANGED.has(n.opType) && !REWRITTEN.has(n.opType));
  const tooOld = graph.nodes.filter((n) => n.domain === '' && (SINCE[n.opType] ?? 0) > from);
  const withSubgraphs = graph.nodes.filter((n) => n.attributes.some((a) => a.kind === 'graph' || a.kind === 'graphs'));
  const bad = [...unknown, ...tooOld];
  if (bad.length > 0 || withSubgraphs.length > 0) {
    const ops = [...new Set(bad.map((n) => n.opType))];
    const sub = [...new Set(withSubgraphs.map((n) => `${n.opType} '${n.name}'`))];
    const why = [
      ops.length > 0 ? `${ops.join(', ')} may change meaning` : '',
      sub.length > 0 ? `${sub.slice(0, 3).join(', ')} hold(s) subgraphs, which this pass does not rewrite` : '',
    ].filter((x) => x !== '');
    return refused(
      'opset-upgrade',
      `cannot upgrade opset ${from} → ${target}: ${why.join('; ')}; re-export the model at opset ≥ ${target}`,
    );
  }
  let rewritten = 0;
  for (const node of [...graph.nodes])
    if (node.domain === '' && REWRITTEN.has(node.opType)) rewritten += rewrite(graph, node, from) ? 1 : 0;
  const imp = ctx.model.opsetImports.find((o) => o.domain === '');
  if (imp) imp.version = target;
  return {
    pass: 'opset-upgrade',
    ok: true,
    summary: `opset ${from} → ${target}, ${rewritten} node(s) rewritten`,
    changed: [],
    skipped: [],
    stats: { from, to: target, rewritten },
  };
}

function int64Const(graph: Graph, base: string, values: readonly number[]): string {
  const name = graph.freshName(base);
  graph.addInitializer(mkTensor(name, 'int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v)))));
  return name;
}

function rewrite(graph: Graph, node: Node, from: number): boolean {
  const keep = (names: string[]) => node.attributes.filter((a) => !names.includes(a.name));
  const spec = { opType: node.opType, name: node.name, domain: '', outputs: [...node.outputs] };
  switch (node.opType) {
    case 'Clip': {
      if (from >= 11) return false;
      const lo = node.attributes.find((a) => a.name === 'min');
      const hi = node.attributes.find((a) => a.name === 'max');
      const f = (v: number, n: string) => {
        const name = graph.freshName(n);
        graph.addInitializer(mkTensor(name, 'float32', [], new Float32Array([v])));
        return name;
      };
      const inputs = [
        node.inputs[0] ?? '',
        lo?.kind === 'float' ? f(lo.value, `${node.name}_min`) : '',
        hi?.kind === 'float' ? f(hi.value, `${node.name}_max`) : '',
      ];
      graph.replaceNode(node, { ...spec, inputs, attributes: keep(['min', 'max']) });
      return true;
    }
    case 'Slice': {
      if (from >= 10) return false;
      const starts = intsAttr(node, 'starts') ?? [];
      const axes = intsAttr(node, 'axes');
      const inputs = [
        node.inputs[0] ?? '',
        int64Const(graph, `${node.name}_starts`, starts),
        int64Const(graph, `${node.name}_ends`, intsAttr(node, 'ends') ?? []),
      ];
      if (axes) inputs.push(int64Const(graph, `${node.name}_axes`, axes));
      graph.replaceNode(node, { ...spec, inputs, attributes: keep(['starts', 'ends', 'axes']) });
      return true;
    }
    case 'Squeeze':
    case 'Unsqueeze':
    case 'ReduceSum':
    case 'Split': {
      const attr = node.opType === 'Split' ? 'split' : 'axes';
      const vals = intsAttr(node, attr);
      const inputs = [...node.inputs];
      if (vals) inputs[1] = int64Const(graph, `${node.name}_${attr}`, vals);
      graph.replaceNode(node, { ...spec, inputs, attributes: keep([attr]) });
      return true;
    }
    default: {
      // Softmax family before 13: flatten to 2-D at `axis` (default 1), normalise rows, restore the shape.
      const axis = intAttr(node, 'axis', 1);
      const x = node.inputs[0] ?? '';
      const flat = graph.freshName(`${node.name}_flat`);
      const soft = graph.freshName(`${node.name}_2d`);
      const shape = graph.freshName(`${node.name}_shape`);
      graph.addNode(
        { opType: 'Flatten', inputs: [x], outputs: [flat], attributes: [mkIntAttr('axis', axis)] },
        { before: node },
      );
      graph.addNode({ opType: 'Shape', inputs: [x], outputs: [shape] }, { before: node });
      graph.addNode(
        { opType: node.opType, inputs: [flat], outputs: [soft], attributes: [mkIntAttr('axis', 1)] },
        { before: node },
      );
      graph.replaceNode(node, {
        opType: 'Reshape',
        name: node.name,
        inputs: [soft, shape],
        outputs: [...node.outputs],
      });
      return true;
    }
  }
}

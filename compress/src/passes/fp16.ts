/**
 * `fp16`: float16 weights and compute, float32 model inputs and outputs kept through Casts at
 * the boundary. Float32 initializers and Constant values become float16, Casts to float become
 * Casts to float16, and value infos are retyped — in the main graph and in every subgraph (If
 * branches, Loop/Scan bodies), whose declared inputs and outputs are retyped too, so a value keeps
 * one type across the subgraph boundary. A float32 graph input read inside a subgraph (an
 * outer-scope value) is read through the same entry Cast as everywhere else. Inputs whose type is
 * fixed to float32 by the op schema (Resize roi/scales) stay float32. Ops without float16 CPU
 * kernels still run: onnxruntime inserts Casts around them itself, which costs time (ORT #11831)
 * — the benchmark shows it. No node is kept in float32 by this pass, so its report lists none as
 * fp32 (BatchNorms folded before it are listed as `folded`, not as float layers).
 */
import type { Graph } from '../ir/graph.js';
import { allGraphs } from '../ir/scopes.js';
import type { Node, Tensor, ValueInfo } from '../ir/types.js';
import { countFloat16Overflows, toFloat16Array } from '../quant/fp16.js';
import type { NodeNote, Pass, PassContext, PassReport } from './types.js';
import { refused } from './types.js';
import { mkIntAttr, mkTensor, quantizedOpsIn } from './util.js';

/** Input slots whose type is float32 regardless of T. */
const FLOAT32_SLOTS: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2], Upsample: [1] };

/**
 * What a float16 layer means at run time. The file stores float16; where the execution provider
 * has no float16 kernel, onnxruntime inserts Casts and computes in float32 (onnxruntime-node 1.30
 * on x86 runs every Conv/MatMul of PaddleOCR cls as float32 NCHWc kernels after load: a storage
 * win, not a speed one).
 */
const FP16_REASON =
  'float16 weights; float16 compute where the execution provider has float16 kernels, else onnxruntime casts to ' +
  'float32 at load';

const FLOAT = 1;
const FLOAT16 = 10;

/** Create the pass. */
export function createFp16Pass(): Pass {
  return { name: 'fp16', run: runFp16 };
}

/** Names that must stay float32 because some node anywhere in the tree reads them in a float32-only slot. */
function float32Only(root: Graph): Set<string> {
  const keep = new Set<string>();
  for (const { graph } of allGraphs(root)) {
    for (const n of graph.nodes) for (const s of FLOAT32_SLOTS[n.opType] ?? []) if (n.inputs[s]) keep.add(n.inputs[s]);
  }
  return keep;
}

function toHalf(t: Tensor): Tensor {
  return t.dtype === 'float32' ? mkTensor(t.name, 'float16', [...t.dims], toFloat16Array(t.data)) : t;
}

function retypeInfo(vi: ValueInfo, keep: ReadonlySet<string>): void {
  if (vi.type?.kind === 'tensor' && vi.type.elemType === 'float32' && !keep.has(vi.name))
    vi.type = { ...vi.type, elemType: 'float16' };
}

async function runFp16(root: Graph, _ctx: PassContext): Promise<PassReport> {
  if (quantizedOpsIn(root).length > 0) return refused('fp16', 'model is already quantized; convert the float original');
  const keep = float32Only(root);
  const graphs = allGraphs(root);
  const floats = graphs.flatMap(({ graph }) =>
    [...graph.initializers.values()].filter((t) => t.dtype === 'float32' && !keep.has(t.name)),
  );
  const over = floats.flatMap((t) => {
    const n = t.dtype === 'float32' ? countFloat16Overflows(t.data) : 0;
    return n > 0 ? [`${t.name} (${n})`] : [];
  });
  if (over.length > 0)
    return refused(
      'fp16',
      `constant(s) ${over.slice(0, 5).join(', ')} hold values beyond the float16 range (±65504), which would become ` +
        `infinite; keep this model in float32 (or exclude those values from the model)`,
    );
  const changed: NodeNote[] = [];
  for (const { graph, owner } of graphs) {
    for (const t of [...graph.initializers.values()]) if (!keep.has(t.name)) graph.initializers.set(t.name, toHalf(t));
    for (const node of [...graph.nodes]) retypeNode(node, keep, changed);
    for (const vi of graph.valueInfo.values()) retypeInfo(vi, keep);
    // A subgraph's declared inputs and outputs carry the same values as the outer graph: retype them alike.
    if (owner) for (const vi of [...graph.inputs, ...graph.outputs]) retypeInfo(vi, keep);
  }
  const casts = addBoundaryCasts(root);
  const inner = graphs.length - 1;
  return {
    pass: 'fp16',
    ok: true,
    summary:
      `${floats.length} initializer(s) → float16, ${casts} boundary Cast(s), float32 I/O ` +
      `kept${inner > 0 ? `; ${inner} subgraph(s) retyped` : ''}`,
    changed,
    skipped: [],
    stats: { initializers: floats.length, boundaryCasts: casts, subgraphs: inner },
  };
}

function retypeNode(node: Node, keep: ReadonlySet<string>, changed: NodeNote[]): void {
  const keepsOutput = keep.has(node.outputs[0] ?? '');
  if (node.opType === 'Cast') {
    const to = node.attributes.find((a) => a.name === 'to');
    if (to?.kind === 'int' && Number(to.value) === FLOAT && !keepsOutput) to.value = BigInt(FLOAT16);
    return;
  }
  for (const a of node.attributes) {
    if (a.kind === 'tensor' && a.value.dtype === 'float32' && !keepsOutput) a.value = toHalf(a.value);
  }
  if (['Conv', 'MatMul', 'Gemm', 'ConvTranspose'].includes(node.opType))
    changed.push({ node: node.name, opType: node.opType, precision: 'fp16', reason: FP16_REASON });
}

/** A name nobody uses yet, without reserving it (renameValue reserves it itself). */
function unusedName(graph: Graph, base: string): string {
  let name = base;
  for (let i = 1; graph.isNameUsed(name); i++) name = `${base}_${i}`;
  return name;
}

/** Cast float32 graph inputs to float16 after entry and float16 results back before exit. */
function addBoundaryCasts(graph: Graph): number {
  let n = 0;
  const first = graph.nodes[0];
  for (const input of graph.inputs) {
    if (input.type?.kind !== 'tensor' || input.type.elemType !== 'float32' || graph.initializers.has(input.name))
      continue;
    const half = graph.freshName(`${input.name}_fp16`);
    const cast = graph.addNode(
      { opType: 'Cast', inputs: [input.name], outputs: [half], attributes: [mkIntAttr('to', FLOAT16)] },
      first ? { before: first } : undefined,
    );
    // Deep: If branches and Loop bodies that read the input from the outer scope read the Cast too.
    graph.replaceAllUsesDeep(input.name, half, { except: [cast] });
    n++;
  }
  for (const output of graph.outputs) {
    if (output.type?.kind !== 'tensor' || output.type.elemType !== 'float32') continue;
    const name = output.name;
    const producer = graph.producerOf(name);
    if (!producer) continue;
    // The producer now writes a float16 value under a new name; a Cast restores the declared float32 output.
    const half = unusedName(graph, `${name}_fp16`);
    graph.renameValue(name, half);
    output.name = name;
    graph.addNode(
      { opType: 'Cast', inputs: [half], outputs: [name], attributes: [mkIntAttr('to', FLOAT)] },
      { after: producer },
    );
    n++;
  }
  return n;
}

/**
 * Least-squares statistics of weighted layers over calibration data, computed in onnxruntime.
 *
 * For a layer y = x·W (+ b), the refit and the greedy channel choice need XᵀX, XᵀY and the
 * column sums of X and Y over every row the layer computes (for a convolution, every output
 * position of every sample, with X the im2col patches). A *probe* copy of the model exposes,
 * per layer, its input as rows [M, K] (for a k×k convolution the patches come from a
 * depthwise Conv with one-hot filters, run by onnxruntime with the layer's own strides, pads
 * and dilations) and its output as rows [M, O]. A second tiny model computes the products with
 * one `Gemm(transA=1)` each [ONNX:Gemm], batch by batch; the sums accumulate in Float64 here.
 * Plain JavaScript loops ran these products at ~1 GMAC/s on this project's machines against
 * 13–37 GMAC/s in onnxruntime.
 */
import { EdgefleetError } from '@edgefleet/shared';
import type { Dataset } from '../data/tensor.js';
import { sliceDataset } from '../data/tensor.js';
import {
  attr,
  createModel,
  floatTensor,
  getAttr,
  getAttrInt,
  getAttrInts,
  int64Tensor,
  loadModel,
  writeModel,
  type Graph,
  type Model,
  type Node,
} from '../ir/index.js';
import { openSession, type CompressSession, type FeedTensor } from '../calibration/session.js';
import { floatInit } from '../passes/util.js';
import type { Progress } from '../passes/types.js';

/** Sufficient statistics of one layer's least-squares problem. */
export interface LayerStats {
  readonly node: string;
  /** Columns of X (the layer's input rows). */
  readonly k: number;
  /** Columns of Y (the layer's output rows). */
  readonly o: number;
  /** Rows seen (samples × output positions). */
  rows: number;
  readonly xtx: Float64Array;
  readonly xty: Float64Array;
  readonly xs: Float64Array;
  readonly ys: Float64Array;
  /** Σ y² per output column. */
  readonly yss: Float64Array;
}

/** Where X and Y come from: X from `current`, Y from `reference` (the original model) or `current`. */
export interface ProbeRequest {
  readonly current: Model;
  readonly reference?: Model;
  /** Layer node names (present in both models under the same name). */
  readonly layers: readonly string[];
  readonly data: Dataset;
  /** Samples per run; default 16. */
  readonly batchSize?: number;
  /** Rows gathered per layer before a products run; default {@link MIN_PRODUCT_ROWS}. */
  readonly productRows?: number;
  readonly onProgress?: (p: Progress) => void;
}

/** Builds a copy of `model` whose outputs are the requested row views, with unneeded nodes removed. */
function probeModel(model: Model, layers: readonly string[], want: { x: boolean; y: boolean }): Model {
  const copy = loadModel(writeModel(model), { verify: false });
  const g = copy.graph;
  const outputs: string[] = [];
  for (const name of layers) {
    const node = g.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`layer ${name} is not in the model`);
    if (want.x) outputs.push(inputRows(g, node, name));
    if (want.y) outputs.push(outputRows(g, node, name));
  }
  g.outputs = outputs.map((name) => ({
    name,
    type: { kind: 'tensor', elemType: 'float32', shape: undefined, denotation: '' },
    docString: '',
  }));
  keepOnlyNeeded(g);
  return copy;
}

function rowsName(kind: 'x' | 'y', layer: string): string {
  return `probe::${kind}::${layer}`;
}

/** [N, C, *S] → [N·ΠS, C]. */
function toRows(g: Graph, value: string, rank: number, width: number, out: string): void {
  const moved = g.freshName(`${out}::nhwc`);
  const perm = [0, ...Array.from({ length: rank - 2 }, (_x, i) => i + 2), 1];
  g.addNode({ opType: 'Transpose', inputs: [value], outputs: [moved], attributes: [attr.ints('perm', perm)] });
  reshapeRows(g, moved, width, out);
}

function reshapeRows(g: Graph, value: string, width: number, out: string): void {
  const shape = g.freshName(`${out}::shape`);
  g.addInitializer(int64Tensor(shape, [2], [-1, width]));
  g.addNode({ opType: 'Reshape', inputs: [value, shape], outputs: [out] });
}

function inputRows(g: Graph, node: Node, layer: string): string {
  const out = rowsName('x', layer);
  const x = node.inputs[0] ?? '';
  const w = floatInit(g, node.inputs[1]);
  if (!w) throw new Error(`layer ${layer} has no float32 weight`);
  if (node.opType === 'Gemm') {
    g.addNode({ opType: 'Identity', inputs: [x], outputs: [out] });
    return out;
  }
  if (node.opType === 'MatMul') {
    reshapeRows(g, x, w.dims[0] ?? 0, out);
    return out;
  }
  const group = getAttrInt(node, 'group', 1) as number;
  const cin = (w.dims[1] ?? 0) * group;
  const kernel = w.dims.slice(2);
  const taps = kernel.reduce((a, b) => a * b, 1);
  const rank = 2 + kernel.length;
  const pointwise =
    taps === 1 &&
    (getAttrInts(node, 'strides') ?? []).every((s) => s === 1) &&
    (getAttrInts(node, 'pads') ?? []).every((p) => p === 0) &&
    !getAttr(node, 'auto_pad');
  if (pointwise) {
    toRows(g, x, rank, cin, out);
    return out;
  }
  // im2col as a depthwise Conv: output channel c·taps + t copies tap t of input channel c, the
  // order of a [O, Cin, kh, kw] weight flattened per filter.
  const onehot = new Float32Array(cin * taps * taps);
  for (let c = 0; c < cin; c++) for (let t = 0; t < taps; t++) onehot[(c * taps + t) * taps + t] = 1;
  const e = g.freshName(`${out}::unfold_w`);
  g.addInitializer(floatTensor(e, [cin * taps, 1, ...kernel], onehot));
  const unfolded = g.freshName(`${out}::unfold`);
  const keep = node.attributes.filter((a) => ['strides', 'pads', 'dilations', 'auto_pad'].includes(a.name));
  g.addNode({
    opType: 'Conv',
    inputs: [x, e],
    outputs: [unfolded],
    attributes: [...keep, attr.int('group', cin), attr.ints('kernel_shape', kernel)],
  });
  toRows(g, unfolded, rank, cin * taps, out);
  return out;
}

function outputRows(g: Graph, node: Node, layer: string): string {
  const out = rowsName('y', layer);
  const y = node.outputs[0] ?? '';
  const w = floatInit(g, node.inputs[1]);
  if (!w) throw new Error(`layer ${layer} has no float32 weight`);
  if (node.opType === 'Gemm') g.addNode({ opType: 'Identity', inputs: [y], outputs: [out] });
  else if (node.opType === 'MatMul') reshapeRows(g, y, w.dims[1] ?? 0, out);
  else toRows(g, y, w.dims.length, w.dims[0] ?? 0, out);
  return out;
}

/** Drops nodes no graph output depends on (so a probe of an early layer does not run the rest). */
function keepOnlyNeeded(g: Graph): void {
  const needed = new Set(g.outputs.map((o) => o.name));
  for (const node of [...g.nodes].reverse()) {
    if (node.outputs.some((o) => needed.has(o))) for (const i of node.inputs) needed.add(i);
    else g.removeNode(node);
  }
  for (const name of [...g.initializers.keys()]) if (!needed.has(name)) g.removeInitializer(name);
}

/** The one model that turns rows into products (opset 13, dynamic M, K, O). */
function productsModel(): Model {
  const x = {
    name: 'x',
    type: { kind: 'tensor', elemType: 'float32', shape: ['m', 'k'], denotation: '' },
    docString: '',
  };
  const y = {
    name: 'y',
    type: { kind: 'tensor', elemType: 'float32', shape: ['m', 'o'], denotation: '' },
    docString: '',
  };
  const out = (name: string) => ({
    name,
    type: { kind: 'tensor', elemType: 'float32', shape: undefined, denotation: '' },
    docString: '',
  });
  return createModel({
    opsets: { '': 13 },
    graph: {
      name: 'least-squares-products',
      inputs: [x, y] as never,
      outputs: ['xtx', 'xty', 'xs', 'ys', 'yss'].map(out) as never,
      initializers: [int64Tensor('rows_axis', [1], [0])],
      nodes: [
        { opType: 'Gemm', inputs: ['x', 'x'], outputs: ['xtx'], attributes: [attr.int('transA', 1)] },
        { opType: 'Gemm', inputs: ['x', 'y'], outputs: ['xty'], attributes: [attr.int('transA', 1)] },
        { opType: 'ReduceSum', inputs: ['x', 'rows_axis'], outputs: ['xs'], attributes: [attr.int('keepdims', 0)] },
        { opType: 'ReduceSum', inputs: ['y', 'rows_axis'], outputs: ['ys'], attributes: [attr.int('keepdims', 0)] },
        { opType: 'Mul', inputs: ['y', 'y'], outputs: ['y2'] },
        { opType: 'ReduceSum', inputs: ['y2', 'rows_axis'], outputs: ['yss'], attributes: [attr.int('keepdims', 0)] },
      ],
    },
  });
}

function feedsOf(ds: Dataset): Record<string, FeedTensor> {
  return Object.fromEntries(
    Object.entries(ds.inputs).map(([k, t]) => [k, { dtype: t.dtype, dims: t.dims, data: t.data }]),
  );
}

/**
 * Rows gathered per layer before one products run. XᵀX is k×k whatever the rows, and copying it
 * out of onnxruntime and adding it up in Float64 costs k² per run: a dense layer sees one row per
 * sample, so at 16 samples a run mnist-cnn-large's 9,216-wide dense layer spent ~95% of a
 * 413 s probe on that (bench/prune-refit-profile.ts). Convolutions already bring thousands of rows
 * per batch (one per output position) and run at once.
 */
export const MIN_PRODUCT_ROWS = 512;

/** Rows of one layer waiting for their products run. */
interface PendingRows {
  readonly x: Float32Array[];
  readonly y: Float32Array[];
  rows: number;
  k: number;
  o: number;
}

function concatRows(parts: readonly Float32Array[], total: number): Float32Array {
  if (parts.length === 1) return parts[0] as Float32Array;
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Queues a batch's rows of `layer`; runs the products when enough rows are waiting (or `flush`). */
async function gather(
  pending: Map<string, PendingRows>,
  stats: Map<string, LayerStats>,
  products: CompressSession,
  layer: string,
  minRows: number,
  batch: {
    x: { dims: readonly number[]; data: Float32Array };
    y: { dims: readonly number[]; data: Float32Array };
  } | null,
): Promise<void> {
  let p = pending.get(layer);
  if (batch) {
    const [m = 0, k = 0] = batch.x.dims;
    const o = batch.y.dims[1] ?? 0;
    if ((batch.y.dims[0] ?? 0) !== m)
      throw new Error(`layer ${layer}: ${m} input rows but ${batch.y.dims[0]} output rows`);
    if (!p) {
      p = { x: [], y: [], rows: 0, k, o };
      pending.set(layer, p);
    }
    // The session may reuse its output buffers on the next run: keep copies.
    p.x.push(batch.x.data.slice());
    p.y.push(batch.y.data.slice());
    p.rows += m;
    if (p.rows < minRows) return;
  }
  if (!p || p.rows === 0) return;
  await accumulate(
    stats,
    products,
    layer,
    { dims: [p.rows, p.k], data: concatRows(p.x, p.rows * p.k) },
    { dims: [p.rows, p.o], data: concatRows(p.y, p.rows * p.o) },
  );
  pending.delete(layer);
}

function add(into: Float64Array, from: Float32Array): void {
  if (into.length !== from.length) throw new Error(`statistics of ${into.length} values met ${from.length}`);
  for (let i = 0; i < from.length; i++) into[i] = (into[i] as number) + (from[i] as number);
}

/** XᵀX, XᵀY and sums for every requested layer over the whole dataset. */
export async function collectLayerStats(req: ProbeRequest): Promise<Map<string, LayerStats>> {
  const sameModel = req.reference === undefined;
  const xSession = await openSession(writeModel(probeModel(req.current, req.layers, { x: true, y: sameModel })));
  const ySession = req.reference
    ? await openSession(writeModel(probeModel(req.reference, req.layers, { x: false, y: true })))
    : undefined;
  const products = await openSession(writeModel(productsModel()));
  const stats = new Map<string, LayerStats>();
  const pending = new Map<string, PendingRows>();
  const bs = req.batchSize ?? 16;
  const minRows = req.productRows ?? MIN_PRODUCT_ROWS;
  try {
    for (let start = 0; start < req.data.count; start += bs) {
      const end = Math.min(req.data.count, start + bs);
      const feeds = feedsOf(sliceDataset(req.data, start, end));
      const xs = await xSession.run(feeds);
      const ys = ySession ? await ySession.run(feeds) : xs;
      for (const layer of req.layers) {
        const x = xs[rowsName('x', layer)];
        const y = ys[rowsName('y', layer)];
        if (!x || !y) throw new EdgefleetError('EF_ERR_EVAL_RUNTIME', `probe returned no rows for layer ${layer}`, {});
        await gather(pending, stats, products, layer, minRows, { x, y });
      }
      req.onProgress?.({
        pass: 'least-squares statistics',
        done: end,
        total: req.data.count,
        what: `${req.layers.length} layers`,
      });
    }
    for (const layer of req.layers) await gather(pending, stats, products, layer, minRows, null);
  } finally {
    await xSession.release();
    await ySession?.release();
    await products.release();
  }
  return stats;
}

async function accumulate(
  stats: Map<string, LayerStats>,
  products: CompressSession,
  layer: string,
  x: { dims: readonly number[]; data: Float32Array },
  y: { dims: readonly number[]; data: Float32Array },
): Promise<void> {
  const [m = 0, k = 0] = x.dims;
  const o = y.dims[1] ?? 0;
  if ((y.dims[0] ?? 0) !== m) throw new Error(`layer ${layer}: ${m} input rows but ${y.dims[0]} output rows`);
  let s = stats.get(layer);
  if (!s) {
    s = {
      node: layer,
      k,
      o,
      rows: 0,
      xtx: new Float64Array(k * k),
      xty: new Float64Array(k * o),
      xs: new Float64Array(k),
      ys: new Float64Array(o),
      yss: new Float64Array(o),
    };
    stats.set(layer, s);
  }
  const r = await products.run({
    x: { dtype: 'float32', dims: [m, k], data: x.data },
    y: { dtype: 'float32', dims: [m, o], data: y.data },
  });
  for (const [name, into] of [
    ['xtx', s.xtx],
    ['xty', s.xty],
    ['xs', s.xs],
    ['ys', s.ys],
    ['yss', s.yss],
  ] as const) {
    const v = r[name];
    if (!v) throw new Error(`products model returned no ${name}`);
    add(into, v.data);
  }
  s.rows += m;
}

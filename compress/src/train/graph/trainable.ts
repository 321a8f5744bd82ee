import { asError, EdgefleetError } from '@edgefleet/shared';
import { loadModel } from '../../ir/decode.js';
import { writeModel } from '../../ir/encode.js';
import type { Graph } from '../../ir/graph.js';
import type { Model, Node } from '../../ir/types.js';
import { createConstantsToInitializersPass } from '../../passes/constants-to-initializers.js';
import { createFoldBatchNormPass } from '../../passes/fold-batchnorm.js';
import { runPipeline } from '../../pipeline.js';
import { opsetOf } from '../../passes/util.js';
import { deriveSeed } from '../../data/prng.js';
import { tf, useTrainBackend, type TrainBackend } from '../backend.js';
import { toInternalLayout, toOnnxLayout } from './layout.js';
import { checkOps, interfaceOf, logitsValueOf, refuse, TRAINABLE_OPS } from './check.js';
import type { OpContext, OpImpl } from './op-types.js';

/**
 * An ONNX graph as a trainable TensorFlow.js model. The graph is interpreted node by node with
 * the ops of `op-basic.ts` and `op-spatial.ts`; its float initializers become variables in
 * ONNX layout, so exporting is writing them back into a copy of the same IR model: the
 * exported file has the original's nodes, names and interface, only new weights.
 */

export { TRAINABLE_OPS, logitsValueOf };

/** How BatchNormalization nodes train. */
export type BatchNormMode = 'fold' | 'frozen' | 'train';

/** Options of {@link importTrainable}. */
export interface ImportOptions {
  /**
   * `fold` (default): folded into the Conv before it, as int8-static does before quantizing, and
   * gone from the export; BatchNorms that cannot be folded keep frozen statistics. `frozen`: kept,
   * running statistics fixed, scale and bias trained. `train`: batch statistics while training,
   * running statistics updated with the node's momentum and exported.
   */
  readonly batchNorm?: BatchNormMode;
  /** Initializers to keep fixed. */
  readonly freeze?: readonly string[];
  /** TensorFlow.js backend; default `wasm`. */
  readonly backend?: TrainBackend;
}

/** Fake quantization applied while running the graph (quantization-aware training). */
export interface QuantHooks {
  /** Called on the graph input and on every value a node produces (internal layout). */
  activation(value: string, v: tf.Tensor): tf.Tensor;
  /** Called on every weight an op reads (ONNX layout); `read` gives the node's other raw weights. */
  weight(node: Node, slot: number, w: tf.Tensor, read: (slot: number) => tf.Tensor): tf.Tensor;
}

/** Options of one forward pass. */
export interface ForwardOptions {
  readonly training: boolean;
  /** Intermediate values to return as well (ONNX layout), e.g. for feature matching. */
  readonly taps?: readonly string[];
  readonly quant?: QuantHooks;
  /** Dropout on these values while training (regularisation; nothing is exported). */
  readonly dropout?: DropoutSpec;
}

/** Which values dropout zeroes, at what rate each, from which seed (one per step). */
export interface DropoutSpec {
  readonly rates: Readonly<Record<string, number>>;
  readonly seed: number;
}

/** A batch statistic to fold into a running statistic after the step. */
export interface RecordedStat {
  readonly buffer: string;
  readonly value: tf.Tensor;
  readonly momentum: number;
}

/** Outputs of one forward pass (ONNX layout). */
export interface ForwardResult {
  readonly output: tf.Tensor;
  readonly taps: ReadonlyMap<string, tf.Tensor>;
  readonly stats: readonly RecordedStat[];
}

let imports = 0;

/** The trainable model; create with {@link importTrainable}. Call `dispose()` when done. */
export class TrainableGraph {
  readonly inputName: string;
  readonly outputName: string;
  /** The value losses read: the output, or a final Softmax's input. */
  readonly logitsName: string;
  /** Declared input dims (ONNX layout; the batch dim may be symbolic). */
  readonly inputDims: ReadonlyArray<number | string | null>;
  /** Shapes of every value without the batch dim, in ONNX layout (from a probe run at import). */
  readonly valueShapes = new Map<string, number[]>();
  private readonly model: Model;
  private readonly graph: Graph;
  private readonly opset: number;
  private readonly variables = new Map<string, tf.Variable>();
  private readonly buffers = new Map<string, tf.Variable>();
  private readonly constants = new Map<string, tf.Tensor>();
  private readonly weightSlots = new Map<Node, Set<number>>();
  private readonly trainBatchNorm: boolean;

  /** @internal use {@link importTrainable} */
  constructor(model: Model, opts: ImportOptions) {
    this.model = model;
    this.graph = model.graph;
    this.opset = opsetOf(model, '') ?? 13;
    this.trainBatchNorm = opts.batchNorm === 'train';
    const io = interfaceOf(this.graph);
    this.inputName = io.input;
    this.outputName = io.output;
    this.logitsName = logitsValueOf(this.graph);
    this.inputDims = io.dims;
    checkOps(this.graph);
    this.createWeights(new Set(opts.freeze ?? []));
  }

  private createWeights(freeze: ReadonlySet<string>): void {
    const id = ++imports;
    const trainable = new Set<string>();
    const read = new Set<string>();
    for (const node of this.graph.nodes) {
      const slots = (TRAINABLE_OPS[node.opType] as OpImpl).weightSlots?.(node, this.graph) ?? [];
      this.weightSlots.set(node, new Set(slots.map((s) => s.slot)));
      for (const { slot, trainable: t } of slots) {
        const name = node.inputs[slot] ?? '';
        if (this.graph.initializers.get(name)?.dtype !== 'float32') continue;
        read.add(name);
        if (t && !freeze.has(name)) trainable.add(name);
      }
    }
    const bnStats = new Set(
      this.graph.nodes.filter((n) => n.opType === 'BatchNormalization').flatMap((n) => n.inputs.slice(3, 5)),
    );
    for (const name of read) {
      const init = this.graph.initializers.get(name);
      if (init?.dtype !== 'float32') continue;
      const value = tf.tensor(init.data, init.dims, 'float32');
      if (trainable.has(name)) this.variables.set(name, tf.variable(value, true, `g${id}/${name}`));
      else if (this.trainBatchNorm && bnStats.has(name))
        this.buffers.set(name, tf.variable(value, false, `g${id}/${name}`));
      else {
        this.constants.set(name, value);
        continue;
      }
      value.dispose();
    }
  }

  /** The variables an optimizer should update, in a stable order. */
  trainableVariables(): tf.Variable[] {
    return [...this.variables.values()];
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.variables.values()) n += v.size;
    return n;
  }

  /** Run the graph on `x` (ONNX layout). Call inside `tf.tidy` or an optimizer's loss function. */
  forward(x: tf.Tensor, opts: ForwardOptions): ForwardResult {
    const values = new Map<string, tf.Tensor>();
    const stats: RecordedStat[] = [];
    const q = opts.quant;
    const input = toInternalLayout(x);
    values.set(this.inputName, q ? q.activation(this.inputName, input) : input);
    const ctx: OpContext = {
      graph: this.graph,
      opset: this.opset,
      training: opts.training,
      trainBatchNorm: this.trainBatchNorm,
      weight: (node, slot) => {
        const w = this.weightTensor(node.inputs[slot] ?? '');
        return q ? q.weight(node, slot, w, (s) => this.weightTensor(node.inputs[s] ?? '')) : w;
      },
      ints: (name) => {
        const t = this.graph.initializers.get(name);
        return t && (t.dtype === 'int64' || t.dtype === 'int32') ? Array.from(t.data, Number) : undefined;
      },
      recordStat: (buffer, value, momentum) => {
        stats.push({ buffer, value: tf.keep(value), momentum });
      },
      isDataInput: (value) => value === this.inputName,
    };
    const drop = opts.training ? opts.dropout : undefined;
    for (const node of this.graph.nodes) {
      this.runNode(node, values, ctx, q);
      if (drop) this.applyDropout(node, values, drop);
    }
    const out = values.get(this.outputName);
    if (!out) throw new Error(`output ${this.outputName} was not computed`);
    const taps = new Map<string, tf.Tensor>();
    for (const name of opts.taps ?? []) {
      const v = values.get(name);
      if (!v)
        throw new EdgefleetError('EF_ERR_TRAIN_OPTIONS', `no value "${name}" in the graph to match features on`, {});
      taps.set(name, toOnnxLayout(v));
    }
    return { output: toOnnxLayout(out), taps, stats };
  }

  private runNode(node: Node, values: Map<string, tf.Tensor>, ctx: OpContext, q: QuantHooks | undefined): void {
    const impl = TRAINABLE_OPS[node.opType] as OpImpl;
    const slots = this.weightSlots.get(node);
    const inputs = node.inputs.map((name, slot) => {
      if (name === '' || slots?.has(slot)) return undefined;
      const v = values.get(name);
      if (!v) throw new Error(`input ${name} is neither computed nor a weight`);
      return v;
    });
    let outs: tf.Tensor[];
    try {
      outs = impl.run(node, inputs, ctx);
    } catch (err: unknown) {
      throw new Error(`node ${node.name || '(unnamed)'} (${node.opType}): ${asError(err).message}`, { cause: err });
    }
    node.outputs.forEach((name, i) => {
      const v = outs[i];
      if (name !== '' && v) values.set(name, q ? q.activation(name, v) : v);
    });
  }

  private applyDropout(node: Node, values: Map<string, tf.Tensor>, d: DropoutSpec): void {
    for (const name of node.outputs) {
      const rate = d.rates[name];
      const v = values.get(name);
      // A seed per step and value keeps masks reproducible and independent.
      if (rate !== undefined && rate > 0 && v)
        values.set(name, tf.dropout(v, rate, undefined, deriveSeed(d.seed, name)));
    }
  }

  private weightTensor(name: string): tf.Tensor {
    const w = this.variables.get(name) ?? this.buffers.get(name) ?? this.constants.get(name);
    if (!w) throw new Error(`weight ${name} is not a float initializer`);
    return w;
  }

  /** Fold recorded batch statistics into the running statistics (after an optimizer step). */
  applyStats(stats: readonly RecordedStat[]): void {
    for (const s of stats) {
      const buf = this.buffers.get(s.buffer);
      if (buf) tf.tidy(() => buf.assign(tf.add(tf.mul(buf, s.momentum), tf.mul(s.value, 1 - s.momentum))));
      s.value.dispose();
    }
  }

  /** Current weights of every variable and buffer, by initializer name (copies). */
  weights(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of [...this.variables, ...this.buffers]) out.set(name, v.dataSync() as Float32Array);
    return out;
  }

  /** Set weights by initializer name (e.g. restore a snapshot). */
  setWeights(weights: ReadonlyMap<string, Float32Array>): void {
    for (const [name, data] of weights) {
      const v = this.variables.get(name) ?? this.buffers.get(name);
      if (v) tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
    }
  }

  /** A copy of the IR model with the current weights written into its initializers. */
  exportModel(): Model {
    const out = loadModel(writeModel(this.model));
    for (const [name, data] of this.weights()) {
      const init = out.graph.initializers.get(name);
      if (init?.dtype === 'float32') init.data = data;
    }
    return out;
  }

  /** Free every TensorFlow.js tensor this graph holds. */
  dispose(): void {
    for (const v of [...this.variables.values(), ...this.buffers.values(), ...this.constants.values()]) v.dispose();
    this.variables.clear();
    this.buffers.clear();
    this.constants.clear();
  }

  /** Run once on zeros to catch shape problems at import and record every value's shape. */
  probe(): void {
    const dims = this.inputDims.map((d, i) => (i === 0 ? 2 : typeof d === 'number' && d > 0 ? d : Number.NaN));
    if (dims.some((d) => Number.isNaN(d)))
      throw refuse(`input ${this.inputName} has symbolic dims besides the batch; training needs them fixed`, {});
    tf.tidy(() => {
      const names = this.graph.nodes.flatMap((n) => n.outputs.filter((o) => o !== ''));
      let r: ForwardResult;
      try {
        r = this.forward(tf.zeros(dims), { training: false, taps: names });
      } catch (err: unknown) {
        throw refuse(`the graph cannot run in TensorFlow.js: ${asError(err).message}`, {});
      }
      for (const [name, v] of r.taps) this.valueShapes.set(name, v.shape.slice(1));
    });
  }
}

/**
 * Import an ONNX model as a trainable graph. The model is copied (the caller's stays as it
 * was), Constant nodes become initializers, BatchNorms are folded unless asked otherwise.
 * Throws EF_ERR_TRAIN_UNSUPPORTED naming every op outside the set.
 */
export async function importTrainable(model: Model, opts: ImportOptions = {}): Promise<TrainableGraph> {
  await useTrainBackend(opts.backend ?? 'wasm');
  const copy = loadModel(writeModel(model));
  const passes = [createConstantsToInitializersPass()];
  if ((opts.batchNorm ?? 'fold') === 'fold') passes.push(createFoldBatchNormPass());
  const prep = await runPipeline(copy, passes);
  if (!prep.ok) throw refuse(`the graph could not be prepared for training: ${prep.issues.join('; ')}`, {});
  copy.graph.topoSort();
  const g = new TrainableGraph(copy, opts);
  try {
    g.probe();
  } catch (err: unknown) {
    g.dispose();
    throw err;
  }
  return g;
}

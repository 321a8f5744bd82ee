import { EdgefleetError, stripUndefined } from '@edgefleet/shared';
import { createOrtCalibrationRunner } from '../calibration/collect.js';
import type { Dataset } from '../data/tensor.js';
import { verifyGraph } from '../ir/verify.js';
import type { Model, Node } from '../ir/types.js';
import { quantizeStatic } from '../passes/int8-static.js';
import { planStatic } from '../passes/static-plan.js';
import { createRangeSource, type RangeChoice, type RangeMethod, type RangeSource } from '../passes/static-ranges.js';
import type { CalibrationRunner, Exclusions } from '../passes/types.js';
import { opsetOf, quantizedOpsIn } from '../passes/util.js';
import { activationQParams, outputChannelAxis, type QParams } from '../quant/int8.js';
import { getAttrInt } from '../ir/index.js';
import type { tf } from './backend.js';
import type { QuantHooks, TrainableGraph } from './graph/trainable.js';
import { fakeQuantActivation, fakeQuantBias, fakeQuantWeight, weightScales } from './ops/fake-quant.js';

/**
 * Quantization-aware training that ends in the very graph `int8-static` writes. The plan (which
 * Conv/Gemm/MatMul get int8 weights, which activations get a Q→DQ pair, which pass-through
 * values share their producer's parameters, which Relus fold into an output range) is
 * `planStatic`'s; the activation ranges come from the same calibrator on the float model at the
 * start and stay fixed while the weights adapt to them; export runs `quantizeStatic` itself with
 * those ranges. So what trained is what onnxruntime runs, and it fuses it as it fuses
 * int8-static's output (QLinearConv, QGemm).
 */

/** Options of {@link prepareQat}. */
export interface QatOptions {
  /** Activation calibration, as int8-static's; default `auto` (per tensor, the method that errs least). */
  readonly method?: RangeMethod;
  /** Percentile for `percentile`; default int8-static's (99.99). */
  readonly percentile?: number;
  /** Layers kept in float, by node name or op type. */
  readonly exclude?: Exclusions;
  /** Keep layers that write a graph output float at their output, as int8-static's option; default false. */
  readonly floatOutputs?: boolean;
}

/** A prepared QAT run: the hooks to train with and the export. */
export interface QatSetup {
  readonly hooks: QuantHooks;
  /** Activation tensors with fake quantization (calibrated ones and those sharing their parameters). */
  readonly quantizedValues: number;
  /** Nodes with int8 weights. */
  readonly quantizedNodes: number;
  /** Write the trained graph as int8-static's QDQ model. */
  exportQdq(): Promise<Model>;
  /**
   * Quantize `model` in place with the calibrated ranges, as int8-static would: for a model of
   * the same structure whose float weights were written back from the trained graph.
   */
  quantizeInto(model: Model): Promise<void>;
}

interface Target {
  readonly axis: number;
  readonly input: string;
}

/** A range source that answers with the ranges chosen before training, so `quantizeStatic` exports them. */
function fixedRanges(chosen: ReadonlyMap<string, RangeChoice>): RangeSource {
  return {
    async choose(_model, tensors) {
      const missing = tensors.filter((t) => !chosen.has(t));
      if (missing.length > 0) return `QAT has no trained range for ${missing.slice(0, 5).join(', ')}`;
      return new Map(tensors.map((t) => [t, chosen.get(t) as RangeChoice]));
    },
  };
}

/**
 * Calibrate the graph's current float weights on `calib` (samples, or the runner a compression
 * pipeline already has) and build the QAT hooks.
 */
export async function prepareQat(
  graph: TrainableGraph,
  calib: Dataset | CalibrationRunner,
  opts: QatOptions = {},
): Promise<QatSetup> {
  const float = graph.exportModel();
  const exclude = opts.exclude ?? { nodes: [], opTypes: [] };
  const already = quantizedOpsIn(float.graph);
  if (already.length > 0)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_UNSUPPORTED',
      `QAT needs a float model; this one has ${already.join(', ')}`,
      {},
    );
  if ((opsetOf(float, '') ?? 0) < 13)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_UNSUPPORTED',
      'QAT writes per-channel QDQ, which needs ai.onnx opset ≥ 13; run the opset-upgrade pass on the model first',
      {},
    );
  const floatOutputs = opts.floatOutputs ?? false;
  const plan = planStatic(float.graph, exclude, floatOutputs);
  const runner = 'ranges' in calib ? calib : createOrtCalibrationRunner(calib);
  const source = createRangeSource(runner, {
    method: opts.method ?? 'auto',
    activationType: 'uint8',
    ...stripUndefined({ percentile: opts.percentile }),
  });
  const chosen = await source.choose(float, plan.calibrate);
  if (typeof chosen === 'string') throw new EdgefleetError('EF_ERR_TRAIN_DATA', chosen, {});
  const params = new Map<string, QParams>();
  for (const [name, c] of chosen) params.set(name, activationQParams(c.range.min, c.range.max, { type: 'uint8' }));
  for (const [value, head] of plan.shared) {
    const p = params.get(head);
    if (p) params.set(value, p);
  }
  // Targets by their first output, which names the same node in the trainable graph's copy.
  const targets = new Map<string, Target>();
  for (const t of plan.targets) {
    const w = float.graph.initializers.get(t.node.inputs[1] ?? '');
    if (!w || !params.has(t.node.inputs[0] ?? '')) continue;
    const use =
      t.node.opType === 'Conv'
        ? { op: 'Conv' as const }
        : t.node.opType === 'Gemm'
          ? { op: 'Gemm' as const, transB: (getAttrInt(t.node, 'transB', 0) ?? 0) === 1 }
          : { op: 'MatMul' as const };
    targets.set(t.node.outputs[0] ?? '', {
      axis: outputChannelAxis(use, w.dims.length),
      input: t.node.inputs[0] ?? '',
    });
  }
  const hooks: QuantHooks = {
    activation: (value, v) => {
      const p = params.get(value);
      return p ? fakeQuantActivation(v, p) : v;
    },
    weight: (node: Node, slot: number, w: tf.Tensor, read: (slot: number) => tf.Tensor) => {
      const t = targets.get(node.outputs[0] ?? '');
      if (!t || (slot !== 1 && slot !== 2)) return w;
      if (slot === 1) return fakeQuantWeight(w, t.axis);
      const weight = read(1);
      const channels = weight.shape[t.axis] as number;
      const xp = params.get(t.input);
      // int8-static quantizes a bias only when it has one value per output channel.
      return xp && w.size === channels ? fakeQuantBias(w, xp.scale, weightScales(weight, t.axis)) : w;
    },
  };
  return {
    hooks,
    quantizedValues: params.size,
    quantizedNodes: targets.size,
    async exportQdq() {
      const m = graph.exportModel();
      await quantizeWithRanges(m, exclude, chosen, floatOutputs);
      return m;
    },
    quantizeInto: (model) => quantizeWithRanges(model, exclude, chosen, floatOutputs),
  };
}

async function quantizeWithRanges(
  m: Model,
  exclude: Exclusions,
  chosen: ReadonlyMap<string, RangeChoice>,
  floatOutputs: boolean,
): Promise<void> {
  const r = await quantizeStatic(m, m.graph, exclude, fixedRanges(chosen), { activationType: 'uint8', floatOutputs });
  if (typeof r === 'string') throw new EdgefleetError('EF_ERR_TRAIN_UNSUPPORTED', `QAT export failed: ${r}`, {});
  const v = verifyGraph(m.graph);
  if (!v.ok) throw new Error(`QAT export produced an invalid graph: ${v.problems.slice(0, 3).join('; ')}`);
}

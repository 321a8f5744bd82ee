/**
 * Accuracy-bounded fallback for int8-static, in the spirit of NNCF's `max_drop` revert and INC's
 * fallback tuning: quantize a copy, compare it with the float model on the calibration data
 * (output cosine), and while the goal is missed, revert to float the layers that inject the
 * most error — the drop in cosine between a layer's quantized input and its quantized output,
 * measured in the same run (onnxruntime's qdq_loss_debug idea, made automatic). Each round
 * reverts a fixed share of the remaining int8 layers, so the loop ends after a bounded number of
 * quantize+compare runs.
 */
import { loadModel } from '../ir/decode.js';
import { writeModel } from '../ir/encode.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/types.js';
import type { CalibRange } from '../quant/calibrators.js';
import type { TensorAgreement } from '../calibration/compare.js';
import { planStatic } from './static-plan.js';
import type { CalibrationRunner, Exclusions } from './types.js';
import { quantizeStatic, type Int8StaticOptions } from './int8-static.js';

/** Settings of the fallback. */
export interface FallbackOptions {
  /** Minimum cosine of every float output to the float model's; 0 disables the fallback. */
  readonly goal: number;
  /** Largest relative error ‖y − ŷ‖/‖y‖ of every float output; default 0.1 (the scale cosine ≥ 0.995 implies). */
  readonly maxRelativeError?: number;
  /** Most quantize+compare rounds; default 12. */
  readonly maxRounds?: number;
  /** Share of the still-int8 layers reverted per round; default 0.1 (at least one layer). */
  readonly revertShare?: number;
}

/** What the fallback decided. */
export interface FallbackResult {
  /** Layers to keep in float, with the measured injected error that got them reverted. */
  readonly reverted: Map<string, string>;
  /** Worst output cosine of the final choice on the calibration data. */
  readonly outputCosine: number;
  /** Worst output relative error of the final choice on the calibration data. */
  readonly outputRelativeError: number;
  readonly rounds: number;
  readonly met: boolean;
}

/** The DQ output that replaced float tensor `value` in a quantized graph, if any. */
function dqOf(graph: Graph, value: string): string | undefined {
  const q = graph.consumersOf(value).find((n) => n.opType === 'QuantizeLinear');
  const dq = q ? graph.consumersOf(q.outputs[0] ?? '').find((n) => n.opType === 'DequantizeLinear') : undefined;
  return dq?.outputs[0];
}

interface Probe {
  readonly node: string;
  readonly input: string;
  readonly output: string;
}

interface Measured {
  readonly outputCosine: number;
  readonly outputRelativeError: number;
  /** Per layer: relative error its output adds to what its input already carried. */
  readonly injected: Map<string, number>;
}

async function measure(
  float: Model,
  trial: Model,
  probes: readonly Probe[],
  outputs: readonly string[],
  calibration: CalibrationRunner,
): Promise<Measured> {
  const pairs = outputs.map((o) => ({ reference: o, candidate: o }));
  for (const p of probes) {
    for (const v of [p.input, p.output]) pairs.push({ reference: v, candidate: dqOf(trial.graph, v) ?? v });
  }
  const unique = [...new Map(pairs.map((p) => [p.reference, p])).values()];
  const got = await calibration.compare(float, trial, unique);
  const at = (v: string): TensorAgreement => got.get(v) ?? { cosine: 0, relativeError: Number.POSITIVE_INFINITY };
  return {
    outputCosine: Math.min(...outputs.map((o) => at(o).cosine)),
    outputRelativeError: Math.max(...outputs.map((o) => at(o).relativeError)),
    injected: new Map(probes.map((p) => [p.node, at(p.output).relativeError - at(p.input).relativeError])),
  };
}

/** The float model never changes between rounds, so each tensor's range is calibrated once. */
function cachedRanges(calibration: CalibrationRunner): CalibrationRunner {
  const known = new Map<string, CalibRange>();
  return {
    ...calibration,
    compare: (a, b, pairs) => calibration.compare(a, b, pairs),
    channelMeans: (m, t) => calibration.channelMeans(m, t),
    async ranges(model, tensors, method, o) {
      const todo = tensors.filter((t) => !known.has(t));
      if (todo.length > 0) for (const [k, v] of await calibration.ranges(model, todo, method, o)) known.set(k, v);
      return new Map(
        tensors.flatMap((t) => {
          const r = known.get(t);
          return r ? [[t, r] as const] : [];
        }),
      );
    },
  };
}

/** Find the layers to keep in float so that the quantized outputs stay within `goal` cosine of `float`. */
export async function findFallback(
  float: Model,
  exclude: Exclusions,
  calibration: CalibrationRunner,
  opts: Int8StaticOptions,
  fb: FallbackOptions,
): Promise<FallbackResult | string> {
  const reverted = new Map<string, string>();
  const cached = cachedRanges(calibration);
  const outputs = float.graph.outputs
    .filter((o) => o.type?.kind === 'tensor' && o.type.elemType === 'float32')
    .map((o) => o.name);
  if (calibration.samples < 2)
    return `the sensitivity fallback judges fidelity over the calibration samples and needs at least 2 (got ${calibration.samples}): on one sample a per-sample scalar output has cosine ±1 whatever its error; give more data (e.g. random:64)`;
  const maxRounds = fb.maxRounds ?? 12;
  const maxRel = fb.maxRelativeError ?? 0.1;
  let last = { outputCosine: 0, outputRelativeError: Number.POSITIVE_INFINITY, rounds: 0 };
  for (let round = 1; round <= maxRounds; round++) {
    const ex: Exclusions = { nodes: [...exclude.nodes, ...reverted.keys()], opTypes: exclude.opTypes };
    const plan = planStatic(float.graph, ex, opts.floatOutputs ?? false);
    const probes = plan.targets.map((t) => ({
      node: t.node.name,
      input: t.node.inputs[0] ?? '',
      output: t.out ?? t.node.outputs[0] ?? '',
    }));
    const trial = loadModel(writeModel(float));
    const r = await quantizeStatic(float, trial.graph, ex, cached, opts);
    if (typeof r === 'string') return r;
    const m = await measure(float, trial, probes, outputs, calibration);
    last = { outputCosine: m.outputCosine, outputRelativeError: m.outputRelativeError, rounds: round };
    const met = m.outputCosine >= fb.goal && m.outputRelativeError <= maxRel;
    if (met || probes.length === 0 || round === maxRounds) return { reverted, ...last, met };
    const k = Math.max(1, Math.ceil(probes.length * (fb.revertShare ?? 0.1)));
    const worst = [...m.injected].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, k);
    for (const [node, err] of worst) {
      reverted.set(
        node,
        `kept in float by the sensitivity fallback (round ${round}: output cosine ${m.outputCosine.toFixed(4)} (goal ≥ ${fb.goal}), relative error ${m.outputRelativeError.toFixed(4)} (goal ≤ ${maxRel}); this layer added ${err.toFixed(4)} relative error)`,
      );
    }
  }
  return { reverted, ...last, met: false };
}

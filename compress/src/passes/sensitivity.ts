/**
 * Accuracy-bounded fallback for int8-static, in the spirit of NNCF's `max_drop` revert and INC's
 * fallback tuning: quantize a copy, compare it with the float model on the calibration data
 * (cosine and relative error of every float output), and while the goal is missed, revert to float
 * the layers that add the most error per weight byte — the rise in relative error between a layer's
 * quantized input and its quantized output, measured in the same run (onnxruntime's qdq_loss_debug
 * idea, made automatic). Each round reverts a fixed share of the remaining int8 layers, so the loop
 * ends after a bounded number of quantize+compare runs; once the goal holds, the largest reverted
 * layers are tried back in int8 one at a time. Optionally (`biasCorrection`), bias correction is
 * tried per layer first.
 */
import { loadModel } from '../ir/decode.js';
import { writeModel } from '../ir/encode.js';
import type { Graph } from '../ir/graph.js';
import type { Model, Node } from '../ir/types.js';
import type { TensorAgreement } from '../calibration/compare.js';
import { planStatic } from './static-plan.js';
import type { CalibrationRunner, Exclusions } from './types.js';
import { quantizeStatic, type Int8StaticOptions } from './int8-static.js';
import type { RangeSource } from './static-ranges.js';
import { floatInit } from './util.js';
import { correctBiases, createFloatMeans } from './static-bias.js';

/** Settings of the fallback. */
export interface FallbackOptions {
  /** Minimum cosine of every float output to the float model's; 0 disables the fallback. */
  readonly goal: number;
  /** Largest relative error ‖y − ŷ‖/‖y‖ of every float output; default 0.1 (int8-static passes its own, 0.075). */
  readonly maxRelativeError?: number;
  /** Most quantize+compare rounds; default 12. */
  readonly maxRounds?: number;
  /** Share of the still-int8 layers reverted per round; default 0.1 (at least one layer). */
  readonly revertShare?: number;
  /** Most reverted layers tried back in int8 once the goal holds, largest first; default 6. */
  readonly maxRestore?: number;
}

/** What the fallback decided. */
export interface FallbackResult {
  /** Layers to keep in float, with the measured injected error that got them reverted. */
  readonly reverted: Map<string, string>;
  /** Layers whose bias correction lowered the error they add (corrected in the result). */
  readonly corrected: ReadonlySet<string>;
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

/** Bytes of a layer's float weight (what keeping it in float costs). */
function weightBytes(graph: Graph, node: Node): number {
  return (floatInit(graph, node.inputs[1])?.data.length ?? 0) * 4;
}

/**
 * The layers to revert this round: those that add at least 5% of the worst layer's error, most
 * error per weight byte first (an early 2 KB convolution that wrecks the output goes before a
 * 400 KB one that adds a little), a fixed share of the still-int8 layers (at least one).
 */
function worstLayers(
  injected: ReadonlyMap<string, number>,
  bytes: ReadonlyMap<string, number>,
  share: number,
): Array<[string, number]> {
  const worst = Math.max(0, ...injected.values());
  const k = Math.max(1, Math.ceil(injected.size * share));
  return [...injected]
    .filter(([, e]) => e > 0 && e >= 0.05 * worst)
    .sort(
      (a, b) =>
        b[1] / Math.max(1, bytes.get(b[0]) ?? 1) - a[1] / Math.max(1, bytes.get(a[0]) ?? 1) || (a[0] < b[0] ? -1 : 1),
    )
    .slice(0, k);
}

interface Trial {
  readonly floatMeans: ReturnType<typeof createFloatMeans>;
  readonly float: Model;
  readonly exclude: Exclusions;
  readonly ranges: RangeSource;
  readonly calibration: CalibrationRunner;
  readonly opts: Int8StaticOptions;
  readonly outputs: readonly string[];
}

/** Quantize a copy with `reverted` kept in float and the biases of `corrected` layers corrected, and measure it. */
async function tryReverting(
  t: Trial,
  reverted: ReadonlySet<string>,
  corrected: ReadonlySet<string> = new Set(),
): Promise<(Measured & { probes: number }) | string> {
  const ex: Exclusions = { nodes: [...t.exclude.nodes, ...reverted], opTypes: t.exclude.opTypes };
  const plan = planStatic(t.float.graph, ex, t.opts.floatOutputs ?? false);
  const probes = plan.targets.map((p) => ({
    node: p.node.name,
    input: p.node.inputs[0] ?? '',
    output: p.out ?? p.node.outputs[0] ?? '',
  }));
  const trial = loadModel(writeModel(t.float));
  const r = await quantizeStatic(t.float, trial.graph, ex, t.ranges, t.opts);
  if (typeof r === 'string') return r;
  const fix = new Set([...corrected].filter((n) => !reverted.has(n)));
  if (fix.size > 0) await correctBiases(t.float, trial, fix, t.calibration, t.floatMeans);
  return { ...(await measure(t.float, trial, probes, t.outputs, t.calibration)), probes: probes.length };
}

/**
 * Which layers bias correction helps: quantize everything, measure without and with every bias
 * corrected, keep the correction where the layer then adds less error.
 */
async function chooseCorrections(t: Trial): Promise<Set<string> | string> {
  const plain = await tryReverting(t, new Set());
  if (typeof plain === 'string') return plain;
  const all = new Set(plain.injected.keys());
  const fixed = await tryReverting(t, new Set(), all);
  if (typeof fixed === 'string') return fixed;
  return new Set([...all].filter((n) => (fixed.injected.get(n) ?? Infinity) < 0.8 * (plain.injected.get(n) ?? 0)));
}

/**
 * Find the layers to keep in float so that the quantized outputs stay within `goal` cosine and
 * `maxRelativeError` of `float`. Reverts the layers that add the most error per weight byte,
 * round by round, until the goal holds; then tries to bring back the largest reverted layers one
 * at a time (a layer reverted early may no longer be needed once its neighbours are float).
 */
export async function findFallback(
  float: Model,
  exclude: Exclusions,
  calibration: CalibrationRunner,
  ranges: RangeSource,
  opts: Int8StaticOptions,
  fb: FallbackOptions,
): Promise<FallbackResult | string> {
  if (calibration.samples < 2)
    return (
      `the sensitivity fallback judges fidelity over the calibration samples and needs at least 2 (got ` +
      `${calibration.samples}): on one sample a per-sample scalar output has cosine ±1 whatever its error; give more ` +
      `data (e.g. random:64)`
    );
  const outputs = float.graph.outputs
    .filter((o) => o.type?.kind === 'tensor' && o.type.elemType === 'float32')
    .map((o) => o.name);
  const maxRounds = fb.maxRounds ?? 12;
  const maxRel = fb.maxRelativeError ?? 0.1;
  const t: Trial = {
    float,
    exclude,
    ranges,
    calibration,
    opts,
    outputs,
    floatMeans: createFloatMeans(float, calibration),
  };
  const corrected = opts.biasCorrection === true ? await chooseCorrections(t) : new Set<string>();
  if (typeof corrected === 'string') return corrected;
  const bytes = new Map(float.graph.nodes.map((n) => [n.name, weightBytes(float.graph, n)]));
  const reverted = new Map<string, string>();
  const meets = (m: Measured): boolean => m.outputCosine >= fb.goal && m.outputRelativeError <= maxRel;
  let last = { outputCosine: 0, outputRelativeError: Number.POSITIVE_INFINITY, rounds: 0 };
  let met = false;
  for (let round = 1; round <= maxRounds; round++) {
    const m = await tryReverting(t, new Set(reverted.keys()), corrected);
    if (typeof m === 'string') return m;
    last = { outputCosine: m.outputCosine, outputRelativeError: m.outputRelativeError, rounds: round };
    met = meets(m);
    if (met || m.probes === 0 || round === maxRounds) break;
    for (const [node, err] of worstLayers(m.injected, bytes, fb.revertShare ?? 0.1)) {
      reverted.set(
        node,
        `kept in float by the sensitivity fallback (round ${round}: output cosine ${m.outputCosine.toFixed(4)} (goal ` +
          `≥ ${fb.goal}), relative error ${m.outputRelativeError.toFixed(4)} (goal ≤ ${maxRel}); this layer added ` +
          `${err.toFixed(4)} relative error, ${bytes.get(node) ?? 0} weight bytes)`,
      );
    }
  }
  if (!met) return { reverted, corrected, ...last, met };
  // Bring back the largest reverted layers while the goal still holds.
  const byBytes = [...reverted.keys()].sort((a, b) => (bytes.get(b) ?? 0) - (bytes.get(a) ?? 0));
  for (const node of byBytes.slice(0, fb.maxRestore ?? 6)) {
    const without = new Set([...reverted.keys()].filter((n) => n !== node));
    const m = await tryReverting(t, without, corrected);
    if (typeof m === 'string') return m;
    last = { ...last, rounds: last.rounds + 1 };
    if (!meets(m)) continue;
    reverted.delete(node);
    last = { outputCosine: m.outputCosine, outputRelativeError: m.outputRelativeError, rounds: last.rounds };
  }
  return { reverted, corrected, ...last, met };
}

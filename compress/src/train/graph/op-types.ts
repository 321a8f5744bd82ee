import { getAttrInts, getAttrString, type Graph, type Node } from '../../ir/index.js';
import type { tf } from '../backend.js';
import type { Pads2D } from '../ops/conv.js';

/** What an op implementation may use besides its inputs. */
export interface OpContext {
  readonly graph: Graph;
  /** ai.onnx opset of the model. */
  readonly opset: number;
  /** Training step (batch statistics, running-stat updates) or inference. */
  readonly training: boolean;
  /** BatchNormalization uses batch statistics while training (else its running statistics, frozen). */
  readonly trainBatchNorm: boolean;
  /**
   * The float initializer read by `node` at input `slot`, in ONNX layout: a trainable variable,
   * a buffer or a constant, fake-quantized when quantization-aware training asks for it.
   */
  weight(node: Node, slot: number): tf.Tensor;
  /** Values of an integer initializer (Reshape shapes). */
  ints(name: string): number[] | undefined;
  /**
   * Record a batch statistic for the running-stat update after the step (BatchNormalization):
   * running ← running·momentum + batch·(1 − momentum) [ONNX:BatchNormalization].
   */
  recordStat(buffer: string, batchValue: tf.Tensor, momentum: number): void;
  /** true when `value` is the graph's data input (its gradient is never needed). */
  isDataInput(value: string): boolean;
}

/** One ONNX op the trainable graph can run and differentiate. */
export interface OpImpl {
  /** Why this node cannot be trained (attribute, constant-ness, rank), or undefined when it can. */
  check(node: Node, graph: Graph): string | undefined;
  /**
   * Input slots read through {@link OpContext.weight} (ONNX layout) rather than as values;
   * `trainable` says which of them become trainable parameters.
   */
  readonly weightSlots?: (node: Node, graph: Graph) => ReadonlyArray<{ slot: number; trainable: boolean }>;
  /** Outputs in internal layout; `inputs` holds undefined for weight slots and omitted inputs. */
  run(node: Node, inputs: ReadonlyArray<tf.Tensor | undefined>, ctx: OpContext): tf.Tensor[];
}

/** The first input as a tensor, or a programmer error (checks ran at import). */
export function first(inputs: ReadonlyArray<tf.Tensor | undefined>, node: Node): tf.Tensor {
  const x = inputs[0];
  if (!x) throw new Error(`node ${node.name} (${node.opType}) has no input value`);
  return x;
}

/** Why a weight slot is not a float32 initializer, or undefined. */
export function needFloatInit(graph: Graph, node: Node, slot: number, what: string): string | undefined {
  const name = node.inputs[slot];
  if (name === undefined || name === '') return undefined;
  const t = graph.initializers.get(name);
  return t?.dtype === 'float32' ? undefined : `its ${what} (${name}) is not a float32 initializer`;
}

/** Checks shared by Conv and the pools: 2-D kernels, no dilation, a known auto_pad. */
export function spatialProblem(node: Node, kernelRank: number | undefined): string | undefined {
  if (kernelRank !== undefined && kernelRank !== 2) return `a ${kernelRank}-D kernel (only 2-D is trainable)`;
  const dil = getAttrInts(node, 'dilations');
  if (dil?.some((d) => d !== 1)) return `dilations [${dil.join(',')}] (only 1 is trainable)`;
  const auto = getAttrString(node, 'auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(auto ?? '')) return `auto_pad ${auto}`;
  return undefined;
}

/** Pads [top, left, bottom, right] of a 2-D window op on an input of spatial size `hw`. */
export function resolvePads(
  node: Node,
  hw: readonly [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
): Pads2D {
  const auto = getAttrString(node, 'auto_pad', 'NOTSET');
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const total = [0, 1].map((a) => {
      const out = Math.ceil((hw[a] as number) / (strides[a] as number));
      return Math.max(0, (out - 1) * (strides[a] as number) + (kernel[a] as number) - (hw[a] as number));
    }) as [number, number];
    const small = total.map((t) => Math.floor(t / 2)) as [number, number];
    const big = total.map((t, a) => t - (small[a] as number)) as [number, number];
    // [ONNX:Conv] SAME_UPPER puts the extra padding at the end, SAME_LOWER at the beginning.
    return auto === 'SAME_UPPER' ? [small[0], small[1], big[0], big[1]] : [big[0], big[1], small[0], small[1]];
  }
  const p = getAttrInts(node, 'pads', [0, 0, 0, 0]) ?? [0, 0, 0, 0];
  return [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 0];
}

/** `strides` attribute of a 2-D op (default 1, 1). */
export function strides2d(node: Node): [number, number] {
  const s = getAttrInts(node, 'strides', [1, 1]) ?? [1, 1];
  return [s[0] ?? 1, s[1] ?? 1];
}

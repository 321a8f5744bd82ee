/**
 * Shared vocabulary of the channel rules (channel-rules.ts, channel-rules-layers.ts): what a node
 * does with a channel space (a member the cut acts on), the analysis state every rule reads and
 * writes, and the helpers that block a space with a reason or open a new one.
 */
import type { Graph, Node } from '../ir/index.js';
import type { KnownValue } from '../eval/shapes.js';
import type { ChannelLayout, SpaceSet } from './layout.js';
/** What a node does with channels of a space; the apply step cuts each member. */
export type Member =
  /** Produces the channels of `tensor`: cut its weight's output axis and its bias. */
  | { readonly kind: 'out'; readonly node: string; readonly tensor: string }
  /** Reads the channels of `tensor` through its weight: cut the weight's input axis. */
  | { readonly kind: 'in'; readonly node: string; readonly tensor: string }
  /** A per-channel constant on input `slot`, its channels on `axis`, laid out like `tensor`. */
  | {
      readonly kind: 'param';
      readonly node: string;
      readonly slot: number;
      readonly axis: number;
      readonly tensor: string;
    }
  /** A depthwise Conv carrying the channels of `tensor` (its output): cut filters and bias, set `group`. */
  | { readonly kind: 'depthwise'; readonly node: string; readonly tensor: string }
  /**
   * A Reshape whose target spells the channel count of `tensor` (its output, on `axis`) with
   * element `index` of constant `constant`, read by input `slot` of node `reader`: rewritten.
   */
  | {
      readonly kind: 'reshape';
      readonly node: string;
      readonly tensor: string;
      readonly axis: number;
      readonly constant: string;
      readonly index: number;
      readonly reader: string;
      readonly slot: number;
    };

/** Shared state of one analysis. */
export interface RuleContext {
  readonly graph: Graph;
  readonly spaces: SpaceSet;
  readonly layouts: Map<string, ChannelLayout>;
  readonly members: Member[];
  readonly shapes: ReadonlyMap<string, KnownValue>;
  /** Known values of small integer tensors (reshape targets, axes). */
  readonly ints: (name: string) => number[] | undefined;
  /** ai.onnx opset of the model. */
  readonly opset: number;
}

/** What one op type does with the channels of its inputs. */
export type Rule = (node: Node, ctx: RuleContext) => void;

/** Blocks every space of a layout with a reason naming the node. */
export function blockLayout(ctx: RuleContext, l: ChannelLayout, reason: string): void {
  for (const s of l.segments) if (s.space !== null) ctx.spaces.block(s.space, reason);
}

/** Blocks the spaces of every input of `node`, naming it. */
export function blockInputs(ctx: RuleContext, node: Node, why: string): void {
  for (const v of node.inputs) {
    const l = ctx.layouts.get(v);
    if (l) blockLayout(ctx, l, `${node.opType} ${node.name}: ${why}`);
  }
}

export const dimsOf = (ctx: RuleContext, v: string | undefined): number[] | undefined =>
  v ? ctx.shapes.get(v)?.dims : undefined;

/** A new space of `channels` channels produced by `node` on `axis` of `tensor`. */
export function newSpace(ctx: RuleContext, node: Node, tensor: string, axis: number, channels: number): number {
  const id = ctx.spaces.add(channels);
  ctx.layouts.set(tensor, { axis, block: 1, segments: [{ space: id, size: channels }] });
  ctx.members.push({ kind: 'out', node: node.name, tensor });
  return id;
}

/**
 * The channel dependency graph of a model (the DepGraph idea: coupled channels are one
 * decision). Walks the nodes in topological order with a rule per op (channel-rules.ts),
 * joining spaces that must lose the same channels, and returns the groups: each group is one
 * union of spaces with the layers that produce its channels, the layers that read them, and
 * every per-channel constant in between. A group is prunable only when every node touching it
 * could be followed; otherwise it is listed with the first node that stopped the analysis and
 * why, and pruning leaves it whole.
 */
import { canonicalDomain, stableTopoOrder, type Graph, type Node } from '../ir/index.js';
import { inferShapes, type KnownValue } from '../eval/shapes.js';
import { createIntValues } from '../eval/shape-values.js';
import { exclusionReason } from '../passes/util.js';
import type { Exclusions } from '../passes/types.js';
import { blockLayout, CHANNEL_RULES, type Member, type RuleContext } from './channel-rules.js';
import { SpaceSet, type ChannelLayout } from './layout.js';
import { stripUndefined } from '@edgefleet/shared';

/** One group of coupled channels. */
export interface ChannelGroup {
  /** Root space id (stable for one analysis). */
  readonly id: number;
  /** The first layer (topological order) producing the channels; how users address the group. */
  readonly name: string;
  readonly channels: number;
  /** Channels are kept in equal numbers in this many consecutive blocks (grouped convolutions); 1 otherwise. */
  readonly blocks: number;
  /** Layers whose output channels these are (Conv, Gemm, MatMul; several after a residual Add). */
  readonly producers: readonly string[];
  /** Layers reading the channels through their weights (the ones reconstruction refits). */
  readonly consumers: readonly string[];
  /** Every node with something to cut, producers and consumers included. */
  readonly nodes: readonly string[];
  readonly prunable: boolean;
  /** Why the group is left whole (names the node). */
  readonly reason?: string;
}

/** The result of {@link analyzeChannels}. */
export interface ChannelAnalysis {
  readonly groups: readonly ChannelGroup[];
  readonly layouts: ReadonlyMap<string, ChannelLayout>;
  readonly members: readonly Member[];
  /** Root space of any space id. */
  readonly rootOf: (space: number) => number;
  /** Inferred shapes at the analysis batch size. */
  readonly shapes: ReadonlyMap<string, KnownValue>;
}

/** Options of {@link analyzeChannels}. */
export interface AnalyzeOptions {
  /** Nodes whose channels must not be cut. */
  readonly exclude?: Exclusions;
}

/**
 * Shape inference plus the known values of small integer tensors, at the given input dims.
 * Batch 2 is a good choice for the analysis: a batch of 1 is indistinguishable from a unit
 * axis when a reshape is mapped.
 */
export function shapesAt(
  graph: Graph,
  inputDims: Readonly<Record<string, readonly number[]>>,
): { shapes: Map<string, KnownValue>; ints: (name: string) => number[] | undefined; order: Node[] } {
  const order = stableTopoOrder(graph);
  const { values } = inferShapes(graph, order, inputDims);
  const ints = createIntValues(graph);
  for (const node of order) ints.propagate(node, values);
  return { shapes: values, ints: ints.get, order };
}

/** Analyse `graph` at concrete input dims (`inputDims`, batch first). */
export function analyzeChannels(
  graph: Graph,
  inputDims: Readonly<Record<string, readonly number[]>>,
  opset: number,
  options: AnalyzeOptions = {},
): ChannelAnalysis {
  const { shapes, ints, order } = shapesAt(graph, inputDims);
  const spaces = new SpaceSet();
  const ctx: RuleContext = { graph, spaces, layouts: new Map(), members: [], shapes, ints, opset };
  for (const node of order) visit(node, ctx, options.exclude);
  for (const [tensor, l] of ctx.layouts) {
    if (graph.isGraphOutput(tensor))
      blockLayout(ctx, l, `${tensor} is a model output (pruning it would change the model's interface)`);
    const inner = graph.implicitConsumersOf(tensor)[0];
    if (inner) blockLayout(ctx, l, `${inner.opType} ${inner.name} reads ${tensor} inside a subgraph`);
  }
  return {
    groups: collectGroups(ctx, order),
    layouts: ctx.layouts,
    members: ctx.members,
    rootOf: (s) => spaces.find(s),
    shapes,
  };
}

function visit(node: Node, ctx: RuleContext, exclude: Exclusions | undefined): void {
  const reads = node.inputs.some((v) => ctx.layouts.has(v));
  const excluded = exclude ? exclusionReason(node, exclude) : undefined;
  const rule = canonicalDomain(node.domain) === '' ? CHANNEL_RULES[node.opType] : undefined;
  if (excluded || !rule) {
    if (!reads) return;
    const why = excluded ?? 'edgefleet cannot follow channels through this op';
    for (const v of node.inputs) {
      const l = ctx.layouts.get(v);
      if (l) blockLayout(ctx, l, `${node.opType} ${node.name}: ${why}`);
    }
    return;
  }
  rule(node, ctx);
}

function collectGroups(ctx: RuleContext, order: readonly Node[]): ChannelGroup[] {
  const position = new Map(order.map((n, i) => [n.name, i]));
  const byRoot = new Map<number, { producers: Set<string>; consumers: Set<string>; nodes: Set<string> }>();
  const entry = (root: number) => {
    let e = byRoot.get(root);
    if (!e) {
      e = { producers: new Set(), consumers: new Set(), nodes: new Set() };
      byRoot.set(root, e);
    }
    return e;
  };
  for (const m of ctx.members) {
    const l = ctx.layouts.get(m.tensor);
    for (const s of l?.segments ?? []) {
      if (s.space === null) continue;
      const e = entry(ctx.spaces.find(s.space));
      e.nodes.add(m.node);
      // A rewritten reshape target is read by another node (often a Cast before a Concat).
      if (m.kind === 'reshape') e.nodes.add(m.reader);
      if (m.kind === 'out') e.producers.add(m.node);
      if (m.kind === 'in') e.consumers.add(m.node);
    }
  }
  const byOrder = (a: string, b: string): number => (position.get(a) ?? 0) - (position.get(b) ?? 0);
  const groups: ChannelGroup[] = [];
  for (const [root, e] of byRoot) {
    if (e.producers.size === 0) continue;
    const producers = [...e.producers].sort(byOrder);
    const consumers = [...e.consumers].sort(byOrder);
    const channels = ctx.spaces.channels(root);
    const blocks = ctx.spaces.blocksOf(root);
    let reason = ctx.spaces.blockedReason(root);
    if (!reason && consumers.length === 0) reason = 'no weighted layer reads these channels';
    if (!reason && channels / blocks < 2) reason = `only ${channels} channel(s) in ${blocks} group(s)`;
    groups.push({
      id: root,
      name: producers[0] as string,
      channels,
      blocks,
      producers,
      consumers,
      nodes: [...e.nodes].sort(byOrder),
      prunable: reason === undefined,
      ...stripUndefined({ reason }),
    });
  }
  return groups.sort((a, b) => byOrder(a.name, b.name));
}

/**
 * Ordering helpers: free (outer-scope) names of subgraphs and a stable topological order.
 */
import type { Graph } from './graph.js';
import type { Node } from './types.js';

/** Names a node's subgraphs read from outer scopes (recursively), i.e. its implicit inputs. */
export function freeNamesOf(node: Node): Set<string> {
  const free = new Set<string>();
  for (const attr of node.attributes) {
    const graphs = attr.kind === 'graph' ? [attr.value] : attr.kind === 'graphs' ? attr.value : [];
    for (const g of graphs) for (const name of freeNamesOfGraph(g)) free.add(name);
  }
  return free;
}

function freeNamesOfGraph(g: Graph): Set<string> {
  const free = new Set<string>();
  for (const node of g.nodes) {
    for (const name of [...node.inputs, ...freeNamesOf(node)]) {
      if (name !== '' && !g.definesValue(name)) free.add(name);
    }
  }
  for (const out of g.outputs) if (!g.definesValue(out.name)) free.add(out.name);
  return free;
}

/** Every value a node reads: explicit inputs (without omitted ones) and implicit subgraph inputs. */
export function readsOf(node: Node): string[] {
  const names = node.inputs.filter((n) => n !== '');
  const free = freeNamesOf(node);
  return free.size === 0 ? names : [...new Set([...names, ...free])];
}

/** Result of ordering: the order, and the nodes that could not be placed because of a cycle. */
export interface TopoResult {
  order: Node[];
  /** Nodes on or downstream of a cycle, in their original order. Empty for a DAG. */
  stuck: Node[];
}

/**
 * Kahn's algorithm, always taking the ready node that comes first in the current order, so
 * an already sorted graph keeps its order exactly (and the result is deterministic).
 */
export function topoOrder(graph: Graph): TopoResult {
  const nodes = graph.nodes;
  const position = new Map<Node, number>(nodes.map((n, i) => [n, i]));
  const pending = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((node, i) => {
    const deps = new Set<number>();
    for (const name of readsOf(node)) {
      const producer = graph.producerOf(name);
      if (producer && producer !== node) deps.add(position.get(producer) ?? -1);
      else if (producer === node) deps.add(i); // self-loop: never ready
    }
    for (const d of deps) {
      if (d < 0) continue;
      pending[i] = (pending[i] ?? 0) + 1;
      if (d !== i) dependents[d]?.push(i);
    }
  });
  const heap = new MinHeap();
  pending.forEach((p, i) => {
    if (p === 0) heap.push(i);
  });
  const order: Node[] = [];
  const placed = new Array<boolean>(nodes.length).fill(false);
  for (let i = heap.pop(); i !== undefined; i = heap.pop()) {
    order.push(nodes[i] as Node);
    placed[i] = true;
    for (const j of dependents[i] ?? []) {
      pending[j] = (pending[j] ?? 0) - 1;
      if (pending[j] === 0) heap.push(j);
    }
  }
  const stuck = nodes.filter((_, i) => !placed[i]);
  return { order, stuck };
}

/** A stable topological order; nodes caught in a cycle are appended in their original order. */
export function stableTopoOrder(graph: Graph): Node[] {
  const { order, stuck } = topoOrder(graph);
  return [...order, ...stuck];
}

/**
 * One cycle among `stuck` nodes (from `topoOrder`), as the nodes along it. Every stuck node
 * waits on another stuck node, so following those waits must revisit a node.
 */
export function findCycle(graph: Graph, stuck: readonly Node[]): Node[] {
  const stuckSet = new Set(stuck);
  const seenAt = new Map<Node, number>();
  const path: Node[] = [];
  let current = stuck[0];
  while (current && !seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    const from: Node = current;
    current = readsOf(from)
      .map((name) => graph.producerOf(name))
      .find((p): p is Node => p !== undefined && stuckSet.has(p));
  }
  return current ? path.slice(seenAt.get(current)) : [];
}

class MinHeap {
  private readonly items: number[] = [];
  push(v: number): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as number) <= v) break;
      a[i] = a[p] as number;
      i = p;
    }
    a[i] = v;
  }
  pop(): number | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && (a[r] as number) < (a[l] as number) ? r : l;
      if ((a[c] as number) >= last) break;
      a[i] = a[c] as number;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

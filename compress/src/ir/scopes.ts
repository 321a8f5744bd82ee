/**
 * Walking a graph tree: the root graph and every subgraph (If branches, Loop and Scan bodies),
 * with the node that owns each subgraph, so passes can handle nodes inside subgraphs or name
 * exactly what they leave alone.
 */
import type { Graph } from './graph.js';
import type { Attribute, Node } from './types.js';

/** The subgraphs held by a node's attributes (If: then/else branch, Loop/Scan: body), in attribute order. */
export function subgraphsOf(node: Node): Array<{ attribute: string; graph: Graph }> {
  return node.attributes.flatMap((a: Attribute) =>
    a.kind === 'graph'
      ? [{ attribute: a.name, graph: a.value }]
      : a.kind === 'graphs'
        ? a.value.map((g) => ({ attribute: a.name, graph: g }))
        : [],
  );
}

/** One graph of a tree, with where it sits. */
export interface ScopedGraph {
  readonly graph: Graph;
  /** The node whose attribute holds this graph; undefined for the root. */
  readonly owner: Node | undefined;
  /** Nesting depth: 0 for the root, 1 for a branch of a top-level If, … */
  readonly depth: number;
  /** Human label, e.g. `then_branch of If 'n1' > body of Loop 'n7'`; '' for the root. */
  readonly label: string;
}

/** The root graph and every subgraph below it, parents before children (depth-first, in node order). */
export function allGraphs(root: Graph): ScopedGraph[] {
  const out: ScopedGraph[] = [];
  const visit = (graph: Graph, owner: Node | undefined, depth: number, label: string): void => {
    out.push({ graph, owner, depth, label });
    for (const node of graph.nodes) {
      for (const sub of subgraphsOf(node)) {
        const here = `${sub.attribute} of ${node.opType} '${node.name}'`;
        visit(sub.graph, node, depth + 1, label === '' ? here : `${label} > ${here}`);
      }
    }
  };
  visit(root, undefined, 0, '');
  return out;
}

/** True when any node of the tree (the root excluded) lives in a subgraph. */
export function hasSubgraphs(root: Graph): boolean {
  return root.nodes.some((n) => subgraphsOf(n).length > 0);
}

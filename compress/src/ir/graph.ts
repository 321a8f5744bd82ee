/**
 * The in-memory graph: nodes in order, initializers as typed arrays, declared inputs/outputs
 * and value infos, plus producer/consumer indexes kept up to date by every mutation helper.
 * Subgraphs (If/Loop/Scan bodies) are Graphs too, with `parent` pointing at the outer scope
 * and one name registry shared by the whole tree, so fresh names never collide across scopes.
 */
import type { Attribute, Node, NodeSpec, Tensor, ValueInfo } from './types.js';
import type { SparseTensorProto, TensorAnnotationProto } from './proto.js';
import { stableTopoOrder, freeNamesOf } from './topo.js';

type MutableNode = Omit<Node, 'inputs' | 'outputs'> & { inputs: string[]; outputs: string[] };

/** Names in use anywhere in one graph tree (values and node names). */
class NameRegistry {
  private readonly used = new Set<string>();
  add(name: string): void {
    if (name !== '') this.used.add(name);
  }
  has(name: string): boolean {
    return this.used.has(name);
  }
  fresh(base: string): string {
    const stem = base === '' ? 'v' : base;
    if (!this.used.has(stem)) return this.claim(stem);
    for (let i = 1; ; i++) {
      const candidate = `${stem}_${i}`;
      if (!this.used.has(candidate)) return this.claim(candidate);
    }
  }
  private claim(name: string): string {
    this.used.add(name);
    return name;
  }
}

/** Fields a Graph starts from; everything but `name` defaults to empty. */
export interface GraphInit {
  name?: string;
  docString?: string;
  inputs?: ValueInfo[];
  outputs?: ValueInfo[];
  valueInfo?: ValueInfo[];
  initializers?: Tensor[];
  nodes?: NodeSpec[];
  sparseInitializers?: SparseTensorProto[];
  quantizationAnnotation?: TensorAnnotationProto[];
}

/** Create a graph (a root graph, or a subgraph when `parent` is given). */
export function createGraph(init: GraphInit = {}, parent?: Graph): Graph {
  return new Graph(init, parent);
}

export class Graph {
  name: string;
  docString: string;
  /** Declared graph inputs, in order (may include initializers for ir_version < 4 models). */
  inputs: ValueInfo[];
  /** Declared graph outputs, in order. */
  outputs: ValueInfo[];
  /** Initializers by name, in insertion order (the order they are written in). */
  readonly initializers = new Map<string, Tensor>();
  /** Value infos of intermediate values by name, in insertion order. */
  readonly valueInfo = new Map<string, ValueInfo>();
  /** Sparse initializers, kept as decoded; their names count as defined values. */
  sparseInitializers: SparseTensorProto[];
  /** Quantization annotations, kept as decoded. */
  quantizationAnnotation: TensorAnnotationProto[];
  /** The enclosing graph when this is a subgraph. */
  readonly parent: Graph | undefined;

  private nodeList: MutableNode[] = [];
  private readonly producers = new Map<string, Node>();
  private readonly consumers = new Map<string, Set<Node>>();
  private readonly names: NameRegistry;

  constructor(init: GraphInit = {}, parent?: Graph) {
    this.parent = parent;
    this.names = parent ? parent.names : new NameRegistry();
    this.name = init.name ?? '';
    this.docString = init.docString ?? '';
    this.inputs = init.inputs ?? [];
    this.outputs = init.outputs ?? [];
    this.sparseInitializers = init.sparseInitializers ?? [];
    this.quantizationAnnotation = init.quantizationAnnotation ?? [];
    for (const vi of [...this.inputs, ...this.outputs]) this.names.add(vi.name);
    for (const vi of init.valueInfo ?? []) this.setValueInfo(vi);
    for (const t of init.initializers ?? []) this.addInitializer(t);
    for (const spec of init.nodes ?? []) this.addNode(spec);
  }

  /** The nodes in their current order. */
  get nodes(): readonly Node[] {
    return this.nodeList;
  }

  /** The node producing `value` in this graph (not in outer scopes), if any. */
  producerOf(value: string): Node | undefined {
    return this.producers.get(value);
  }

  /** Nodes of this graph reading `value` as an explicit input, in the order they started reading it. */
  consumersOf(value: string): Node[] {
    return [...(this.consumers.get(value) ?? [])];
  }

  /** Nodes of this graph whose subgraphs read `value` from this (outer) scope. */
  implicitConsumersOf(value: string): Node[] {
    return this.nodeList.filter((n) => freeNamesOf(n).has(value));
  }

  isGraphInput(value: string): boolean {
    return this.inputs.some((vi) => vi.name === value);
  }

  isGraphOutput(value: string): boolean {
    return this.outputs.some((vi) => vi.name === value);
  }

  /** True when `value` is defined in this graph: input, initializer, sparse initializer or node output. */
  definesValue(value: string): boolean {
    return (
      this.producers.has(value) ||
      this.initializers.has(value) ||
      this.isGraphInput(value) ||
      this.sparseInitializers.some((s) => s.values?.name === value)
    );
  }

  /** True when `value` is visible here: defined in this graph or any enclosing one. */
  isVisible(value: string): boolean {
    return this.definesValue(value) || (this.parent?.isVisible(value) ?? false);
  }

  /** A name no value or node in this graph tree uses, derived from `base`; it is reserved at once. */
  freshName(base: string): string {
    return this.names.fresh(base);
  }

  /** True when `name` is used anywhere in this graph tree. */
  isNameUsed(name: string): boolean {
    return this.names.has(name);
  }

  /** Add a node at the end, or right before/after another node. Returns the node added. */
  addNode(spec: NodeSpec, at?: { before: Node } | { after: Node }): Node {
    const node: MutableNode = {
      name: spec.name ?? this.names.fresh(`${spec.opType}_node`),
      opType: spec.opType,
      domain: spec.domain ?? '',
      inputs: [...spec.inputs],
      outputs: [...spec.outputs],
      attributes: [...(spec.attributes ?? [])],
      docString: spec.docString ?? '',
    };
    let index = this.nodeList.length;
    if (at) index = this.indexOf('before' in at ? at.before : at.after) + ('before' in at ? 0 : 1);
    this.nodeList.splice(index, 0, node);
    this.index(node);
    return node;
  }

  /** Remove a node; its outputs become undefined unless something else defines them. */
  removeNode(node: Node): void {
    const i = this.indexOf(node);
    this.nodeList.splice(i, 1);
    this.unindex(node);
  }

  /** Replace a node by a new one at the same position. Returns the new node. */
  replaceNode(old: Node, spec: NodeSpec): Node {
    const added = this.addNode(spec, { before: old });
    this.removeNode(old);
    return added;
  }

  /** Point input `slot` of `node` at `value` ('' omits an optional input). */
  setNodeInput(node: Node, slot: number, value: string): void {
    const n = this.mutable(node);
    if (slot < 0 || slot > n.inputs.length) throw new RangeError(`input slot ${slot} out of range for node ${n.name}`);
    this.unindex(n);
    n.inputs[slot] = value;
    this.index(n);
  }

  /** Rename output `slot` of `node` (consumers are not rewired; see `replaceAllUses`). */
  setNodeOutput(node: Node, slot: number, value: string): void {
    const n = this.mutable(node);
    if (slot < 0 || slot >= n.outputs.length)
      throw new RangeError(`output slot ${slot} out of range for node ${n.name}`);
    this.unindex(n);
    n.outputs[slot] = value;
    this.index(n);
  }

  /**
   * Make every explicit consumer of `from` read `to` instead (subgraph references and graph
   * outputs are left alone; use `renameValue` to rename a value everywhere).
   */
  replaceAllUses(from: string, to: string, options: { except?: readonly Node[] } = {}): number {
    let count = 0;
    for (const node of this.consumersOf(from)) {
      if (options.except?.includes(node)) continue;
      const n = this.mutable(node);
      this.unindex(n);
      n.inputs = n.inputs.map((v) => (v === from ? to : v));
      this.index(n);
      count++;
    }
    return count;
  }

  /**
   * `replaceAllUses`, and also every read of `from` from inside this graph's subgraphs (their
   * implicit, outer-scope inputs): a Cast inserted after a graph input must feed the If branches
   * and Loop bodies that read the input too, not only the nodes of this graph.
   */
  replaceAllUsesDeep(from: string, to: string, options: { except?: readonly Node[] } = {}): number {
    let count = this.replaceAllUses(from, to, options);
    for (const node of this.implicitConsumersOf(from)) {
      if (options.except?.includes(node)) continue;
      for (const attr of node.attributes) renameInSubgraphs(attr, from, to);
      count++;
    }
    return count;
  }

  /** Rename a value everywhere in this graph and in subgraphs that read it from here. */
  renameValue(from: string, to: string): void {
    if (from === to) return;
    if (this.names.has(to)) throw new Error(`cannot rename ${from} to ${to}: the name is already used`);
    this.names.add(to);
    renameInGraph(this, from, to);
  }

  /** Append a graph input (its name is reserved so fresh names never reuse it). */
  addInput(vi: ValueInfo): void {
    this.names.add(vi.name);
    this.inputs.push(vi);
  }

  /** Append a graph output (its name is reserved so fresh names never reuse it). */
  addOutput(vi: ValueInfo): void {
    this.names.add(vi.name);
    this.outputs.push(vi);
  }

  /** Add an initializer; its name must not be defined in this graph yet. */
  addInitializer(tensor: Tensor): void {
    if (this.initializers.has(tensor.name)) throw new Error(`initializer ${tensor.name} already exists`);
    this.initializers.set(tensor.name, tensor);
    this.names.add(tensor.name);
  }

  /** Remove an initializer (and its graph input entry, if the model listed it as one). */
  removeInitializer(name: string): boolean {
    this.inputs = this.inputs.filter((vi) => vi.name !== name);
    return this.initializers.delete(name);
  }

  /** Set or replace the value info of an intermediate value. */
  setValueInfo(vi: ValueInfo): void {
    this.valueInfo.set(vi.name, vi);
    this.names.add(vi.name);
  }

  /** Reorder nodes topologically, keeping the current order wherever it is already valid. */
  topoSort(): void {
    this.nodeList = stableTopoOrder(this) as MutableNode[];
  }

  /** Index of a node in `nodes` (programmer error if it is not in this graph). */
  indexOf(node: Node): number {
    const i = this.nodeList.indexOf(node as MutableNode);
    if (i < 0) throw new Error(`node ${node.name} is not in graph ${this.name}`);
    return i;
  }

  private mutable(node: Node): MutableNode {
    this.indexOf(node);
    return node as MutableNode;
  }

  private index(node: MutableNode): void {
    this.names.add(node.name);
    for (const out of node.outputs) {
      if (out === '') continue;
      this.names.add(out);
      // First producer wins in the index; verifyGraph reports duplicates.
      if (!this.producers.has(out)) this.producers.set(out, node);
    }
    for (const inp of node.inputs) {
      if (inp === '') continue;
      let set = this.consumers.get(inp);
      if (!set) {
        set = new Set();
        this.consumers.set(inp, set);
      }
      set.add(node);
    }
  }

  private unindex(node: Node): void {
    for (const out of node.outputs) {
      if (this.producers.get(out) !== node) continue;
      this.producers.delete(out);
      const other = this.nodeList.find((n) => n !== node && n.outputs.includes(out));
      if (other) this.producers.set(out, other);
    }
    for (const inp of node.inputs) this.consumers.get(inp)?.delete(node);
  }

  /** @internal rename support: rewrite one node's names in place and re-index it. */
  renameInNode(node: Node, from: string, to: string): void {
    const n = this.mutable(node);
    this.unindex(n);
    n.inputs = n.inputs.map((v) => (v === from ? to : v));
    n.outputs = n.outputs.map((v) => (v === from ? to : v));
    this.index(n);
  }
}

function renameInGraph(g: Graph, from: string, to: string): void {
  for (const node of [...g.nodes]) {
    if (node.inputs.includes(from) || node.outputs.includes(from)) g.renameInNode(node, from, to);
    for (const attr of node.attributes) renameInSubgraphs(attr, from, to);
  }
  for (const vi of [...g.inputs, ...g.outputs]) if (vi.name === from) vi.name = to;
  const vi = g.valueInfo.get(from);
  if (vi) {
    g.valueInfo.delete(from);
    vi.name = to;
    g.setValueInfo(vi);
  }
  const init = g.initializers.get(from);
  if (init) {
    g.initializers.delete(from);
    init.name = to;
    g.addInitializer(init);
  }
}

function renameInSubgraphs(attr: Attribute, from: string, to: string): void {
  const graphs = attr.kind === 'graph' ? [attr.value] : attr.kind === 'graphs' ? attr.value : [];
  // A subgraph that defines the name itself shadows the outer value; leave it alone.
  for (const sub of graphs) if (!sub.definesValue(from)) renameInGraph(sub, from, to);
}

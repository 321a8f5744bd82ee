/**
 * Structural verification of a graph or model. Returns every problem found (it does not stop
 * at the first), each a sentence naming the node/value/tensor involved.
 */
import { storageLengthOf } from './dtype.js';
import type { Graph } from './graph.js';
import { findCycle, topoOrder } from './topo.js';
import type { Attribute, Model, Tensor } from './types.js';

/** Outcome of a verification: ok is true exactly when problems is empty. */
export interface VerifyResult {
  ok: boolean;
  problems: string[];
}

/** Operator domains onnxruntime (CPU) has kernels for; '' and 'ai.onnx' are the default domain. */
export const KNOWN_DOMAINS: ReadonlySet<string> = new Set([
  '',
  'ai.onnx',
  'ai.onnx.ml',
  'com.microsoft',
  'com.microsoft.nchwc',
  'com.microsoft.experimental',
  'ai.onnx.preview.training',
  'ai.onnx.training',
]);

/** Normalise the default domain's two spellings to ''. */
export function canonicalDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

/** Verify a model: its graph (recursively) plus opset imports against the domains nodes use. */
export function verifyModel(model: Model): VerifyResult {
  const problems = [...verifyGraph(model.graph).problems, ...opsetProblems(model)];
  return { ok: problems.length === 0, problems };
}

/**
 * Operator domains the model's nodes use (canonical: '' for ai.onnx), subgraphs and model-local
 * function bodies included, mapped to one node that uses each (for messages). A domain that is
 * only *declared* in `opset_import` is not here: files saved by onnxruntime's optimizer declare
 * domains such as `com.ms.internal.nhwc` or `org.pytorch.aten` that no node uses.
 */
export function usedDomains(model: Model): Map<string, string> {
  const used = new Map<string, string>();
  const note = (domain: string, where: string): void => {
    const d = canonicalDomain(domain);
    if (!used.has(d)) used.set(d, where);
  };
  collectDomains(model.graph, note);
  for (const f of model.functions) {
    for (const n of f.node ?? [])
      note(n.domain ?? '', `node '${n.name ?? ''}' (${n.opType ?? ''}) of function '${f.name ?? ''}'`);
  }
  return used;
}

/**
 * Operator domains that nodes use but onnxruntime does not implement and no model-local function
 * defines. Judged by use: an unknown domain that is only declared is dropped on write, not refused.
 */
export function unknownDomains(model: Model): string[] {
  const local = new Set(model.functions.map((f) => f.domain ?? ''));
  return [...usedDomains(model).keys()].filter((d) => !KNOWN_DOMAINS.has(d) && !local.has(d));
}

/**
 * The opset imports worth writing: every domain a node or local function uses, plus the default
 * domain (always kept, so a model's ai.onnx version never becomes implicit). Imports no node uses
 * are dropped, so a rewritten model declares only what it needs.
 */
export function usedOpsetImports(model: Model): Model['opsetImports'] {
  const used = usedDomains(model);
  for (const f of model.functions) used.set(canonicalDomain(f.domain ?? ''), `function '${f.name ?? ''}'`);
  return model.opsetImports.filter((o) => canonicalDomain(o.domain) === '' || used.has(canonicalDomain(o.domain)));
}

function opsetProblems(model: Model): string[] {
  const problems: string[] = [];
  const imported = new Map<string, number>();
  for (const o of model.opsetImports) {
    const d = canonicalDomain(o.domain);
    if (imported.has(d)) problems.push(`opset domain '${d || 'ai.onnx'}' is imported more than once`);
    imported.set(d, o.version);
  }
  const used = usedDomains(model);
  for (const d of unknownDomains(model))
    problems.push(
      `${used.get(d) ?? 'a node'} uses operator domain '${d}', which onnxruntime does not implement and no ` +
        `model-local function defines`,
    );
  const local = new Set(model.functions.map((f) => f.domain ?? ''));
  for (const [d, where] of used) {
    if (!imported.has(d) && !local.has(d))
      problems.push(`${where} uses operator domain '${d || 'ai.onnx'}' but the model does not import an opset for it`);
  }
  return problems;
}

function collectDomains(g: Graph, note: (domain: string, where: string) => void): void {
  for (const n of g.nodes) {
    note(n.domain, `node '${n.name}' (${n.opType})${g.parent ? ` in subgraph '${g.name}'` : ''}`);
    for (const sub of subgraphsOf(n.attributes)) collectDomains(sub, note);
  }
}

function subgraphsOf(attrs: readonly Attribute[]): Graph[] {
  return attrs.flatMap((a) => (a.kind === 'graph' ? [a.value] : a.kind === 'graphs' ? a.value : []));
}

/**
 * Verify one graph and its subgraphs: acyclic, one definition per value, every input defined
 * (here or, for subgraphs, in an enclosing scope; '' marks an omitted optional input), graph
 * outputs defined, and every initializer/tensor attribute's data matching its dims and dtype.
 */
export function verifyGraph(graph: Graph): VerifyResult {
  const problems: string[] = [];
  checkGraph(graph, problems);
  return { ok: problems.length === 0, problems };
}

function checkGraph(g: Graph, problems: string[]): void {
  const scope = g.parent ? `subgraph '${g.name}'` : `graph '${g.name}'`;
  checkDefinitions(g, scope, problems);
  for (const t of g.initializers.values()) checkTensor(t, `initializer '${t.name}' in ${scope}`, problems);
  for (const node of g.nodes) {
    if (node.opType === '') problems.push(`node '${node.name}' in ${scope} has no op_type`);
    node.inputs.forEach((name, slot) => {
      if (name !== '' && !g.isVisible(name)) {
        problems.push(
          `node '${node.name}' (${node.opType}) reads '${name}' at input ${slot}, but no graph input, initializer or ` +
            `node output defines it`,
        );
      }
    });
    for (const a of node.attributes) {
      if (a.kind === 'tensor') checkTensor(a.value, `tensor attribute '${a.name}' of node '${node.name}'`, problems);
      if (a.kind === 'tensors')
        a.value.forEach((t, i) => {
          checkTensor(t, `tensor ${i} of attribute '${a.name}' of node '${node.name}'`, problems);
        });
    }
    for (const sub of subgraphsOf(node.attributes)) checkGraph(sub, problems);
  }
  for (const out of g.outputs) {
    if (!g.isVisible(out.name))
      problems.push(`${scope} output '${out.name}' is not produced by any node, input or initializer`);
  }
  const { stuck } = topoOrder(g);
  if (stuck.length > 0) {
    // Start the cycle at its earliest node so the message does not depend on where the walk began.
    const found = findCycle(g, stuck).reverse();
    const start = found.reduce((best, n, i) => (g.indexOf(n) < g.indexOf(found[best] ?? n) ? i : best), 0);
    const cycle = [...found.slice(start), ...found.slice(0, start)];
    const path = [...cycle, ...cycle.slice(0, 1)].map((n) => `'${n.name}' (${n.opType})`).join(' → ');
    problems.push(`${scope} has a cycle: ${path} (each feeds the next); ${stuck.length} node(s) cannot be ordered`);
  }
}

function checkDefinitions(g: Graph, scope: string, problems: string[]): void {
  // Kinds of definition per value. An initializer may also be listed as a graph input (ir_version < 4 style).
  const defs = new Map<string, string[]>();
  const note = (name: string, what: string): void => {
    if (name === '') return;
    const list = defs.get(name);
    if (list) list.push(what);
    else defs.set(name, [what]);
  };
  for (const vi of g.inputs) if (!g.initializers.has(vi.name)) note(vi.name, 'graph input');
  for (const t of g.initializers.keys()) note(t, 'initializer');
  for (const n of g.nodes) for (const out of n.outputs) note(out, `output of node '${n.name}' (${n.opType})`);
  for (const [name, what] of defs) {
    if (what.length > 1)
      problems.push(
        `value '${name}' in ${scope} is defined ${what.length} times (${what.join(', ')}); each value must have ` +
          `exactly one producer`,
      );
    if (g.parent?.isVisible(name))
      problems.push(`value '${name}' in ${scope} shadows a value of the enclosing graph, which ONNX forbids`);
  }
}

/** Check that a tensor's data holds exactly the elements its dims and dtype declare. */
export function checkTensor(t: Tensor, label: string, problems: string[]): void {
  if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    problems.push(`${label} has invalid dims [${t.dims.join(', ')}]`);
    return;
  }
  const elements = t.dims.reduce((a, b) => a * b, 1);
  if (t.dtype === 'string') {
    if (t.data.length !== elements)
      problems.push(`${label} declares ${elements} strings (dims [${t.dims.join(', ')}]) but holds ${t.data.length}`);
    return;
  }
  const expected = storageLengthOf(t.dtype, elements);
  if (t.data.length !== expected) {
    problems.push(
      `${label} declares dims [${t.dims.join(', ')}] of ${t.dtype} (${elements} elements) but its data holds ` +
        `${t.data.length} ${t.dtype === 'complex64' || t.dtype === 'complex128' ? 'lanes' : 'entries'}; expected ` +
        `${expected}`,
    );
  }
}

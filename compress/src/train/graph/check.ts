import { EdgefleetError } from '@edgefleet/shared';
import type { Graph } from '../../ir/graph.js';
import { BASIC_OPS } from './op-basic.js';
import { SPATIAL_OPS } from './op-spatial.js';
import type { OpImpl } from './op-types.js';

/**
 * What the trainable graph accepts: the op set, the model interface (one float input of known
 * rank, one output), and the refusal that names every op outside the set and why.
 */

/** Every op the trainable graph runs, by ONNX type (domain ai.onnx). */
export const TRAINABLE_OPS: Readonly<Record<string, OpImpl>> = { ...SPATIAL_OPS, ...BASIC_OPS };

/** An EF_ERR_TRAIN_UNSUPPORTED error. */
export function refuse(message: string, details: Record<string, unknown>): EdgefleetError {
  return new EdgefleetError('EF_ERR_TRAIN_UNSUPPORTED', message, details);
}

/**
 * The value holding class scores before normalisation: when the graph's only output is made
 * by a Softmax, its input; otherwise the output itself. Losses and distillation use it.
 */
export function logitsValueOf(graph: Graph): string {
  const out = graph.outputs[0]?.name ?? '';
  const producer = graph.producerOf(out);
  return producer?.opType === 'Softmax' && producer.inputs[0] ? producer.inputs[0] : out;
}

/** The graph's data input (name, declared dims) and output, or a refusal. */
export function interfaceOf(graph: Graph): { input: string; output: string; dims: Array<number | string | null> } {
  const inputs = graph.inputs.filter((i) => !graph.initializers.has(i.name));
  const [input] = inputs;
  const type = input?.type;
  if (inputs.length !== 1 || type?.kind !== 'tensor' || type.elemType !== 'float32' || !type.shape)
    throw refuse(
      `training needs a model with one float32 input of known rank; this one has ${inputs.length} ` +
        `input(s)${input ? ` (${input.name})` : ''}`,
      { inputs: inputs.map((i) => i.name) },
    );
  if (graph.outputs.length !== 1)
    throw refuse(`training needs a model with one output (the class scores); this one has ${graph.outputs.length}`, {
      outputs: graph.outputs.map((o) => o.name),
    });
  return { input: input?.name ?? '', output: graph.outputs[0]?.name ?? '', dims: type.shape };
}

/** Refuse a graph with any node outside the trainable set, naming every such op and why. */
export function checkOps(graph: Graph): void {
  const problems: Array<{ op: string; node: string; why: string }> = [];
  for (const node of graph.nodes) {
    const impl = node.domain === '' || node.domain === 'ai.onnx' ? TRAINABLE_OPS[node.opType] : undefined;
    const why = impl ? impl.check(node, graph) : 'op outside the trainable set';
    if (why) problems.push({ op: node.domain ? `${node.domain}.${node.opType}` : node.opType, node: node.name, why });
  }
  if (problems.length === 0) return;
  // One line per op and reason (a graph has many Shape or Cast nodes), with its first node.
  const groups = new Map<string, { op: string; why: string; nodes: string[] }>();
  for (const p of problems) {
    const key = `${p.op}\u0000${p.why}`;
    const g = groups.get(key) ?? { op: p.op, why: p.why, nodes: [] };
    g.nodes.push(p.node || 'unnamed');
    groups.set(key, g);
  }
  const listed = [...groups.values()]
    .slice(0, 6)
    .map((g) => {
      const where = g.nodes.length > 1 ? `${g.nodes.length} nodes, first ${g.nodes[0]}` : `node ${g.nodes[0]}`;
      return `${g.op} (${where}: ${g.why})`;
    })
    .join('; ');
  throw refuse(
    `cannot train this graph: ${listed}${groups.size > 6 ? `; and ${groups.size - 6} more` : ''}. Trainable ops: ` +
      `${Object.keys(TRAINABLE_OPS).join(', ')}`,
    { ops: [...new Set(problems.map((p) => p.op))], nodes: problems.map((p) => p.node) },
  );
}

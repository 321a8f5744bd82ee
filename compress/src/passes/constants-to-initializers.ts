/**
 * `constants-to-initializers`: Constant nodes with a `value` tensor become initializers. Exporters
 * (PaddleOCR's paddle2onnx among them) store every weight in a Constant node; the quantization
 * passes look for weights among initializers, so this normalisation runs first in every preset. It
 * works in subgraphs too (a Constant inside an If branch becomes an initializer of that branch).
 */
import type { Graph } from '../ir/graph.js';
import { allGraphs } from '../ir/scopes.js';
import type { Pass, PassContext, PassReport } from './types.js';

/** Create the pass. */
export function createConstantsToInitializersPass(): Pass {
  return { name: 'constants-to-initializers', run: runConstants };
}

async function runConstants(root: Graph, _ctx: PassContext): Promise<PassReport> {
  let moved = 0;
  let inSubgraphs = 0;
  // Subgraphs too: silero VAD keeps every weight in Constant nodes inside If branches.
  for (const { graph, owner } of allGraphs(root)) moved += moveConstants(graph, () => (owner ? inSubgraphs++ : 0));
  return {
    pass: 'constants-to-initializers',
    ok: true,
    summary: `${moved} Constant node(s) → initializers${inSubgraphs > 0 ? ` (${inSubgraphs} inside subgraphs)` : ''}`,
    changed: [],
    skipped: [],
    stats: { moved, inSubgraphs },
  };
}

function moveConstants(graph: Graph, onMove: () => void): number {
  let moved = 0;
  for (const node of [...graph.nodes]) {
    if (node.opType !== 'Constant' || node.domain !== '') continue;
    const out = node.outputs[0];
    const value = node.attributes.find((a) => a.name === 'value');
    if (out === undefined || value?.kind !== 'tensor' || graph.isGraphOutput(out) || graph.initializers.has(out))
      continue;
    graph.removeNode(node);
    graph.addInitializer({ ...value.value, name: out });
    moved++;
    onMove();
  }
  return moved;
}

/**
 * Where one element of a Reshape target comes from. Exporters build targets as
 * `Concat(Slice(Shape(x)), Constant)`: an element read from `Shape(x)` follows the pruned shape
 * at run time, an element from a constant must be rewritten, anything else cannot be trusted.
 */
import { constantTensorOf, getAttrInt, getAttrInts, type Graph } from '../ir/index.js';

/** The origin of an element of an integer tensor. */
export type ElementOrigin =
  /** Element `index` of a constant initializer, first read by input `slot` of node `reader`. */
  | {
      readonly kind: 'constant';
      readonly tensor: string;
      readonly index: number;
      readonly reader: string;
      readonly slot: number;
    }
  /** Dimension `dim` of tensor `of`, read at run time by a Shape node. */
  | { readonly kind: 'shape'; readonly of: string; readonly dim: number };

const PASS_ELEMENTS = new Set(['Cast', 'Identity', 'Squeeze', 'Unsqueeze']);

/**
 * Traces element `index` of integer value `value` back through Concat, Cast, Identity,
 * (Un)Squeeze, Slice and Gather with constant indices, to a constant or a Shape.
 * `lengthOf` gives the element count of intermediate values (from the known-ints store).
 */
export function traceElement(
  graph: Graph,
  value: string,
  index: number,
  lengthOf: (name: string) => number | undefined,
  rankOf: (name: string) => number | undefined,
): ElementOrigin | undefined {
  const producer = graph.producerOf(value);
  if (!producer) return undefined;
  const op = producer.opType;
  if (PASS_ELEMENTS.has(op))
    return viaInput(graph, producer.name, 0, producer.inputs[0] ?? '', index, lengthOf, rankOf);
  if (op === 'Concat') {
    let offset = 0;
    for (let slot = 0; slot < producer.inputs.length; slot++) {
      const v = producer.inputs[slot] ?? '';
      const n = lengthOf(v);
      if (n === undefined) return undefined;
      if (index < offset + n) return viaInput(graph, producer.name, slot, v, index - offset, lengthOf, rankOf);
      offset += n;
    }
    return undefined;
  }
  if (op === 'Shape') {
    const rank = rankOf(producer.inputs[0] ?? '');
    const start = getAttrInt(producer, 'start', 0) as number;
    if (rank === undefined) return undefined;
    const first = start < 0 ? start + rank : start;
    return { kind: 'shape', of: producer.inputs[0] ?? '', dim: first + index };
  }
  if (op === 'Slice' || op === 'Gather') {
    const picks = pickedIndices(graph, producer, lengthOf);
    const from = picks?.[index];
    return from === undefined
      ? undefined
      : viaInput(graph, producer.name, 0, producer.inputs[0] ?? '', from, lengthOf, rankOf);
  }
  return undefined;
}

function viaInput(
  graph: Graph,
  reader: string,
  slot: number,
  value: string,
  index: number,
  lengthOf: (name: string) => number | undefined,
  rankOf: (name: string) => number | undefined,
): ElementOrigin | undefined {
  if (graph.initializers.has(value)) return { kind: 'constant', tensor: value, index, reader, slot };
  return traceElement(graph, value, index, lengthOf, rankOf);
}

/** Which input elements a 1-D Slice or Gather keeps, from constant starts/ends or indices. */
function pickedIndices(
  graph: Graph,
  node: { opType: string; inputs: readonly string[] } & Parameters<typeof getAttrInts>[0],
  lengthOf: (name: string) => number | undefined,
): number[] | undefined {
  const len = lengthOf(node.inputs[0] ?? '');
  if (len === undefined) return undefined;
  const ints = (v: string | undefined): number[] | undefined => {
    const t = v ? constantTensorOf(graph, v) : undefined;
    return t && (t.dtype === 'int64' || t.dtype === 'int32')
      ? Array.from(t.data as ArrayLike<number | bigint>, Number)
      : undefined;
  };
  if (node.opType === 'Gather') return ints(node.inputs[1])?.map((i) => (i < 0 ? i + len : i));
  const starts = getAttrInts(node, 'starts') ?? ints(node.inputs[1]);
  const ends = getAttrInts(node, 'ends') ?? ints(node.inputs[2]);
  const steps = ints(node.inputs[4]) ?? [1];
  if (!starts || !ends || starts.length !== 1 || steps[0] !== 1) return undefined;
  const clamp = (v: number): number => Math.min(len, Math.max(0, v < 0 ? v + len : v));
  const out: number[] = [];
  for (let i = clamp(starts[0] as number); i < clamp(ends[0] as number); i++) out.push(i);
  return out;
}

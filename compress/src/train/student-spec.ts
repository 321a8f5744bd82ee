import { EdgefleetError } from '@edgefleet/shared';
import type { Model } from '../ir/index.js';
import type { ArchSpec, LayerSpec } from './arch.js';
import { logitsValueOf } from './graph/trainable.js';
import { describeChain, instantiateArch, mlpArch, narrowArch, shallowArch, stridedArch } from './students.js';

/**
 * Student specifications: the CLI's `--student` grammar and its programmatic form. Transforms
 * apply left to right to the teacher's architecture:
 *
 * - `width:M` or `width:M1,M2,…` — multiply hidden widths (one multiplier, or one per hidden layer);
 * - `shallow:K` — drop the K hidden layers nearest the output;
 * - `strided` — a conv followed by a k×k max-pool becomes a stride-k conv;
 * - `mlp:H1[,H2…]` — a multilayer perceptron on the flattened input;
 * - `arch:c16s2,c32s2,d64` — an explicit architecture: `cF[kK][sS][v]` conv with F filters
 *   (kernel K, default 3; stride S; `v` for valid padding), `pS` max-pool, `dU` dense; a Flatten
 *   goes before the first dense, the teacher's class layer after the last.
 *
 * Join transforms with `+`, e.g. `width:0.5+strided`.
 */
export type StudentTransform =
  | { readonly kind: 'width'; readonly multipliers: readonly number[] }
  | { readonly kind: 'shallow'; readonly layers: number }
  | { readonly kind: 'strided' }
  | { readonly kind: 'mlp'; readonly widths: readonly number[] }
  | { readonly kind: 'arch'; readonly layers: readonly LayerSpec[] };

function bad(spec: string, why: string): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_TRAIN_OPTIONS',
    `student "${spec}": ${why}. Use width:0.25, width:0.5,0.25,0.5, shallow:1, strided, mlp:128 or ` +
      `arch:c16s2,c32s2,d64, joined with +`,
    { spec },
  );
}

function numbers(spec: string, text: string | undefined, integer: boolean): number[] {
  const parts = (text ?? '').split(',');
  const values = parts.map(Number);
  if (
    text === undefined ||
    text === '' ||
    values.some((v) => !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
  )
    throw bad(spec, `"${text ?? ''}" is not a list of positive ${integer ? 'integers' : 'numbers'}`);
  return values;
}

function parseLayer(spec: string, token: string): LayerSpec {
  const conv = /^c(\d+)(?:k(\d+))?(?:s(\d+))?(v)?$/.exec(token);
  if (conv) {
    const kernel = Number(conv[2] ?? 3);
    if (kernel % 2 === 0 && conv[4] === undefined) throw bad(spec, `${token}: same padding needs an odd kernel`);
    return {
      kind: 'conv',
      filters: Number(conv[1]),
      kernel,
      relu: true,
      stride: Number(conv[3] ?? 1),
      padding: conv[4] ? 'valid' : 'same',
    };
  }
  const pool = /^p(\d+)$/.exec(token);
  if (pool) return { kind: 'maxpool', size: Number(pool[1]) };
  const dense = /^d(\d+)$/.exec(token);
  if (dense) return { kind: 'dense', units: Number(dense[1]), relu: true };
  throw bad(spec, `"${token}" is not a layer (cF[kK][sS][v], pS or dU)`);
}

/** Parse a `--student` spec into transforms. */
export function parseStudentSpec(spec: string): StudentTransform[] {
  if (spec.trim() === '') throw bad(spec, 'empty');
  return spec.split('+').map((part): StudentTransform => {
    const [kind, arg, ...extra] = part.split(':');
    if (extra.length > 0) throw bad(spec, `"${part}" has more than one ':'`);
    switch (kind) {
      case 'width': {
        const m = numbers(spec, arg, false);
        if (m.some((v) => v > 4)) throw bad(spec, 'width multipliers above 4 are not a student');
        return { kind: 'width', multipliers: m };
      }
      case 'shallow':
        return { kind: 'shallow', layers: numbers(spec, arg, true)[0] as number };
      case 'strided':
        if (arg !== undefined) throw bad(spec, 'strided takes no argument');
        return { kind: 'strided' };
      case 'mlp':
        return { kind: 'mlp', widths: numbers(spec, arg, true) };
      case 'arch':
        return { kind: 'arch', layers: (arg ?? '').split(',').map((t) => parseLayer(spec, t)) };
      default:
        throw bad(spec, `unknown transform "${kind}"`);
    }
  });
}

/** Input layout, image size and class count of a model with one input and one [N,K] output. */
function interfaceArch(model: Model): ArchSpec {
  const g = model.graph;
  const input = g.inputs.find((i) => !g.initializers.has(i.name));
  const dims = input?.type?.kind === 'tensor' ? (input.type.shape ?? []) : [];
  const out = g.outputs[0]?.type;
  const classes = out?.kind === 'tensor' ? out.shape?.[1] : undefined;
  const rest = dims.slice(1);
  if (typeof classes !== 'number' || !rest.every((d) => typeof d === 'number' && d > 0))
    throw new EdgefleetError(
      'EF_ERR_TRAIN_UNSUPPORTED',
      'a student needs a teacher with fixed input dims and an [N,K] output',
      {},
    );
  const [c, h, w] = rest as number[];
  const side = Math.sqrt(rest[0] as number);
  const image: [number, number, number] = rest.length === 3 ? [h as number, w as number, c as number] : [side, side, 1];
  if (rest.length !== 3 && (rest.length !== 1 || !Number.isInteger(side)))
    throw new EdgefleetError('EF_ERR_TRAIN_UNSUPPORTED', `input [N,${rest.join(',')}] is not an image`, {});
  return {
    name: g.name || 'teacher',
    input: rest.length === 3 ? 'image' : 'flat',
    image,
    layers: [{ kind: 'dense', units: classes, relu: false }],
  };
}

function explicitArch(base: ArchSpec, layers: readonly LayerSpec[]): ArchSpec {
  const out: LayerSpec[] = [];
  let spatial = base.input === 'image';
  for (const l of layers) {
    if (l.kind === 'dense' && spatial) {
      out.push({ kind: 'flatten' });
      spatial = false;
    }
    if (!spatial && (l.kind === 'conv' || l.kind === 'maxpool'))
      throw new EdgefleetError(
        'EF_ERR_TRAIN_OPTIONS',
        'arch: convolutions and pools must come before dense layers',
        {},
      );
    out.push(l);
  }
  if (spatial) out.push({ kind: 'flatten' });
  return { ...base, layers: [...out, ...base.layers.slice(-1)] };
}

/** The student architecture that `transforms` make of `teacher`. */
export function studentArch(teacher: Model, transforms: readonly StudentTransform[]): ArchSpec {
  let arch: ArchSpec | undefined;
  const chain = (): ArchSpec => {
    if (arch) return arch;
    const d = describeChain(teacher);
    if (typeof d === 'string')
      throw new EdgefleetError(
        'EF_ERR_TRAIN_UNSUPPORTED',
        `width, shallow and strided students copy a plain-chain teacher, and this one is not: ${d}. Give the student ` +
          `as arch:…, mlp:… or an ONNX file (e.g. a pruned model)`,
        {},
      );
    return d;
  };
  for (const t of transforms) {
    if (t.kind === 'width') arch = narrowArch(chain(), t.multipliers);
    else if (t.kind === 'shallow') arch = shallowArch(chain(), t.layers);
    else if (t.kind === 'strided') arch = stridedArch(chain());
    else if (t.kind === 'mlp') arch = mlpArch(arch ?? interfaceArch(teacher), t.widths);
    else arch = explicitArch(arch ? { ...arch, layers: arch.layers.slice(-1) } : interfaceArch(teacher), t.layers);
  }
  if (!arch) throw bad('', 'no transform');
  return { ...arch, name: `${arch.name}-student` };
}

/** Build an initialised student ONNX model of `teacher` from a spec. */
export function buildStudent(
  teacher: Model,
  spec: string | readonly StudentTransform[],
  seed: number,
): { model: Model; arch: ArchSpec } {
  const arch = studentArch(teacher, typeof spec === 'string' ? parseStudentSpec(spec) : spec);
  const input = teacher.graph.inputs.find((i) => !teacher.graph.initializers.has(i.name))?.name ?? 'input';
  // The student's output is logits; it keeps the teacher's output name only when that is logits too.
  const teacherOut = teacher.graph.outputs[0]?.name ?? 'logits';
  const output = logitsValueOf(teacher.graph) === teacherOut ? teacherOut : 'logits';
  return { model: instantiateArch(arch, seed, { input, output }), arch };
}

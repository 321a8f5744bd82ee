import { EdgefleetError } from '@edgefleet/shared';
import { getAttrInts, type Model } from '../ir/index.js';
import type { Gene } from './engine.js';
import type { NetLayer, NetSpec } from './latency/net.js';
import type { UnitPrecision } from './latency/units.js';
import { DEFAULT_CHANNEL_MULTIPLE, removalCount } from '../prune/sensitivity.js';

/**
 * The search space of one teacher for one class, as genes the engine mutates and a decoder that
 * turns a genome into a candidate: which family (the teacher pruned with its weights inherited,
 * or a student of a new shape distilled from it), the width kept per hidden layer, strided
 * convolution or pooling per downsampling stage (both families: a pruned teacher folds a pool into
 * the stride of the convolution before it, fold-pools.ts), how many hidden dense layers to drop
 * (students only: a pruned teacher keeps its layers), and the precision of each compute layer
 * among those the class executes. A pruned teacher's widths are the counts the pruning pass
 * really keeps (a multiple of {@link DEFAULT_CHANNEL_MULTIPLE} where a Conv reads the channels),
 * so what is predicted is what is built.
 */
export const WIDTH_CHOICES = [1, 0.75, 0.5, 0.375, 0.25, 0.125] as const;
export type Family = 'pruned' | 'student';

/** A layer of a plain-chain teacher, with the node that computes it. */
export type TeacherLayer = NetLayer & { readonly node: string };

/** The teacher as a plain chain: conv/pool blocks, a flatten, dense layers. */
export interface TeacherChain {
  readonly input: readonly number[];
  readonly layers: readonly TeacherLayer[];
}

/**
 * Read a plain-chain teacher (Conv, Relu, MaxPool, Flatten/Reshape, Gemm/MatMul, Dropout); a reason when it is not one.
 */
export function teacherChainOf(model: Model): TeacherChain | string {
  const g = model.graph;
  const input = g.inputs.find((i) => !g.initializers.has(i.name));
  const dims = input?.type?.kind === 'tensor' ? (input.type.shape ?? []) : [];
  const rest = dims.slice(1);
  if (!rest.every((d): d is number => typeof d === 'number' && d > 0)) return 'the input has no fixed per-sample dims';
  const layers: TeacherLayer[] = [];
  for (const n of g.nodes) {
    const w = g.initializers.get(n.inputs[1] ?? '');
    if (n.opType === 'Conv' && w) {
      const [kh, kw] = getAttrInts(n, 'kernel_shape', w.dims.slice(2) as number[]) ?? [];
      const strides = getAttrInts(n, 'strides', [1, 1]) ?? [1, 1];
      if (kh !== kw || (kh as number) % 2 === 0) return `${n.name}: only square odd kernels are searched`;
      layers.push({
        kind: 'conv',
        filters: w.dims[0] as number,
        kernel: kh as number,
        stride: strides[0] ?? 1,
        node: n.name,
      });
    } else if ((n.opType === 'Gemm' || n.opType === 'MatMul') && w)
      layers.push({ kind: 'dense', units: w.dims[1] as number, node: n.name });
    else if (n.opType === 'MaxPool') {
      const k = getAttrInts(n, 'kernel_shape', [2, 2]) ?? [2, 2];
      layers.push({ kind: 'maxpool', size: k[0] ?? 2, node: n.name });
    } else if (n.opType === 'Flatten' || n.opType === 'Reshape') layers.push({ kind: 'flatten', node: n.name });
    else if (n.opType === 'Relu') layers.push({ kind: 'relu', node: n.name });
    else if (n.opType !== 'Dropout' && n.opType !== 'Identity')
      return `${n.name} (${n.opType}) is not part of a plain chain`;
  }
  if (layers.at(-1)?.kind !== 'dense') return 'the chain does not end in a dense (classifier) layer';
  return { input: rest, layers };
}

/** What a genome decodes to. */
export interface Candidate {
  readonly family: Family;
  /** Kept fraction per hidden layer (convolutions and hidden dense layers, teacher order). */
  readonly widths: readonly number[];
  /** Per max-pool stage of the teacher: pool as the teacher does, or fold it into the conv's stride. */
  readonly downsample: readonly ('pool' | 'strided')[];
  /** Hidden dense layers dropped before the classifier. */
  readonly dropDense: number;
  /** Per compute layer (hidden layers, then the classifier). */
  readonly precisions: readonly UnitPrecision[];
  /** The network it runs (layer names l{i}.conv / l{i}.gemm, as buildNet names them). */
  readonly net: NetSpec;
  /** Precision per node name of `net`. */
  readonly precisionByNode: ReadonlyMap<string, UnitPrecision>;
  /** Removal ratio per teacher node (the pruned family's recipe): 1 − width. */
  readonly pruneRatios: Readonly<Record<string, number>>;
  /** The student as `arch:` spec (issue 15's grammar), e.g. `arch:c8,p2,c16s2,d32`. */
  readonly studentSpec: string;
}

/** A space over one teacher for one class. */
export interface SearchSpace {
  readonly genes: readonly Gene[];
  readonly teacher: TeacherChain;
  /** Precisions the class executes that the search may use. */
  readonly precisions: readonly UnitPrecision[];
  decode(genome: readonly number[]): Candidate;
  /** The genome with genes that do not matter for its family set to 0 (so duplicates are one candidate). */
  canonical(genome: readonly number[]): number[];
  /** The genome of a described candidate (all widths 1 etc. unless given), for seeding the search. */
  encode(c: Partial<Pick<Candidate, 'family' | 'widths' | 'downsample' | 'dropDense' | 'precisions'>>): number[];
  /** A stable description of the space (part of a resumable search's identity). */
  readonly description: string;
}

const computeKinds = new Set(['conv', 'dense']);

/** Build the space of `teacher` for a class that executes `classPrecisions`. */
export function createSearchSpace(teacher: TeacherChain, classPrecisions: readonly string[]): SearchSpace {
  const precisions = (['fp32', 'fp16', 'int8'] as const).filter((p) => classPrecisions.includes(p));
  if (precisions.length === 0)
    throw new EdgefleetError(
      'EF_ERR_SEARCH_OPTIONS',
      `the class executes none of fp32, fp16, int8 (it lists ${classPrecisions.join(', ')}); nothing can be searched`,
      {},
    );
  const compute = teacher.layers.filter((l) => computeKinds.has(l.kind));
  const hidden = compute.slice(0, -1);
  const pools = teacher.layers.filter((l) => l.kind === 'maxpool');
  const hiddenDense = hidden.filter((l) => l.kind === 'dense').length;
  const genes: Gene[] = [
    { name: 'family', cardinality: 2 },
    ...hidden.map((l) => ({ name: `width:${l.node}`, cardinality: WIDTH_CHOICES.length })),
    ...pools.map((l) => ({ name: `downsample:${l.node}`, cardinality: 2 })),
    { name: 'dropDense', cardinality: hiddenDense + 1 },
    ...compute.map((l) => ({ name: `precision:${l.node}`, cardinality: precisions.length })),
  ];
  const at = { widths: 1, pools: 1 + hidden.length, drop: 1 + hidden.length + pools.length };
  const precisionAt = at.drop + 1;

  const canonical = (genome: readonly number[]): number[] => {
    const g = [...genome];
    if (g[0] === 0) g[at.drop] = 0;
    return g;
  };

  const decode = (raw: readonly number[]): Candidate => {
    const genome = canonical(raw);
    const family: Family = genome[0] === 1 ? 'student' : 'pruned';
    const widths = hidden.map((_, i) => WIDTH_CHOICES[genome[at.widths + i] ?? 0] as number);
    const downsample = pools.map((_, i) => (genome[at.pools + i] === 1 ? 'strided' : 'pool') as 'pool' | 'strided');
    const dropDense = genome[at.drop] ?? 0;
    const layerPrecisions = compute.map((_, i) => precisions[genome[precisionAt + i] ?? 0] as UnitPrecision);
    return {
      family,
      widths,
      downsample,
      dropDense,
      precisions: layerPrecisions,
      ...realise(teacher, family, widths, downsample, dropDense, layerPrecisions),
    };
  };

  const encode: SearchSpace['encode'] = (c) => {
    const g = genes.map(() => 0);
    g[0] = c.family === 'student' ? 1 : 0;
    c.widths?.forEach((w, i) => {
      const k = WIDTH_CHOICES.findIndex((x) => Math.abs(x - w) < 1e-9);
      if (k < 0) throw new RangeError(`width ${w} is not one of ${WIDTH_CHOICES.join(', ')}`);
      g[at.widths + i] = k;
    });
    c.downsample?.forEach((d, i) => {
      g[at.pools + i] = d === 'strided' ? 1 : 0;
    });
    g[at.drop] = c.dropDense ?? 0;
    c.precisions?.forEach((p, i) => {
      const k = precisions.indexOf(p as (typeof precisions)[number]);
      if (k < 0) throw new RangeError(`the class does not execute ${p}`);
      g[precisionAt + i] = k;
    });
    return canonical(g);
  };

  const chainToken = `chain[${teacher.input.join('x')}:${teacher.layers.map((l) => layerToken(l)).join(',')}]`;
  // v2: pruned teachers fold pools into strides and keep channel multiples (v1 files are another space).
  const description = `${chainToken}/precisions[${precisions.join(',')}]/widths[${WIDTH_CHOICES.join(',')}]/v2`;
  return Object.freeze({ genes, teacher, precisions, decode, canonical, encode, description });
}

function layerToken(l: NetLayer): string {
  if (l.kind === 'conv') return `c${l.filters}k${l.kernel}${l.stride > 1 ? `s${l.stride}` : ''}`;
  if (l.kind === 'dense') return `d${l.units}`;
  if (l.kind === 'maxpool') return `p${l.size}`;
  return l.kind === 'flatten' ? 'f' : l.kind === 'relu' ? 'r' : 'g';
}

/** The network, precision map, prune ratios and student spec of decoded genes. */
function realise(
  teacher: TeacherChain,
  family: Family,
  widths: readonly number[],
  downsample: readonly ('pool' | 'strided')[],
  dropDense: number,
  precisions: readonly UnitPrecision[],
): Pick<Candidate, 'net' | 'precisionByNode' | 'pruneRatios' | 'studentSpec'> {
  const layers: NetLayer[] = [];
  const precisionByNode = new Map<string, UnitPrecision>();
  const pruneRatios: Record<string, number> = {};
  const tokens: string[] = [];
  const src = teacher.layers;
  const lastCompute = src.reduce((k, l, i) => (computeKinds.has(l.kind) ? i : k), -1);
  const denseIdx = src.map((l, i) => (l.kind === 'dense' && i !== lastCompute ? i : -1)).filter((i) => i >= 0);
  const dropped = new Set(denseIdx.slice(denseIdx.length - dropDense));
  let hiddenI = 0;
  let computeI = 0;
  let poolI = 0;
  for (let i = 0; i < src.length; i++) {
    const l = src[i] as TeacherLayer;
    if (l.kind === 'relu') {
      // Only after a layer that was kept: a dropped dense layer takes its Relu with it.
      const prev = layers.at(-1)?.kind;
      if (prev === 'conv' || prev === 'dense') layers.push({ kind: 'relu' });
      continue;
    }
    if (l.kind === 'conv' || l.kind === 'dense') {
      const isLast = i === lastCompute;
      const width = isLast ? 1 : (widths[hiddenI++] as number);
      const precision = precisions[computeI++] as UnitPrecision;
      if (dropped.has(i)) continue;
      const size = l.kind === 'conv' ? l.filters : l.units;
      const kept = isLast ? size : keptCount(src, i, size, width, family);
      if (!isLast && kept < size) pruneRatios[l.node] = 1 - kept / size;
      const nextPool = src.slice(i + 1).find((x) => x.kind !== 'relu');
      const fold = l.kind === 'conv' && nextPool?.kind === 'maxpool' && downsample[poolI] === 'strided';
      const index = layers.length;
      if (l.kind === 'conv') {
        const stride = fold && nextPool?.kind === 'maxpool' ? nextPool.size * l.stride : l.stride;
        layers.push({ kind: 'conv', filters: kept, kernel: l.kernel, stride });
        precisionByNode.set(`l${index}.conv`, precision);
        tokens.push(`c${kept}${l.kernel === 3 ? '' : `k${l.kernel}`}${stride > 1 ? `s${stride}` : ''}`);
      } else {
        layers.push({ kind: 'dense', units: kept });
        precisionByNode.set(`l${index}.gemm`, precision);
        if (!isLast) tokens.push(`d${kept}`);
      }
      continue;
    }
    if (l.kind === 'maxpool') {
      const folded = downsample[poolI++] === 'strided' && layers.some((x) => x.kind === 'conv');
      const prevCompute = [...layers].reverse().find((x) => x.kind !== 'relu');
      if (folded && prevCompute?.kind === 'conv' && prevCompute.stride > 1) continue;
      layers.push({ kind: 'maxpool', size: l.size });
      tokens.push(`p${l.size}`);
      continue;
    }
    layers.push(l.kind === 'flatten' ? { kind: 'flatten' } : l);
  }
  const net: NetSpec = { name: 'candidate', input: teacher.input, layers };
  return { net, precisionByNode, pruneRatios, studentSpec: `arch:${tokens.join(',')}` };
}

/**
 * Channels a hidden layer keeps at `width`: a student's are its own choice; a pruned teacher's are
 * what the structured pruning pass keeps at removal ratio 1 − width (at least one channel, and a
 * multiple of {@link DEFAULT_CHANNEL_MULTIPLE} when a Conv reads them), so the prediction is of the
 * model that gets built.
 */
function keptCount(src: readonly TeacherLayer[], i: number, size: number, width: number, family: Family): number {
  if (family === 'student') return Math.max(2, Math.round(size * width));
  if (width >= 1) return size;
  const next = src.slice(i + 1).find((x) => computeKinds.has(x.kind) || x.kind === 'flatten');
  const multiple = next?.kind === 'conv' ? DEFAULT_CHANNEL_MULTIPLE : 1;
  return size - removalCount(size, 1, 1 - width, multiple);
}

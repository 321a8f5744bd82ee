import type { UnitPrecision } from './latency/units.js';
import type { Candidate, SearchSpace } from './space.js';

/**
 * The genomes the search starts from, before random ones, at each precision the class executes
 * (uniformly): the teacher (quantization alone), the teacher with every pool folded into a
 * strided convolution, the same pruned to half its width, the teacher pruned to half its width
 * (pruning alone), and a student of half the teacher's widths with strided downsampling
 * (distillation alone). They are the baselines the front must beat, and with a small evaluation
 * budget (the loop's) they are what gets built first, the combinations before the single
 * techniques: a pruned or folded teacher inherits its weights, so a short distillation already
 * keeps most of its accuracy, where a student from scratch needs epochs. Candidates predicted to
 * break a budget are screened for free, so seeds that cannot fit cost nothing.
 */
export function singleTechniques(space: SearchSpace, mixed?: readonly UnitPrecision[]): number[][] {
  const count = (prefix: string) => space.genes.filter((g) => g.name.startsWith(prefix)).length;
  const strided = Array.from({ length: count('downsample:') }, () => 'strided' as const);
  const half = Array.from({ length: count('width:') }, () => 0.5);
  const initial: number[][] = [];
  // Each layer in its own fastest precision (e.g. float convolutions with int8 dense layers, where int8
  // convolutions are slower): the combinations first, since no uniform precision is both small and fast.
  if (mixed && new Set(mixed).size > 1)
    initial.push(
      space.encode({ widths: half, downsample: strided, precisions: mixed }),
      space.encode({ downsample: strided, precisions: mixed }),
      space.encode({ widths: half, precisions: mixed }),
    );
  // Lowest precision first: under a size budget it is the one that fits.
  for (const p of [...space.precisions].reverse()) {
    const precisions = Array.from({ length: count('precision:') }, () => p);
    initial.push(
      space.encode({ widths: half, downsample: strided, precisions }),
      space.encode({ precisions }),
      space.encode({ downsample: strided, precisions }),
      space.encode({ widths: half, precisions }),
      space.encode({ family: 'student', widths: half, downsample: strided, precisions }),
    );
  }
  return initial.filter((g, i) => initial.findIndex((h) => h.join() === g.join()) === i);
}

/**
 * Per compute layer, the precision the predictor prices fastest on the class (fewer bytes breaking
 * ties), chosen layer by layer from the folded half-width candidate at the lowest precision, the
 * others as chosen so far (a layer's cost includes the precision boundaries around it). Undefined
 * when the result mixes fp16 and fp32 layers (not built: the fp16 pass converts a whole model).
 */
export function fastestPrecisions(
  space: SearchSpace,
  deviceMs: (c: Candidate) => number | null,
): UnitPrecision[] | undefined {
  const count = (prefix: string) => space.genes.filter((g) => g.name.startsWith(prefix)).length;
  const shape = {
    widths: Array.from({ length: count('width:') }, () => 0.5),
    downsample: Array.from({ length: count('downsample:') }, () => 'strided' as const),
  };
  const lowestFirst = [...space.precisions].reverse();
  const chosen = Array.from({ length: count('precision:') }, () => lowestFirst[0] as UnitPrecision);
  for (let i = 0; i < chosen.length; i++) {
    let best = { p: chosen[i] as UnitPrecision, ms: Number.POSITIVE_INFINITY };
    for (const p of lowestFirst) {
      const trial = chosen.map((q, j) => (j === i ? p : q));
      const ms = deviceMs(space.decode(space.encode({ ...shape, precisions: trial })));
      if (ms !== null && ms < best.ms) best = { p, ms };
    }
    chosen[i] = best.p;
  }
  return chosen.includes('fp16') && chosen.includes('fp32') ? undefined : chosen;
}

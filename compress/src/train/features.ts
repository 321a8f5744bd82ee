import { EdgefleetError } from '@edgefleet/shared';
import { createRng, deriveSeed } from '../data/prng.js';
import { tf } from './backend.js';
import type { TrainableGraph } from './graph/trainable.js';
import type { Teacher } from './teacher.js';

/**
 * Feature matching (FitNets, Romero et al. 2015): a student's intermediate tensor is pulled
 * towards the teacher's. When only the channel count differs (a narrowed student), a learned
 * 1×1 projection (a linear map for flat features) carries the student's channels into the
 * teacher's; it trains with the student and is not exported.
 */

/** One matched pair of intermediate values (names of ONNX values). */
export interface FeaturePair {
  readonly student: string;
  readonly teacher: string;
  /** Weight of this term in the loss; default 1. */
  readonly weight?: number;
}

/** The learned projections of a training run. */
export interface Projections {
  readonly variables: tf.Variable[];
  /** The student's tensor (ONNX layout) mapped into the teacher's shape. */
  apply(pair: FeaturePair, student: tf.Tensor): tf.Tensor;
  dispose(): void;
}

const same = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Check every pair's shapes and create the projections they need. */
export async function createProjections(
  graph: TrainableGraph,
  pairs: readonly FeaturePair[],
  teacher: Teacher | undefined,
  seed: number,
): Promise<Projections> {
  const maps = new Map<FeaturePair, tf.Variable>();
  if (pairs.length > 0) {
    if (!teacher) throw new EdgefleetError('EF_ERR_TRAIN_OPTIONS', 'feature matching needs a teacher', {});
    const sampleDims = graph.inputDims.slice(1).map(Number);
    const teacherShapes = await teacher.shapes(sampleDims);
    const rng = createRng(deriveSeed(seed, 'projections'));
    for (const p of pairs) {
      const s = graph.valueShapes.get(p.student);
      const t = teacherShapes.get(p.teacher);
      if (!s) throw new EdgefleetError('EF_ERR_TRAIN_OPTIONS', `the student has no value "${p.student}"`, {});
      if (!t) throw new EdgefleetError('EF_ERR_TRAIN_OPTIONS', `the teacher has no value "${p.teacher}"`, {});
      if (same(s, t)) continue;
      // Only the channel (or feature) count may differ: [C,H,W] with equal H, W, or flat [D].
      if (s.length !== t.length || (s.length !== 1 && s.length !== 3) || !same(s.slice(1), t.slice(1)))
        throw new EdgefleetError(
          'EF_ERR_TRAIN_OPTIONS',
          `cannot match student ${p.student} [${s.join(',')}] to teacher ${p.teacher} [${t.join(',')}]: only the ` +
            `channel count may differ`,
          {},
        );
      const cs = s[0] as number;
      const ct = t[0] as number;
      const init = Float32Array.from({ length: cs * ct }, () => rng.normal() * Math.sqrt(1 / cs));
      maps.set(p, tf.variable(tf.tensor2d(init, [cs, ct]), true));
    }
  }
  return {
    variables: [...maps.values()],
    apply(pair, student) {
      const m = maps.get(pair);
      if (!m) return student;
      if (student.rank === 2) return tf.matMul(student as tf.Tensor2D, m);
      const [n, c, h, w] = student.shape as [number, number, number, number];
      const rows = tf.reshape(tf.transpose(student, [0, 2, 3, 1]), [n * h * w, c]) as tf.Tensor2D;
      return tf.transpose(tf.reshape(tf.matMul(rows, m), [n, h, w, m.shape[1] as number]), [0, 3, 1, 2]);
    },
    dispose() {
      for (const v of maps.values()) v.dispose();
    },
  };
}

/**
 * The search's finalists: the front's members fully trained in turn (one family at a time) until
 * one meets every budget, the accuracy floor included, each timed against the teacher on this host
 * when a sample is given. Split from search-model.ts, which runs the search and calls this.
 */
import type { CandidateRecord } from './candidate-store.js';
import type { SearchResult } from './engine.js';
import { budgetViolation, deviceFigures, predictCandidate } from './score.js';
import type { SearchSpace } from './space.js';
import type { Dataset } from '../data/tensor.js';
import { EdgefleetError } from '@edgefleet/shared';
import { measureAgainstTeacher, timingModelOf, type MeasuredRatio } from './confirm.js';
import {
  scoreBuilt,
  type BuildLimit,
  type BuiltCandidate,
  type Finalist,
  type SearchModelOptions,
  type TimedFrontMember,
} from './search-model.js';

/**
 * The order finalists are tried in: the front's members by proxy accuracy (then predicted
 * latency), one family at a time in turn, best family first. A proxy ranks candidates within a
 * family, but not across: a pruned teacher inherits its weights and scores near its final figure
 * after a short distillation, a student from scratch far below its own, so a student would never
 * be tried if the front were ranked as one list.
 */
export function finalistOrder(front: readonly CandidateRecord[]): CandidateRecord[] {
  const byProxy = [...front].sort(
    (a, b) => (a.objectives[0] ?? 0) - (b.objectives[0] ?? 0) || (a.objectives[1] ?? 0) - (b.objectives[1] ?? 0),
  );
  const families = [...new Set(byProxy.map((r) => String(r.metrics.family)))];
  const queues = families.map((f) => byProxy.filter((r) => String(r.metrics.family) === f));
  const order: CandidateRecord[] = [];
  for (let i = 0; order.length < byProxy.length; i++)
    for (const q of queues) if (q[i]) order.push(q[i] as CandidateRecord);
  return order;
}

/**
 * Fully train the front's members in {@link finalistOrder} until one meets every budget, the
 * accuracy floor included (at most `maxFinalists`): the first that does, else the one closest.
 */
export async function buildFinalists(
  search: SearchResult,
  space: SearchSpace,
  opts: SearchModelOptions,
  limit: BuildLimit,
): Promise<{ finalist: Finalist | undefined; finalists: Finalist[]; timedOut: boolean; timed: TimedFrontMember[] }> {
  const tried: Finalist[] = [];
  const { order, timed } = await timedOrder(distinctModels(finalistOrder(search.front), space), space, opts);
  for (const [index, record] of order.entries()) {
    // Out of time: the ones tried so far stand (none tried: no finalist, and the caller says why).
    if (limit.expired()) return { ...closestOf(tried), timedOut: true, timed };
    opts.onFinalist?.({ index, of: order.length, record });
    const candidate = space.decode(record.genome);
    const built = await opts.builder.build(candidate, 'final', limit);
    const s = opts.confirmSample
      ? await scoreMeasured(built, opts, opts.confirmSample)
      : { ...scoreBuilt(built, opts), measured: null };
    const finalist: Finalist = {
      record,
      candidate,
      model: built.model,
      bytes: s.bytes,
      accuracyPct: built.accuracyPct,
      deviceP95Ms: s.deviceP95Ms,
      violation: s.violation,
      broken: s.broken,
      notes: built.notes,
      measured: s.measured,
      ...(built.cut !== undefined ? { cut: built.cut } : {}),
    };
    tried.push(finalist);
    if (s.violation === 0) return { finalist, finalists: tried, timedOut: built.cut !== undefined, timed };
    if (built.cut !== undefined) return { ...closestOf(tried), timedOut: true, timed };
  }
  return { ...closestOf(tried), timedOut: false, timed };
}

/** The finalist closest to meeting every budget, and all tried. */
function closestOf(tried: Finalist[]): { finalist: Finalist | undefined; finalists: Finalist[] } {
  return { finalist: [...tried].sort((a, b) => a.violation - b.violation)[0], finalists: tried };
}

/**
 * {@link scoreBuilt} with the device latency from a host measurement: the teacher's predicted device
 * p95 (the search's anchor) × the candidate's measured p95 relative to the teacher's; energy scales
 * with it. A prediction that was optimistic at the budget's edge is caught here, before the planner
 * measures the finalist and finds it too slow.
 */
async function scoreMeasured(
  built: BuiltCandidate,
  opts: Pick<SearchModelOptions, 'predictor' | 'cls' | 'teacherAccuracyPct' | 'teacher' | 'batch'>,
  sample: Dataset,
): Promise<ReturnType<typeof scoreBuilt> & { measured: MeasuredRatio | null }> {
  const predicted = scoreBuilt(built, opts);
  const teacher = deviceFigures(opts.predictor.host(opts.teacher, opts.batch ?? 1), opts.cls);
  const measured = await measureAgainstTeacher(opts.teacher, built.model, sample);
  if (teacher.deviceP95Ms === null || predicted.deviceP95Ms === null) return { ...predicted, measured };
  const deviceP95Ms = teacher.deviceP95Ms * measured.ratio;
  const scale = deviceP95Ms / predicted.deviceP95Ms;
  const energyMj = predicted.energyMj === null ? null : predicted.energyMj * scale;
  const { violation, broken } = budgetViolation(
    { ...predicted, deviceP95Ms, energyMj, sizeBytes: predicted.bytes.length, accuracyPct: built.accuracyPct },
    opts.cls.budgets,
    opts.teacherAccuracyPct,
  );
  return { ...predicted, deviceP95Ms, energyMj, violation, broken, measured };
}

/**
 * The front members to train fully, at most `maxFinalists`. With a confirm sample, each is first
 * timed against the teacher on this host as a graph of its shape (confirm.ts; cheap: nothing is
 * trained) and skipped when the measured timing breaks a budget: the predictor ranks, but at
 * batch 32 it priced narrow full-resolution convolutions and pools too cheaply (mnist-cnn: pooled
 * candidates predicted 3.1× faster than the teacher measured 2.0×), so a front ranked by proxy
 * accuracy spent its finalists' training on models measurement then refused. The first
 * 4 × `maxFinalists` members are timed; those that fit go on in {@link finalistOrder} (families in
 * turn); when none fits, the closest is trained all the same.
 */
async function timedOrder(
  ranked: readonly CandidateRecord[],
  space: SearchSpace,
  opts: SearchModelOptions,
): Promise<{ order: CandidateRecord[]; timed: TimedFrontMember[] }> {
  const max = opts.maxFinalists ?? 3;
  const sample = opts.confirmSample;
  if (!sample) return { order: ranked.slice(0, max), timed: [] };
  const batch = opts.batch ?? 1;
  const inputName = Object.keys(sample.inputs)[0] ?? 'input';
  const teacherHost = opts.predictor.host(opts.teacher, batch).ms;
  const teacher = deviceFigures(opts.predictor.host(opts.teacher, batch), opts.cls);
  const order: CandidateRecord[] = [];
  const timed: TimedFrontMember[] = [];
  for (const record of ranked.slice(0, 4 * max)) {
    const c = space.decode(record.genome);
    const predicted = predictCandidate(c, opts.predictor, opts.cls, batch);
    let measured: MeasuredRatio;
    try {
      measured = await measureAgainstTeacher(opts.teacher, await timingModelOf(c, inputName), sample);
    } catch (err: unknown) {
      // Not timeable before training (e.g. a graph the quantizer refuses): measurement decides after it.
      if (!(err instanceof EdgefleetError)) throw err;
      order.push(record);
      continue;
    }
    const deviceP95Ms = teacher.deviceP95Ms === null ? null : teacher.deviceP95Ms * measured.ratio;
    const scale = deviceP95Ms === null || predicted.deviceP95Ms === null ? 1 : deviceP95Ms / predicted.deviceP95Ms;
    const { violation, broken } = budgetViolation(
      { ...predicted, deviceP95Ms, energyMj: predicted.energyMj === null ? null : predicted.energyMj * scale },
      opts.cls.budgets,
    );
    timed.push({ record, predictedRatio: predicted.hostMs / teacherHost, measured, violation, broken });
    if (violation === 0) order.push(record);
  }
  // None fits when timed: the closest still gets trained, so the result names what it breaks.
  const closest = [...timed].sort((a, b) => a.violation - b.violation)[0];
  if (order.length === 0 && closest) order.push(closest.record);
  // Families in turn among those that fit: students from scratch must not take every slot.
  return { order: finalistOrder(order).slice(0, max), timed };
}

/**
 * The first record of each distinct model: genomes that differ only in genes a family ignores (a
 * pruned teacher's dropped dense layers) or in widths the pruning pass rounds to the same channel
 * count decode to one model, which must be neither timed nor trained twice.
 */
export function distinctModels(records: readonly CandidateRecord[], space: SearchSpace): CandidateRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const c = space.decode(r.genome);
    const id = `${c.family}|${c.studentSpec}|${c.downsample.join()}|${c.precisions.join()}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

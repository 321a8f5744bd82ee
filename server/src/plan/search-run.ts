/**
 * One hardware-aware search as the server runs it (inside a worker thread, search-worker.ts): the
 * stored model as teacher, MNIST's train split for distillation, its calib split for pruning's
 * refit, int8 ranges and candidate scoring, the class (its budgets with the request's overrides,
 * its speed factors corrected so the teacher is predicted as the planner
 * and the loop measured it), the host's latency table cached in the data
 * directory, and the candidate file in the job's directory (so the same request resumes).
 */
import { join } from 'node:path';
import { EdgefleetError, stripUndefined } from '@edgefleet/shared';
import { loadDataSource, loadModel, modelInputsOf, readModelBytes, writeBytesAtomic } from '@edgefleet/compress';
import { sliceDataset } from '@edgefleet/compress/data/tensor';
import { createCandidateBuilder, top1Pct } from '@edgefleet/compress/search/builder';
import { createLatencyPredictor, loadOrMeasureLatencyTable } from '@edgefleet/compress/search/latency/index';
import { searchModel } from '@edgefleet/compress/search/search-model';
import type { ClassTarget } from '@edgefleet/compress/search/score';
import type { SearchRunInput, SearchRunOutput, SearchRunProgress } from './search-jobs.js';

/** Runs the search in this thread (the worker calls it; tests may too). */
export async function runSearch(
  input: SearchRunInput,
  onProgress: (p: SearchRunProgress) => void,
): Promise<SearchRunOutput> {
  if (input.evalSpec !== 'mnist' && !input.evalSpec.startsWith('mnist'))
    throw new EdgefleetError(
      'EF_ERR_SEARCH_OPTIONS',
      `searches train on MNIST; this model's evaluation data is ${input.evalSpec}. Add it with --eval mnist`,
      {},
    );
  const teacher = loadModel(await readModelBytes(input.modelPath));
  const inputs = modelInputsOf(teacher);
  const [train, calib] = [loadDataSource('mnist:train', inputs), loadDataSource('mnist:calib', inputs)];
  const c = input.deviceClass;
  const { table } = await loadOrMeasureLatencyTable(join(input.outDir, '..', 'latency-table.json'));
  const predictor = createLatencyPredictor(table);
  const r = input.request;
  const factors = c.speedModel.factors;
  // Anchor the predictor on the teacher as the planner measured it on this host (and the loop on
  // the devices): the microbenchmarks' medians and the planner's timed p95 differ by a load-dependent
  // factor, and a search that disagrees with the planner about the teacher hands over finalists the
  // planner then finds too slow.
  const teacherPredicted = predictor.device(teacher, 1, { factors });
  const correction =
    input.teacherP95Ms !== null && teacherPredicted !== null && teacherPredicted > 0
      ? input.teacherP95Ms / teacherPredicted
      : input.ratio;
  const cls: ClassTarget = {
    name: c.name,
    precisions: c.capabilities.precisions,
    speed: { factors, correction },
    power: c.powerModel,
    budgets: c.budgets,
  };
  const result = await searchModel({
    teacher,
    teacherAccuracyPct: await top1Pct(teacher, calib),
    cls,
    predictor,
    builder: createCandidateBuilder({
      teacher,
      train,
      calib,
      validation: calib,
      seed: r.seed,
      searchEpochs: r.epochs,
      finalEpochs: r.finalEpochs,
      ...stripUndefined({ searchSamples: r.trainSamples }),
    }),
    seed: r.seed,
    batch: r.batch,
    maxEvaluations: r.evaluations,
    ...stripUndefined({ timeBudgetMs: r.timeBudgetMs }),
    // Finalists are timed against the teacher on this host before one is handed to the planner.
    confirmSample: sliceDataset(calib, 0, r.batch),
    storePath: join(input.outDir, 'candidates.jsonl'),
    settingsLabel: `epochs=${r.epochs},final=${r.finalEpochs},samples=${r.trainSamples ?? 'all'}`,
    onProgress: (p) =>
      onProgress({
        evaluations: p.evaluations,
        maxEvaluations: p.maxEvaluations,
        visited: p.visited,
        frontSize: p.frontSize,
      }),
  });
  const front = result.search.front.map((f) => ({
    key: f.key,
    family: String(f.metrics.family),
    accuracyPct: Number(f.metrics.accuracyPct),
    bytes: Number(f.metrics.bytes),
    deviceP95Ms: typeof f.metrics.deviceP95Ms === 'number' ? f.metrics.deviceP95Ms : null,
  }));
  const fin = result.finalist;
  let finalist: SearchRunOutput['finalist'] = null;
  if (fin) {
    const path = join(input.outDir, 'finalist.onnx');
    await writeBytesAtomic(path, fin.bytes);
    const p = fin.candidate.precisions;
    const precision = p.includes('int8') ? 'int8' : p.includes('fp16') ? 'fp16' : 'fp32';
    finalist = {
      path,
      accuracyPct: fin.accuracyPct,
      deviceP95Ms: fin.deviceP95Ms,
      precision,
      violation: fin.violation,
      hostRatio: fin.measured?.ratio ?? null,
      cut: fin.cut ?? null,
    };
  }
  return {
    evaluations: result.search.evaluations,
    visited: result.search.candidates.length,
    stopped: result.search.stopped,
    timedOut: result.timedOut,
    front,
    finalist,
  };
}

import { join, basename } from 'node:path';
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { builtinProfiles, EdgefleetError, stripUndefined } from '@edgefleet/shared';
import { loadDataSource, modelInputsOf, readModelBytes, loadModel, writeBytesAtomic } from '@edgefleet/compress';
import { createLatencyPredictor, loadOrMeasureLatencyTable } from '@edgefleet/compress/search/latency/index';
import { createCandidateBuilder, top1Pct } from '@edgefleet/compress/search/builder';
import { sliceDataset } from '@edgefleet/compress/data/tensor';
import { searchGraceMs, searchModel } from '@edgefleet/compress/search/search-model';
import { frontSvg } from '@edgefleet/compress/search/front-svg';
import type { ClassTarget } from '@edgefleet/compress/search/score';
import type { SearchProgress } from '@edgefleet/compress/search/engine';
import { parseDuration } from './rollout.js';

const BUDGET_KEYS = [
  'maxModelBytes',
  'maxP95LatencyMs',
  'maxEnergyPerInferenceMj',
  'maxAvgPowerW',
  'maxAccuracyDropPts',
  'minAccuracyPct',
] as const;

function parseBudget(text: string, acc: Record<string, number>): Record<string, number> {
  const m = /^([A-Za-z0-9]+)=([0-9.eE+-]+)$/.exec(text);
  if (!m?.[1] || !BUDGET_KEYS.includes(m[1] as (typeof BUDGET_KEYS)[number]) || !Number.isFinite(Number(m[2])))
    throw new InvalidArgumentError(
      `use KEY=NUMBER with KEY one of ${BUDGET_KEYS.join(', ')}, e.g. maxModelBytes=150000`,
    );
  return { ...acc, [m[1]]: Number(m[2]) };
}

/** A built-in class as the search's target, with budgets overridden by --budget. */
function classTarget(name: string, budgets: Record<string, number>): ClassTarget {
  const spec = builtinProfiles().get(name);
  if (!spec)
    throw new EdgefleetError(
      'EF_ERR_SEARCH_OPTIONS',
      `no built-in class "${name}"; use one of ${[...builtinProfiles().keys()].join(', ')}`,
      {},
    );
  return {
    name,
    precisions: spec.capabilities.precisions,
    speed: { factors: spec.speedModel.factors },
    power: spec.powerModel,
    budgets: { ...spec.budgets, ...budgets },
  };
}

/** `edgefleet search MODEL --class C`: hardware-aware search for one class. */
/** The progress line's last candidate: screened out, replayed from the store, or its top-1. */
function lastCandidateText(p: SearchProgress): string {
  if (p.last.screened) return 'screened';
  if (p.replayed) return 'from file';
  return `${(p.last.metrics.accuracyPct as number | undefined)?.toFixed(2) ?? 'failed'}%`;
}

export function searchCommand(): Command {
  return new Command('search')
    .description(
      'Search pruned and distilled variants of a plain-chain MNIST model at per-layer precisions for a device class ' +
        '(NSGA-II on top-1, predicted latency and size; size, latency and energy budgets are hard constraints, top-1 ' +
        'after a short distillation is a proxy), then fully train the front members in turn until one meets every ' +
        'budget, the accuracy floor included. Candidates are kept in OUT-DIR/candidates.jsonl: run the same ' +
        'command again to resume.',
    )
    .argument('<model>', 'teacher .onnx (a plain chain of Conv/MaxPool/Gemm layers over MNIST images)')
    .requiredOption('--class <name>', 'built-in class: mcu-gateway, rpi4, phone-npu, jetson-orin')
    .option('--evals <n>', 'candidates built and scored (screened ones are free)', (v) => Number.parseInt(v, 10), 40)
    .option(
      '--time <duration>',
      'hard bound on the whole search, e.g. 10m: candidates get half, finalists the rest; training stops at the ' +
        'step the time runs out (a finalist cut short is kept and says so); past it and a grace, the command exits',
      parseDuration,
    )
    .option('--budget <KEY=VALUE>', 'override a class budget (repeatable), e.g. maxModelBytes=150000', parseBudget, {})
    .option('--seed <n>', 'seed of the search and of training', (v) => Number.parseInt(v, 10), 1)
    .option(
      '--batch <n>',
      'batch size latency is predicted and the p95 budget judged at',
      (v) => Number.parseInt(v, 10),
      1,
    )
    .option(
      '--epochs <n>',
      'distillation epochs per candidate during the search (its top-1 is a proxy that ranks candidates)',
      (v) => Number.parseInt(v, 10),
      1,
    )
    .option(
      '--train-samples <n>',
      'training samples per candidate epoch (the finalist uses all 7,000)',
      (v) => Number.parseInt(v, 10),
      2000,
    )
    .option(
      '--final-epochs <n>',
      'distillation epochs of each finalist (all training data, augmented)',
      (v) => Number.parseInt(v, 10),
      8,
    )
    .option(
      '--finalists <n>',
      'front members fully trained in turn until one meets every budget, accuracy included',
      (v) => Number.parseInt(v, 10),
      3,
    )
    .option('--out-dir <dir>', 'where candidates.jsonl is kept (default .edgefleet/search/MODEL-CLASS)')
    .option('--latency-table <file>', 'cached host microbenchmarks', '.edgefleet/latency-table.json')
    .option('-o, --output <file>', "write the class's finalist .onnx here")
    .option('--svg <file>', 'write the front (top-1 vs predicted latency) as SVG')
    .option('--json', 'print the result as JSON')
    .action(async (modelPath: string, flags: SearchFlags) => {
      const teacher = loadModel(await readModelBytes(modelPath));
      const cls = classTarget(flags.class, flags.budget);
      const inputs = modelInputsOf(teacher);
      const data = (spec: string) => loadDataSource(spec, inputs);
      const [train, calib, test] = [data('mnist:train'), data('mnist:calib'), data('mnist:test')];
      const tty = process.stderr.isTTY === true && flags.json !== true;
      const say = (s: string) => process.stderr.write(tty ? `\r\x1b[K${s}` : `${s}\n`);
      const { table, from } = await loadOrMeasureLatencyTable(flags.latencyTable, {
        onProgress: (p) => say(`latency microbenchmarks: ${p.what} ${p.done}/${p.total}`),
      });
      say(`latency table: ${from}\n`);
      const teacherPct = await top1Pct(teacher, calib);
      const outDir = flags.outDir ?? join('.edgefleet', 'search', `${basename(modelPath, '.onnx')}-${cls.name}`);
      const epochs = flags.epochs;
      const watchdog = flags.time === undefined ? undefined : exitPastBudget(flags.time);
      const result = await searchModel({
        teacher,
        teacherAccuracyPct: teacherPct,
        cls,
        predictor: createLatencyPredictor(table),
        builder: createCandidateBuilder({
          teacher,
          train,
          calib,
          validation: calib,
          seed: flags.seed,
          searchEpochs: epochs,
          finalEpochs: flags.finalEpochs,
          searchSamples: flags.trainSamples,
          onTrain: (p) =>
            say(
              `${p.stage === 'final' ? 'finalist' : 'candidate'} (${p.family}) ${p.phase} epoch ` +
                `${p.epoch}/${p.epochs}${p.step !== undefined ? `, step ${p.step}/${p.steps}` : ''}`,
            ),
        }),
        maxFinalists: flags.finalists,
        onFinalist: (f) =>
          say(
            `${tty ? '\n' : ''}training finalist ${f.index + 1} of at most ${f.of}: ` +
              `${String(f.record.metrics.family)} ${JSON.stringify(f.record.metrics.spec)}, ` +
              `proxy top-1 ${Number(f.record.metrics.accuracyPct).toFixed(2)}%`,
          ),
        seed: flags.seed,
        batch: flags.batch,
        maxEvaluations: flags.evals,
        ...stripUndefined({ timeBudgetMs: flags.time }),
        storePath: join(outDir, 'candidates.jsonl'),
        // Finalists are timed against the teacher on this host before one is written.
        confirmSample: sliceDataset(calib, 0, flags.batch),
        settingsLabel: `epochs=${epochs},samples=${flags.trainSamples}`,
        onProgress: (p) =>
          say(
            `search: ${p.evaluations}/${p.maxEvaluations} built (${p.visited} visited), front ${p.frontSize}, last ` +
              lastCandidateText(p),
          ),
      });
      clearTimeout(watchdog);
      if (tty) process.stderr.write('\n');
      const fin = result.finalist;
      if (!fin && result.timedOut)
        throw new EdgefleetError(
          'EF_ERR_SEARCH_TIMEOUT',
          `the time budget (--time) ran out before a finalist was trained (${result.search.evaluations} candidates ` +
            `built, stopped by ${result.search.stopped}); give it more --time or fewer --evals, and run the same ` +
            'command again to resume from the candidate file',
          {},
        );
      const finTest = fin ? await top1Pct(fin.bytes, test) : undefined;
      if (fin && flags.output) await writeBytesAtomic(flags.output, fin.bytes);
      if (flags.svg)
        writeFileSync(
          flags.svg,
          frontSvg({
            title: `${basename(modelPath)} on ${cls.name}`,
            candidates: result.search.candidates,
            front: result.search.front,
            ...(fin && fin.deviceP95Ms !== null
              ? { finalist: { label: 'finalist', latencyMs: fin.deviceP95Ms, accuracyPct: fin.accuracyPct } }
              : {}),
          }),
        );
      const summary = {
        class: cls.name,
        budgets: cls.budgets,
        teacher: { bytes: (await readModelBytes(modelPath)).length, validationTop1Pct: teacherPct },
        evaluations: result.search.evaluations,
        visited: result.search.candidates.length,
        stopped: result.search.stopped,
        timedOut: result.timedOut,
        front: result.search.front.map((r) => ({ key: r.key, ...r.metrics })),
        finalist: fin
          ? {
              key: fin.record.key,
              bytes: fin.bytes.length,
              validationTop1Pct: fin.accuracyPct,
              testTop1Pct: finTest,
              deviceP95Ms: fin.deviceP95Ms,
              broken: fin.broken,
              notes: fin.notes,
              cut: fin.cut ?? null,
              written: flags.output ?? null,
            }
          : null,
      };
      if (flags.json) {
        console.log(JSON.stringify(summary, null, 2));
        return;
      }
      console.log(
        `${cls.name}: ${summary.evaluations} candidates built, ${summary.visited - summary.evaluations} screened, ` +
          `stopped by ${summary.stopped}; front of ${summary.front.length}`,
      );
      for (const f of result.search.front)
        console.log(
          `  ${String(f.metrics.family).padEnd(8)} top-1 ${(f.metrics.accuracyPct as number).toFixed(2)}%  ` +
            `${String(f.metrics.bytes).padStart(8)} B  ${(f.metrics.deviceP95Ms as number).toFixed(3)} ms  ` +
            `${JSON.stringify(f.metrics.spec)} ${(f.metrics.precisions as string[]).join(',')}`,
        );
      if (!fin) {
        console.log('no candidate meets every budget: loosen a budget (--budget) or give more --evals');
        process.exitCode = 1;
        return;
      }
      console.log(
        `finalist: ${fin.bytes.length} B, validation top-1 ${fin.accuracyPct.toFixed(2)}%, test top-1 ` +
          `${finTest?.toFixed(2)}%, predicted p95 ${fin.deviceP95Ms?.toFixed(3)} ms (modelled)` +
          `${fin.broken.length ? `, breaks ${fin.broken.join(', ')}` : ''}${flags.output ? ` → ${flags.output}` : ''}`,
      );
      if (fin.cut) console.log(`the finalist is the model as trained when the time ran out: ${fin.cut}`);
    });
}

/**
 * The last resort of `--time`: training stops itself at the budget, but a refit cannot be
 * interrupted, so past the budget and a grace the command says why and exits. Nothing is left
 * half-written: the candidate file is appended a line at a time, `-o` is written atomically at the end.
 */
function exitPastBudget(budgetMs: number): NodeJS.Timeout {
  const grace = searchGraceMs(budgetMs);
  const timer = setTimeout(() => {
    process.stderr.write(
      `\nEF_ERR_SEARCH_TIMEOUT: the search ran past --time (${Math.round(budgetMs / 1000)} s) and a grace of ` +
        `${Math.round(grace / 1000)} s and was stopped; run the same command with more --time to resume\n`,
    );
    process.exit(1);
  }, budgetMs + grace);
  timer.unref();
  return timer;
}

interface SearchFlags {
  class: string;
  evals: number;
  time?: number;
  budget: Record<string, number>;
  seed: number;
  batch: number;
  epochs: number;
  trainSamples: number;
  finalEpochs: number;
  finalists: number;
  outDir?: string;
  latencyTable: string;
  output?: string;
  svg?: string;
  json?: boolean;
}

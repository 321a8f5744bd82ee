/**
 * `finetune` and `qat`: the training passes. `finetune` trains the current graph's weights for a
 * few epochs (after prune-structured, typically), distilling from the model the pipeline started
 * from; `qat` does the same with int8-static's fake quantization and then writes int8-static's
 * QDQ graph with the trained weights and the calibrated ranges (it replaces int8-static in a
 * recipe). A graph outside the trainable op set is not refused: `finetune` leaves it untouched
 * and `qat` quantizes it post-training, each with a report line naming the op, and the pipeline
 * goes on. TensorFlow.js is imported only when one of these passes runs.
 */
import { isEdgefleetError } from '@edgefleet/shared';
import type { Dataset } from '../data/tensor.js';
import { sha256Hex, writeModel } from '../ir/encode.js';
import type { Graph } from '../ir/graph.js';
import type { QuantHooks, TrainableGraph } from '../train/graph/trainable.js';
import type { FitResult } from '../train/fit.js';
import type { Teacher } from '../train/teacher.js';
import { createInt8StaticPass } from './int8-static.js';
import type { NodeNote, Pass, PassContext, PassReport } from './types.js';

/** Options of the training passes. */
export interface TrainPassOptions {
  /** Epochs; default 1. */
  readonly epochs?: number;
  /** Adam learning rate; default 0.0001 (fine-tuning, not training from scratch). */
  readonly learningRate?: number;
  /**
   * Distil from the pipeline's input model when an earlier pass changed it (default true);
   * labels are used too when the data has them.
   */
  readonly distill?: boolean;
  /** Soft-target temperature; default 4. */
  readonly temperature?: number;
  /** Seed of shuffles and augmentation; default 1. */
  readonly seed?: number;
  /** Random shift of image inputs in pixels; default 0. */
  readonly augmentShift?: number;
}

type Outcome = { graph: TrainableGraph; run: FitResult; teacher: boolean } | { skipped: PassReport };

function skip(pass: string, why: string, nodes: readonly string[] = []): PassReport {
  const skipped: NodeNote[] = nodes.map((n) => ({ node: n, opType: '', precision: 'fp32', reason: why }));
  return { pass, ok: true, summary: `not trained: ${why}`, changed: [], skipped, stats: { trained: 0 } };
}

/** Import the graph and train it (with `quant` from `prepare` for QAT); a skip report when it cannot. */
async function train(
  pass: string,
  graph: Graph,
  ctx: PassContext,
  opts: TrainPassOptions,
  prepare?: (g: TrainableGraph) => Promise<QuantHooks>,
): Promise<Outcome> {
  const data: Dataset | undefined = ctx.trainData;
  if (!data) return { skipped: skip(pass, 'no training data (give compressModel `train` or calibration samples)') };
  const { importTrainable } = await import('../train/graph/trainable.js');
  const { fitGraph } = await import('../train/fit.js');
  const { createTeacher } = await import('../train/teacher.js');
  let g: TrainableGraph;
  try {
    // Frozen BatchNorm keeps the graph's structure, so trained weights map back one to one.
    g = await importTrainable(ctx.model, { batchNorm: 'frozen' });
  } catch (err: unknown) {
    if (!isEdgefleetError(err, 'EF_ERR_TRAIN_UNSUPPORTED')) throw err;
    return { skipped: skip(pass, err.message, (err.details['nodes'] as string[] | undefined) ?? []) };
  }
  // Fine-tuning distils from the pipeline's input only when an earlier pass changed the model
  // (pruned it, say): otherwise it is its own teacher and the labels are the only signal. QAT
  // always has something to learn from the float model: its own quantization changes it.
  const changed =
    ctx.input !== undefined &&
    (prepare !== undefined || sha256Hex(writeModel(ctx.input)) !== sha256Hex(writeModel(ctx.model)));
  if (!changed && !data.labels) {
    g.dispose();
    return {
      skipped: skip(pass, 'no earlier pass changed the model, so it has no teacher, and the data has no labels'),
    };
  }
  let teacher: Teacher | undefined;
  try {
    teacher = opts.distill !== false && changed && ctx.input ? await createTeacher(ctx.input) : undefined;
    const quant = prepare ? await prepare(g) : undefined;
    const run = await fitGraph(g, data, {
      seed: opts.seed ?? 1,
      epochs: opts.epochs ?? 1,
      learningRate: opts.learningRate ?? 0.0001,
      ...(teacher ? { teacher, temperature: opts.temperature ?? 4 } : {}),
      ...(opts.augmentShift ? { augment: { shift: opts.augmentShift } } : {}),
      ...(quant ? { quant } : {}),
      ...(ctx.onProgress
        ? {
            onProgress: (p) => {
              if (p.kind === 'step')
                ctx.onProgress?.({
                  pass,
                  done: p.step,
                  total: p.steps,
                  what: `epoch ${p.epoch}, loss ${p.loss.toFixed(4)}`,
                });
            },
          }
        : {}),
    });
    // Write the trained weights into the pipeline's graph (same names, same structure).
    for (const [name, values] of g.weights()) {
      const init = graph.initializers.get(name);
      if (init?.dtype === 'float32') init.data = values;
    }
    return { graph: g, run, teacher: teacher !== undefined };
  } catch (err: unknown) {
    g.dispose();
    throw err;
  } finally {
    await teacher?.release();
  }
}

function trainedSummary(o: Extract<Outcome, { run: FitResult }>): string {
  const first = o.run.epochs[0]?.loss ?? Number.NaN;
  const last = o.run.epochs.at(-1)?.loss ?? Number.NaN;
  return (
    `${o.run.epochs.length} epoch(s)${o.teacher ? ' distilled from the pipeline input' : ' on labels'}, loss ` +
    `${first.toFixed(4)} → ${last.toFixed(4)}, ${o.graph.parameterCount()} parameters`
  );
}

/** The `finetune` pass. */
export function createFinetunePass(opts: TrainPassOptions = {}): Pass {
  return {
    name: 'finetune',
    needsInputModel: true,
    async run(graph, ctx) {
      const o = await train('finetune', graph, ctx, opts);
      if ('skipped' in o) return o.skipped;
      // The summary counts the trained graph's parameters: read them before it is disposed.
      const summary = `fine-tuned: ${trainedSummary(o)}`;
      o.graph.dispose();
      return {
        pass: 'finetune',
        ok: true,
        summary,
        changed: [],
        skipped: [],
        stats: {
          trained: 1,
          epochs: o.run.epochs.length,
          finalLoss: o.run.epochs.at(-1)?.loss ?? Number.NaN,
          trainMs: o.run.trainMs,
        },
      };
    },
  };
}

/** The `qat` pass: quantization-aware training, then int8-static's QDQ graph. */
export function createQatPass(opts: TrainPassOptions = {}): Pass {
  return {
    name: 'qat',
    needsInputModel: true,
    async run(graph, ctx) {
      const calibration = ctx.calibration;
      if (!calibration)
        return {
          pass: 'qat',
          ok: false,
          summary: 'QAT needs calibration data (--calib)',
          changed: [],
          skipped: [],
          stats: {},
        };
      const { prepareQat } = await import('../train/qat.js');
      let setup: Awaited<ReturnType<typeof prepareQat>> | undefined;
      const o = await train('qat', graph, ctx, opts, async (g) => {
        setup = await prepareQat(g, calibration, { exclude: ctx.exclude });
        return setup.hooks;
      });
      if ('skipped' in o || !setup) {
        // Not trainable: quantize post-training instead, and say why.
        const ptq = await createInt8StaticPass().run(graph, ctx);
        const why = 'skipped' in o ? o.skipped.summary : 'no QAT setup';
        return { ...ptq, pass: 'qat', summary: `${why}; post-training int8-static instead: ${ptq.summary}` };
      }
      const trained = trainedSummary(o);
      o.graph.dispose();
      await setup.quantizeInto(ctx.model);
      return {
        pass: 'qat',
        ok: true,
        summary:
          `quantization-aware training: ${trained}; ${setup.quantizedNodes} node(s) → int8 QDQ as ` +
          `int8-static writes`,
        changed: [],
        skipped: [],
        stats: { trained: 1, quantized: setup.quantizedNodes, epochs: o.run.epochs.length, trainMs: o.run.trainMs },
      };
    },
  };
}

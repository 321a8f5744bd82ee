/**
 * `compressModel(bytes, recipe, {calib, shapes, onProgress})`: the library entry point the CLI
 * and the planner call. Loads the model through the IR, runs the recipe's passes with
 * calibration when data is given, writes deterministic bytes, and returns them with a zod-typed
 * report (passes, per-layer precision, sizes raw and gzip). Before returning, the result is loaded
 * in onnxruntime and run once (runtime-check.ts); a model that fails there is never returned.
 * Nothing is written to disk here.
 */
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { EdgefleetError } from '@edgefleet/shared';
import type { Dataset } from './data/tensor.js';
import { createOrtCalibrationRunner } from './calibration/collect.js';
import { loadModel } from './ir/decode.js';
import { sha256Hex, writeModel } from './ir/encode.js';
import { runPipeline } from './pipeline.js';
import { checkInRuntime } from './runtime-check.js';
import type { Progress } from './passes/types.js';
import { parseRecipe, passFor } from './recipes.js';
import { pruneReportSchema, type PruneReport } from './prune/report.js';
import type { PassReport } from './passes/types.js';

const Note = z.object({ node: z.string(), opType: z.string(), precision: z.string(), reason: z.string() });

/** The compression report (also what `--report` writes). */
export const compressReportSchema = z.object({
  recipe: z.string(),
  ok: z.boolean(),
  issues: z.array(z.string()),
  passes: z.array(
    z.object({ pass: z.string(), ok: z.boolean(), summary: z.string(), stats: z.record(z.string(), z.number()) }),
  ),
  layers: z.array(Note),
  size: z.object({
    beforeBytes: z.number(),
    afterBytes: z.number(),
    beforeGzipBytes: z.number(),
    afterGzipBytes: z.number(),
    ratio: z.number(),
  }),
  sha256: z.string(),
  /** onnxruntime loaded the result and ran it once before it was returned (see runtime-check.ts). */
  runtimeCheck: z
    .object({ loads: z.boolean(), ran: z.boolean(), on: z.string(), note: z.string().optional() })
    .nullable(),
  calibration: z.object({ source: z.string(), samples: z.number() }).nullable(),
  seconds: z.number(),
  /** The last pruning pass's per-group and per-layer report (params, MACs, fidelity before and after). */
  pruning: pruneReportSchema.optional(),
});
export type CompressReport = z.infer<typeof compressReportSchema>;

/** Options for {@link compressModel}. */
export interface CompressOptions {
  /** Calibration samples (needed by int8-static). */
  readonly calib?: Dataset;
  /** Training samples for the finetune and qat passes; default the calibration samples. */
  readonly train?: Dataset;
  readonly onProgress?: (p: Progress) => void;
  /** Injected clock for the report's duration; default performance.now. */
  readonly now?: () => number;
}

/**
 * Compress model bytes with a recipe (preset name, JSON text or
 * parsed value). Throws EF_ERR_COMPRESS_FAILED when a pass refuses.
 */
export async function compressModel(
  bytes: Uint8Array,
  recipeInput: unknown,
  opts: CompressOptions = {},
): Promise<{ bytes: Uint8Array; report: CompressReport }> {
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  const recipe = parseRecipe(recipeInput);
  const model = loadModel(bytes);
  const calibration = opts.calib
    ? createOrtCalibrationRunner(opts.calib, opts.onProgress ? { onProgress: opts.onProgress } : {})
    : undefined;
  const result = await runPipeline(model, recipe.steps.map(passFor), {
    exclude: { nodes: recipe.exclude?.nodes ?? [], opTypes: recipe.exclude?.opTypes ?? [] },
    ...(calibration ? { calibration } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...((opts.train ?? opts.calib) ? { trainData: (opts.train ?? opts.calib) as Dataset } : {}),
    ...(opts.calib ? { calibData: opts.calib } : {}),
  });
  const out = writeModel(model);
  // Only a model onnxruntime loads and runs is handed out (a failed pipeline already throws below).
  const runtimeCheck = result.ok ? await checkInRuntime(out, bytes, recipe.name ?? 'custom', opts.calib) : null;
  const layers = new Map<string, z.infer<typeof Note>>();
  // A later pass's note on the same node (bias-correction after a quantizer) extends the earlier reason.
  for (const r of result.reports) {
    for (const n of [...r.skipped, ...r.changed]) {
      // Keyed by node and op type: a pruning group's note ("channels") and a refit note on the same node both stay.
      const key = `${n.node}\u0000${n.opType}`;
      const prev = layers.get(key);
      layers.set(
        key,
        prev && prev.opType === n.opType && prev.precision === n.precision
          ? { ...n, reason: `${prev.reason}; ${n.reason}` }
          : n,
      );
    }
  }
  const report: CompressReport = {
    recipe: recipe.name ?? 'custom',
    ok: result.ok,
    issues: result.issues,
    passes: result.reports.map((r) => ({ pass: r.pass, ok: r.ok, summary: r.summary, stats: r.stats })),
    layers: [...layers.values()],
    size: {
      beforeBytes: bytes.length,
      afterBytes: out.length,
      beforeGzipBytes: gzipSync(bytes).length,
      afterGzipBytes: gzipSync(out).length,
      ratio: out.length / bytes.length,
    },
    sha256: sha256Hex(out),
    runtimeCheck,
    calibration: opts.calib ? { source: opts.calib.source, samples: opts.calib.count } : null,
    seconds: (now() - t0) / 1000,
    ...pruningOf(result.reports),
  };
  if (!result.ok)
    throw new EdgefleetError(
      'EF_ERR_COMPRESS_FAILED',
      `compression with recipe ${report.recipe} failed: ${result.issues.join('; ')}`,
      { report },
    );
  return { bytes: out, report };
}

/** The pruning report of the last pass that wrote one (reconstruct refines prune-structured's). */
function pruningOf(reports: readonly PassReport[]): { pruning?: PruneReport } {
  const last = [...reports].reverse().find((r) => r.pruning !== undefined);
  return last?.pruning ? { pruning: last.pruning } : {};
}

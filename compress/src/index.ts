/**
 * @edgefleet/compress: edgefleet's model toolkit, usable without the fleet (no broker, no
 * store, no HTTP). It depends on `@edgefleet/shared` only; the server's planner builds its
 * variants through it, the agent never imports it.
 *
 * The public surface is this file, four things:
 *
 * 1. **Load, verify and write a model.** `loadModel(bytes)` decodes and verifies an ONNX file
 *    into the IR (throws `EF_ERR_MODEL_*` with the reason); `readModelBytes` / `readModelFile`
 *    read one with size limits; `writeModel(model)` gives deterministic bytes and `sha256Hex`
 *    their content address; `writeModelFile` / `writeBytesAtomic` write through a temp file and
 *    a rename; `convertModelFile(in, out)` is a decode + verify + canonical write.
 * 2. **Run a recipe.** `compressModel(bytes, recipe, {calib})` runs a preset (`PRESETS`) or a
 *    JSON list of passes over the model and returns the new bytes with a `CompressReport`
 *    (per pass, per layer, sizes). Calibration data comes from `loadDataSource(spec, inputs)`:
 *    `mnist[:SPLIT][:N]`, `random:N` or a sample directory.
 * 3. **Evaluate.** `evaluateModel(path, options)`: accuracy on labelled data or fidelity to a
 *    reference, size, host latency in onnxruntime, memory; `formatEvalResult` prints it.
 * 4. **Inspect.** `inspectModel(model)`: interface, opsets, op histogram, parameters, bytes per
 *    dtype, the largest tensors, verification.
 * 5. **Prune, programmatically** (what recipes do, with the data in hand, for search on top):
 *    `pruneStructured(model, {ratios | ratio | target, importance, data})` cuts channel
 *    dependency groups to given per-group ratios or to a global target; its report carries
 *    the sensitivity scan (fidelity per group per ratio), params/MACs/fidelity per layer and
 *    the groups left whole with the reason. `reconstructLayers` refits the layers after a cut
 *    (from the outcome's `handoff`), `analyzeChannels` lists the groups without cutting,
 *    `modelCost` counts params and MACs, `pruneMagnitude` zeroes weights in place.
 * 6. **Train.** `distillModel(teacher, studentSpec, opts)` builds a student and distils it;
 *    `trainModel(model, opts)` fine-tunes any model of the trainable op set, with a teacher or
 *    labels, then optionally QAT into int8-static's QDQ graph. They live in the subpath
 *    `@edgefleet/compress/train/index` (with finer control: importing a graph, the training
 *    loop, QAT hooks, student transforms), not here: TensorFlow.js takes seconds to import, and
 *    the server and most commands never train.
 *
 * Deeper modules (the IR's graph API in `ir/`, single passes in `passes/`, quantization kernels
 * in `quant/`, the trainer in `train/`) are importable by subpath,
 * e.g. `@edgefleet/compress/ir/index`, for tests, benchmarks and the zoo script; they are not
 * part of the stable surface.
 */

// 1. Load, verify, write.
export {
  loadModel,
  DEFAULT_LOAD_LIMITS,
  type LoadOptions,
  writeModel,
  sha256Hex,
  readModelBytes,
  readModelFile,
  writeModelFile,
  writeBytesAtomic,
  convertModelFile,
  type ConvertResult,
  verifyModel,
  type VerifyResult,
  type Model,
} from './ir/index.js';

// 2. Run a recipe.
export { compressModel, compressReportSchema, type CompressReport, type CompressOptions } from './compress-model.js';
export { parseRecipe, PRESETS, recipeSchema, type Recipe, type RecipeStep } from './recipes.js';
export type { Progress } from './passes/types.js';
export { loadDataSource, type DataSourceOptions } from './data/source.js';
export type { Dataset, ModelInputSpec } from './data/tensor.js';

// 3. Evaluate.
export { evaluateModel, modelInputsOf, type EvaluateOptions } from './eval/evaluate.js';
export { evalResultSchema, type EvalResult, type LatencyResult } from './eval/schema.js';
export { measureLatencyAtBatch, type LatencyAtBatchOptions } from './eval/latency-at-batch.js';
export { formatEvalResult } from './eval/table.js';

// 4. Inspect.
export { inspectModel, inspectReportSchema, type InspectReport } from './inspect.js';

// 5. Prune.
export {
  pruneStructured,
  type StructuredOptions,
  type StructuredOutcome,
  type PruneHandoff,
} from './prune/structured.js';
export { reconstructLayers, type ReconstructOptions } from './prune/reconstruct.js';
export { analyzeChannels, type ChannelAnalysis, type ChannelGroup } from './prune/channel-graph.js';
export { modelCost, type ModelCost } from './prune/cost.js';
export { pruneMagnitude, type MagnitudeOptions } from './prune/magnitude.js';
export type { PruneTarget, SensitivityRow } from './prune/sensitivity.js';
export { pruneReportSchema, type PruneReport } from './prune/report.js';

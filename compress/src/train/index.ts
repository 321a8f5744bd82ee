/**
 * Training: import an ONNX graph of the trainable op set into TensorFlow.js (wasm), train it
 * (labels, knowledge distillation from a teacher run by onnxruntime, feature matching,
 * quantization-aware training) and export it back through the IR. Import from
 * `@edgefleet/compress/train/index`; the search (issue 16) builds on these entry points:
 *
 * - `importTrainable(model)` → a {@link TrainableGraph} (refuses ops outside `TRAINABLE_OPS`);
 * - `buildStudent(teacher, spec, seed)` / `studentArch` / `describeChain` and the transforms in
 *   `students.ts`: narrowed, shallower, strided, MLP or explicit students as initialised models;
 * - `fitGraph(graph, data, opts)` for N epochs from a seed; `prepareQat(graph, calib)` for QAT
 *   hooks and the QDQ export; `accuracyOfGraph` to score a graph without exporting it;
 * - `trainModel(model, opts)` and `distillModel(teacher, spec, opts)`: the whole run in one call.
 */
export { parseAugment, type AugmentOptions } from './augment.js';
export type { ArchSpec, LayerSpec } from './arch.js';
export {
  distillModel,
  trainModel,
  type TrainModelOptions,
  type TrainModelResult,
  type TrainReport,
} from './distill.js';
export type { FeaturePair } from './features.js';
export {
  accuracyOfGraph,
  fitGraph,
  type EpochReport,
  type FitOptions,
  type FitResult,
  type TrainProgress,
} from './fit.js';
export {
  importTrainable,
  logitsValueOf,
  TRAINABLE_OPS,
  TrainableGraph,
  type BatchNormMode,
  type ImportOptions,
} from './graph/trainable.js';
export { prepareQat, type QatOptions, type QatSetup } from './qat.js';
export { buildStudent, parseStudentSpec, studentArch, type StudentTransform } from './student-spec.js';
export {
  describeChain,
  instantiateArch,
  mlpArch,
  narrowArch,
  parameterCountOf,
  shallowArch,
  stridedArch,
} from './students.js';
export { createTeacher, type Teacher } from './teacher.js';

import type { Dataset } from '../data/tensor.js';
import type { Model } from '../ir/index.js';
import type { AugmentOptions } from './augment.js';
import type { ArchSpec } from './arch.js';
import { fitGraph, type EpochReport } from './fit.js';
import { tf } from './backend.js';
import { importTrainable } from './graph/trainable.js';
import { instantiateArch } from './students.js';
import type { EpochStat } from './trainer.js';
import { ZOO_INPUT, ZOO_OUTPUT } from './export-onnx.js';

/** Hyper-parameters of a zoo teacher trained by the graph trainer. */
export interface GraphFitRecipe {
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly schedule?: 'constant' | 'cosine';
  readonly augment?: AugmentOptions;
  /** Dropout rate per value name of the exported graph (`l2.out` is layer 2's output). */
  readonly dropout?: Readonly<Record<string, number>>;
}

/**
 * Train `arch` from its seed with the graph trainer on `train`, reporting accuracy on the
 * calibration split after each epoch (for the terminal only), and return the exported model
 * with TensorFlow.js's logits on `test` (to check the export against onnxruntime).
 */
export async function trainGraphRecipe(
  arch: ArchSpec,
  fit: GraphFitRecipe,
  train: Dataset,
  test: Dataset,
  onEpoch?: (s: EpochStat) => void,
): Promise<{ model: Model; testLogits: Float32Array; epochs: readonly EpochReport[]; trainMs: number }> {
  const init = instantiateArch(arch, fit.seed, { input: ZOO_INPUT, output: ZOO_OUTPUT });
  const g = await importTrainable(init);
  try {
    const r = await fitGraph(g, train, {
      ...fit,
      onProgress: (p) => {
        if (p.kind === 'epoch')
          onEpoch?.({
            epoch: p.epoch,
            meanLoss: p.loss,
            ms: p.ms,
            ...(p.trainAccuracy === undefined ? {} : { trainAccuracy: p.trainAccuracy }),
          });
      },
    });
    const x = test.inputs[ZOO_INPUT];
    if (x?.dtype !== 'float32') throw new TypeError('test data has no float32 input');
    const testLogits = tf.tidy(
      () =>
        g
          .forward(tf.tensor(x.data as Float32Array, [...x.dims]), { training: false })
          .output.dataSync() as Float32Array,
    );
    const model = g.exportModel();
    model.docString = `edgefleet zoo teacher ${arch.name}: trained with TensorFlow.js (graph trainer) on the MNIST train split (seed ${fit.seed}, ${fit.epochs} epochs); output is 10 class scores (logits).`;
    model.metadataProps.push(
      { key: 'edgefleet.arch', value: arch.name },
      { key: 'edgefleet.seed', value: String(fit.seed) },
      { key: 'edgefleet.epochs', value: String(fit.epochs) },
    );
    return { model, testLogits, epochs: r.epochs, trainMs: r.trainMs };
  } finally {
    g.dispose();
  }
}

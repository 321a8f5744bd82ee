/**
 * The last step before a compressed model is handed out: load it in onnxruntime and run it once,
 * on the first calibration sample (or, without calibration data, on one seeded synthetic sample),
 * so a pipeline never returns — and the CLI never writes — a model onnxruntime refuses. When the
 * compressed model fails, the original is run on the same feed: if the original fails too the
 * data, not the compression, is at fault, and the check says it only loaded the model.
 */
import { EdgefleetError } from '@edgefleet/shared';
import { randomTensor, toSampleDtype } from './data/random.js';
import { batchFeeds, runBatchSize, type Dataset, type SampleTensor } from './data/tensor.js';
import { createOrtSession, type OrtSession, type RuntimeTensor, type RuntimeValueMeta } from './runtime/ort.js';

/** What the check did. */
export interface RuntimeCheck {
  /** onnxruntime created a session for the compressed model. */
  readonly loads: boolean;
  /** It also ran once; false only when the original model fails on the same feed too. */
  readonly ran: boolean;
  /** The feed: `calibration sample 1 of N` or `one synthetic sample`. */
  readonly on: string;
  /** Why it did not run, when `ran` is false. */
  readonly note?: string;
}

/** One synthetic feed for a session: symbolic dims become 1, values seeded (floats in [0,1), integers 0). */
function syntheticFeed(inputs: readonly RuntimeValueMeta[]): Record<string, SampleTensor> | string {
  const feeds: Record<string, SampleTensor> = {};
  for (const meta of inputs) {
    if (!meta.isTensor || meta.dtype === undefined) return `input '${meta.name}' is not a tensor`;
    let dtype: ReturnType<typeof toSampleDtype>;
    try {
      dtype = toSampleDtype(meta.dtype, meta.name);
    } catch {
      return `input '${meta.name}' has element type ${meta.dtype}, which synthetic data does not cover`;
    }
    const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    feeds[meta.name] = randomTensor(dtype, dims, 1, { intHigh: 1 });
  }
  return feeds;
}

async function runOnce(session: OrtSession, feeds: Record<string, SampleTensor>): Promise<string | undefined> {
  try {
    await session.run(feeds as Record<string, RuntimeTensor>);
    return undefined;
  } catch (err: unknown) {
    return err instanceof Error ? err.message : String(err);
  }
}

async function originalRuns(original: Uint8Array, feeds: Record<string, SampleTensor>): Promise<string | undefined> {
  let session: OrtSession;
  try {
    session = await createOrtSession(original);
  } catch (err: unknown) {
    return err instanceof Error ? err.message : String(err);
  }
  try {
    return await runOnce(session, feeds);
  } finally {
    await session.release();
  }
}

/**
 * Load `compressed` in onnxruntime and run it once; throws
 * EF_ERR_COMPRESS_FAILED when it fails where the original runs.
 */
export async function checkInRuntime(
  compressed: Uint8Array,
  original: Uint8Array,
  recipe: string,
  calib?: Dataset,
): Promise<RuntimeCheck> {
  let session: OrtSession;
  try {
    session = await createOrtSession(compressed);
  } catch (err: unknown) {
    const why = err instanceof Error ? err.message : String(err);
    throw new EdgefleetError(
      'EF_ERR_COMPRESS_FAILED',
      `recipe ${recipe} produced a model onnxruntime refuses to load, so it was not written: ${why}`,
      { recipe, reason: why },
      { cause: err },
    );
  }
  try {
    const fromCalib = calib && calib.count > 0;
    const feeds = fromCalib
      ? batchFeeds(calib, 0, Math.min(calib.count, runBatchSize(calib, session.inputs, 1)))
      : syntheticFeed(session.inputs);
    const on = fromCalib ? `calibration sample 1 of ${calib.count}` : 'one synthetic sample';
    if (typeof feeds === 'string') return { loads: true, ran: false, on, note: feeds };
    const failed = await runOnce(session, feeds);
    if (failed === undefined) return { loads: true, ran: true, on };
    const originalFails = await originalRuns(original, feeds);
    if (originalFails !== undefined)
      return { loads: true, ran: false, on, note: `the original model fails on this feed too: ${originalFails}` };
    throw new EdgefleetError(
      'EF_ERR_COMPRESS_FAILED',
      `recipe ${recipe} produced a model that onnxruntime loads but cannot run on ${on} (the original runs), so it ` +
        `was not written: ${failed}`,
      { recipe, reason: failed },
    );
  } finally {
    await session.release();
  }
}

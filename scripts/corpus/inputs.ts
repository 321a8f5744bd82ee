/**
 * Calibration and test data for each corpus model, from its manifest input recipe: audio chunks of
 * seeded synthetic speech (16 kHz), openWakeWord's own feature chain (the fp32 melspectrogram and
 * embedding models of the corpus turn that audio into what the wake-word heads read), synthetic
 * text pages and lines for PaddleOCR, and fixed inputs (a sample rate, a zero recurrent state).
 * Calibration uses seed 1 and test data seed 2, so fidelity is measured on inputs the calibration
 * never saw.
 */
import { readFileSync } from 'node:fs';
import { openSession } from '@edgefleet/compress/calibration/session';
import { deriveSeed } from '@edgefleet/compress/data/prng';
import { syntheticSpeech } from '@edgefleet/compress/data/synthetic-speech';
import { syntheticTextImages } from '@edgefleet/compress/data/synthetic-text';
import type { Dataset, SampleTensor } from '@edgefleet/compress/data/tensor';
import type { CorpusModel, FixedRecipe, SampledRecipe } from './manifest.js';

/** Which split: calibration (seed 1) or held-out test data (seed 2). */
export type Split = 'calib' | 'test';

/** Files of the fetched corpus by model id (the chain recipes run the melspectrogram and embedding models). */
export type CorpusFiles = ReadonlyMap<string, string>;

const SEED: Record<Split, number> = { calib: 1, test: 2 };
/** openWakeWord: the embedding model reads 76 mel frames and advances 8 frames (80 ms) per embedding. */
const MEL_WINDOW = 76;
const MEL_STEP = 8;
const HOP = 160;

function fixedTensor(r: FixedRecipe): SampleTensor {
  if (r.kind === 'int64') return { dtype: 'int64', dims: [], data: BigInt64Array.from([BigInt(r.value)]) };
  return { dtype: 'float32', dims: r.dims, data: new Float32Array(r.dims.reduce((a, b) => a * b, 1)) };
}

async function runOne(
  file: string,
  name: string,
  t: SampleTensor,
): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const s = await openSession(new Uint8Array(readFileSync(file)));
  try {
    const out = Object.values(await s.run({ [name]: t }))[0];
    if (!out) throw new Error(`${file} returned no output`);
    return out;
  } finally {
    await s.release();
  }
}

function need(files: CorpusFiles, id: string): string {
  const f = files.get(id);
  if (!f) throw new Error(`this input recipe runs corpus model ${id}; fetch it too`);
  return f;
}

/** Mel frames [F,32] of `samples` of speech, scaled as openWakeWord scales them (x/10 + 2). */
async function melFrames(
  files: CorpusFiles,
  samples: number,
  seed: number,
): Promise<{ frames: number; data: Float32Array }> {
  const audio = syntheticSpeech(samples, { seed }).map((v) => v * 32767);
  const out = await runOne(need(files, 'oww-melspectrogram'), 'input', {
    dtype: 'float32',
    dims: [1, samples],
    data: audio,
  });
  const frames = out.data.length / 32;
  return { frames, data: out.data.map((v) => v / 10 + 2) };
}

/** `count` windows of 76 mel frames, 8 frames apart: [count,76,32,1]. */
async function melWindows(files: CorpusFiles, count: number, seed: number): Promise<SampleTensor> {
  const mel = await melFrames(files, ((count - 1) * MEL_STEP + MEL_WINDOW + 4) * HOP, seed);
  const per = MEL_WINDOW * 32;
  const data = new Float32Array(count * per);
  for (let i = 0; i < count; i++) data.set(mel.data.subarray(i * MEL_STEP * 32, i * MEL_STEP * 32 + per), i * per);
  return { dtype: 'float32', dims: [count, MEL_WINDOW, 32, 1], data };
}

const embeddingStreams = new Map<string, Float32Array>();

/** `count` runs of `frames` consecutive speech embeddings (96 each), successive runs 3 embeddings apart. */
async function embeddings(files: CorpusFiles, count: number, frames: number, seed: number): Promise<SampleTensor> {
  const step = 3;
  const needed = (count - 1) * step + frames;
  const key = `${seed}:${needed}`;
  let stream = embeddingStreams.get(key);
  if (!stream) {
    const windows = await melWindows(files, needed, seed);
    stream = (await runOne(need(files, 'oww-embedding'), 'input_1', windows)).data;
    embeddingStreams.set(key, stream);
  }
  const per = frames * 96;
  const data = new Float32Array(count * per);
  for (let i = 0; i < count; i++) data.set(stream.subarray(i * step * 96, i * step * 96 + per), i * per);
  return { dtype: 'float32', dims: [count, frames, 96], data };
}

async function sampled(files: CorpusFiles, name: string, r: SampledRecipe, count: number, seed: number) {
  switch (r.kind) {
    case 'audio-chunks': {
      const audio = syntheticSpeech(count * r.samples, { seed });
      const scale = r.scale ?? 1;
      return { dtype: 'float32', dims: [count, r.samples], data: audio.map((v) => v * scale) } as SampleTensor;
    }
    case 'oww-mel-windows':
      return melWindows(files, count, seed);
    case 'oww-embeddings':
      return embeddings(files, count, r.frames, seed);
    case 'text-image': {
      const ds = syntheticTextImages([count, ...r.dims], name, { seed, normalize: r.normalize });
      return ds.inputs[name] as SampleTensor;
    }
  }
}

/** The dataset of one split for a corpus model. Stateful models (a fixed input) run one sample at a time. */
export async function corpusDataset(entry: CorpusModel, files: CorpusFiles, split: Split): Promise<Dataset> {
  const count = entry.samples?.[split] ?? 32;
  const seed = deriveSeed(SEED[split], entry.id);
  const inputs: Record<string, SampleTensor> = {};
  const fixed: Record<string, SampleTensor> = {};
  for (const r of entry.inputs) {
    if ('fixed' in r) fixed[r.name] = fixedTensor(r.fixed);
    else inputs[r.name] = await sampled(files, r.name, r.sampled, count, seed);
  }
  const base = { source: `corpus:${entry.id}:${split}`, count, inputs };
  return Object.keys(fixed).length > 0 ? { ...base, fixed, runBatch: 1 } : base;
}

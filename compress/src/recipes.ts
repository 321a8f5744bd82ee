/**
 * Recipes: a compression pipeline as data. A recipe is either a preset name or a JSON list of
 * `{pass, options}` steps, validated with zod at the edge, then turned into Pass objects.
 */
import { z } from 'zod';
import { EdgefleetError } from '@edgefleet/shared';
import { createBiasCorrectionPass } from './passes/bias-correction.js';
import { createConstantsToInitializersPass } from './passes/constants-to-initializers.js';
import { createFoldBatchNormPass } from './passes/fold-batchnorm.js';
import { createFinetunePass, createQatPass } from './passes/finetune.js';
import { createFp16Pass } from './passes/fp16.js';
import { createInt4WeightsPass } from './passes/int4-weights.js';
import { createInt8DynamicPass } from './passes/int8-dynamic.js';
import { createInt8StaticPass } from './passes/int8-static.js';
import { createInt8WeightsPass } from './passes/int8-weights.js';
import { createOpsetUpgradePass } from './passes/opset-upgrade.js';
import { createPruneMagnitudePass } from './passes/prune-magnitude.js';
import { createPruneStructuredPass } from './passes/prune-structured.js';
import { createReconstructPass } from './passes/reconstruct.js';
import type { Pass } from './passes/types.js';

/** Options of the training passes (finetune, qat). */
const TrainStepOptions = z.strictObject({
  epochs: z.number().int().min(1).max(1000).optional(),
  learningRate: z.number().gt(0).max(1).optional(),
  distill: z.boolean().optional(),
  temperature: z.number().gt(0).max(100).optional(),
  seed: z.number().int().min(0).optional(),
  augmentShift: z.number().int().min(0).max(8).optional(),
});

/** A pruning ratio: the fraction of channels (or weights) removed, in [0, 1). */
const Ratio = z.number().min(0).lt(1);
/** Fractions of the original to keep; at least one of them. */
const Kept = z.number().gt(0).max(1).optional();
const PruneTarget = z
  .strictObject({ macs: Kept, params: Kept, channels: Kept })
  .refine(
    (t) => t.macs !== undefined || t.params !== undefined || t.channels !== undefined,
    'a target names macs, params or channels (fractions to keep)',
  );
const PruneStructuredOptions = z
  .strictObject({
    ratio: Ratio.optional(),
    ratios: z.record(z.string().min(1), Ratio).optional(),
    target: PruneTarget.optional(),
    importance: z.enum(['l1', 'l2', 'bn-scale', 'activation', 'reconstruction']).optional(),
    ridge: z.number().positive().max(1).optional(),
    levels: z.array(Ratio.gt(0)).min(1).max(16).optional(),
    scan: z.enum(['output', 'layer']).optional(),
    refitInScan: z.boolean().optional(),
    checkSamples: z.number().int().min(1).max(100_000).optional(),
    scanSamples: z.number().int().min(1).max(100_000).optional(),
    channelMultiple: z.number().int().min(1).max(256).optional(),
  })
  .refine(
    (o) => (o.ratio !== undefined || o.ratios !== undefined) !== (o.target !== undefined),
    'give either ratio/ratios or a target such as {"macs": 0.5}, not both',
  );

const Step = z.discriminatedUnion('pass', [
  z.strictObject({ pass: z.literal('constants-to-initializers') }),
  z.strictObject({ pass: z.literal('fold-batchnorm') }),
  z.strictObject({
    pass: z.literal('opset-upgrade'),
    options: z.strictObject({ target: z.number().int().min(13).max(21).optional() }).optional(),
  }),
  z.strictObject({ pass: z.literal('int8-weights') }),
  z.strictObject({ pass: z.literal('int8-dynamic') }),
  z.strictObject({
    pass: z.literal('int8-static'),
    options: z
      .strictObject({
        method: z.enum(['auto', 'minmax', 'percentile', 'entropy']).optional(),
        percentile: z.number().gt(50).max(100).optional(),
        activationType: z.enum(['uint8', 'int8']).optional(),
        fidelity: z.number().min(0).max(1).optional(),
        maxRounds: z.number().int().min(1).max(32).optional(),
        maxRelativeError: z.number().gt(0).optional(),
        floatOutputs: z.boolean().optional(),
        biasCorrection: z.boolean().optional(),
      })
      .optional(),
  }),
  z.strictObject({
    pass: z.literal('int4-weights'),
    options: z
      .strictObject({
        blockSize: z.union([z.literal(16), z.literal(32), z.literal(64), z.literal(128)]).optional(),
        symmetric: z.boolean().optional(),
        accuracyLevel: z.number().int().min(0).max(4).optional(),
        minK: z.number().int().min(0).optional(),
      })
      .optional(),
  }),
  z.strictObject({ pass: z.literal('fp16') }),
  z.strictObject({ pass: z.literal('finetune'), options: TrainStepOptions.optional() }),
  z.strictObject({ pass: z.literal('qat'), options: TrainStepOptions.optional() }),
  z.strictObject({
    pass: z.literal('bias-correction'),
    options: z.strictObject({ mode: z.enum(['sequential', 'joint']).optional() }).optional(),
  }),
  z.strictObject({ pass: z.literal('prune-structured'), options: PruneStructuredOptions }),
  z.strictObject({
    pass: z.literal('reconstruct'),
    options: z
      .strictObject({
        ridge: z.number().positive().max(1).optional(),
        checkSamples: z.number().int().min(1).max(100_000).optional(),
      })
      .optional(),
  }),
  z.strictObject({
    pass: z.literal('prune-magnitude'),
    options: z.strictObject({
      sparsity: Ratio,
      scope: z.enum(['layer', 'global']).optional(),
      layers: z.record(z.string().min(1), Ratio).optional(),
      minWeights: z.number().int().min(0).optional(),
    }),
  }),
]);

/**
 * A step may spell its options inline (`{"pass":"prune-structured","ratio":0.25}`) or under
 * `options`; inline keys move under `options` before validation (both at once is an error).
 */
const InlineStep = z.preprocess((raw) => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const { pass, options, ...inline } = raw as Record<string, unknown>;
  if (Object.keys(inline).length === 0) return raw;
  if (options !== undefined) return raw;
  return { pass, options: inline };
}, Step);

/** A recipe: steps plus exclusions. */
export const recipeSchema = z.strictObject({
  name: z.string().min(1).optional(),
  steps: z.array(InlineStep).min(1),
  /** Nodes kept in float by name or op type. */
  exclude: z
    .strictObject({ nodes: z.array(z.string()).default([]), opTypes: z.array(z.string()).default([]) })
    .optional(),
});
export type Recipe = z.infer<typeof recipeSchema>;
export type RecipeStep = z.infer<typeof Step>;

const C2I = { pass: 'constants-to-initializers' } as const;

/** The named presets. */
export const PRESETS: Readonly<Record<string, Recipe>> = {
  'int8-dynamic': { name: 'int8-dynamic', steps: [C2I, { pass: 'int8-dynamic' }] },
  'int8-static': {
    name: 'int8-static',
    steps: [C2I, { pass: 'opset-upgrade' }, { pass: 'fold-batchnorm' }, { pass: 'int8-static' }],
  },
  'int8-weights': {
    name: 'int8-weights',
    steps: [C2I, { pass: 'opset-upgrade' }, { pass: 'fold-batchnorm' }, { pass: 'int8-weights' }],
  },
  'int4-weights': { name: 'int4-weights', steps: [C2I, { pass: 'int4-weights' }] },
  fp16: { name: 'fp16', steps: [C2I, { pass: 'fold-batchnorm' }, { pass: 'fp16' }] },
  // Bias-corrected variants: the base preset plus a bias-correction step (needs --calib).
  'int8-static-bc': {
    name: 'int8-static-bc',
    steps: [
      C2I,
      { pass: 'opset-upgrade' },
      { pass: 'fold-batchnorm' },
      { pass: 'int8-static' },
      { pass: 'bias-correction' },
    ],
  },
  'int8-weights-bc': {
    name: 'int8-weights-bc',
    steps: [
      C2I,
      { pass: 'opset-upgrade' },
      { pass: 'fold-batchnorm' },
      { pass: 'int8-weights' },
      { pass: 'bias-correction' },
    ],
  },
  'int4-weights-bc': { name: 'int4-weights-bc', steps: [C2I, { pass: 'int4-weights' }, { pass: 'bias-correction' }] },
  // Quantization-aware training into int8-static's graph (needs calibration data; trains on it or on `train`).
  'int8-qat': {
    name: 'int8-qat',
    steps: [C2I, { pass: 'opset-upgrade' }, { pass: 'fold-batchnorm' }, { pass: 'qat' }],
  },
  // Pruning (needs --calib): half the MACs by a sensitivity scan, channels chosen by reconstruction error.
  'prune-structured': {
    name: 'prune-structured',
    steps: [C2I, { pass: 'prune-structured', options: { target: { macs: 0.5 }, importance: 'reconstruction' } }],
  },
  reconstruct: { name: 'reconstruct', steps: [{ pass: 'reconstruct' }] },
  'prune-magnitude': {
    name: 'prune-magnitude',
    steps: [C2I, { pass: 'prune-magnitude', options: { sparsity: 0.5, scope: 'global' } }],
  },
};

/** Steps that do the same thing twice in a row as once: a chain keeps their first occurrence. */
const IDEMPOTENT = new Set(['constants-to-initializers', 'opset-upgrade', 'fold-batchnorm']);

/**
 * A `+`-joined chain of presets, e.g. `prune-structured+reconstruct+int8-static`: their steps
 * in order, each idempotent preparation step kept once. Undefined when a part is not a preset.
 */
export function presetChain(text: string): Recipe | undefined {
  const parts = text.split('+').map((p) => p.trim());
  if (parts.length < 2 || parts.some((p) => PRESETS[p] === undefined)) return undefined;
  const steps: RecipeStep[] = [];
  for (const part of parts)
    for (const step of (PRESETS[part] as Recipe).steps) {
      const seen = steps.some((s) => s.pass === step.pass);
      if (!(IDEMPOTENT.has(step.pass) && seen && !('options' in step && step.options))) steps.push(step);
    }
  return { name: parts.join('+'), steps };
}

/** Parse a recipe given as a preset name, a JSON string, or an already-parsed value. */
export function parseRecipe(input: unknown): Recipe {
  if (typeof input === 'string') {
    const preset = PRESETS[input] ?? presetChain(input);
    if (preset) return preset;
    let json: unknown;
    try {
      json = JSON.parse(input);
    } catch {
      throw new EdgefleetError(
        'EF_ERR_RECIPE_INVALID',
        `recipe "${input}" is neither a preset (${Object.keys(PRESETS).join(', ')}), a +-joined chain of ` +
          `presets, nor JSON`,
        { recipe: input },
      );
    }
    return parseRecipe(json);
  }
  const steps = Array.isArray(input) ? { steps: input } : input;
  const r = recipeSchema.safeParse(steps);
  if (!r.success)
    throw new EdgefleetError('EF_ERR_RECIPE_INVALID', `recipe is invalid:\n${z.prettifyError(r.error)}`, {});
  return r.data;
}

/** Turn one step into a Pass. */
export function passFor(step: RecipeStep): Pass {
  switch (step.pass) {
    case 'constants-to-initializers':
      return createConstantsToInitializersPass();
    case 'fold-batchnorm':
      return createFoldBatchNormPass();
    case 'opset-upgrade':
      return createOpsetUpgradePass(step.options?.target);
    case 'int8-weights':
      return createInt8WeightsPass();
    case 'int8-dynamic':
      return createInt8DynamicPass();
    case 'int8-static':
      return createInt8StaticPass(stripUndefined(step.options ?? {}));
    case 'int4-weights':
      return createInt4WeightsPass(stripUndefined(step.options ?? {}));
    case 'fp16':
      return createFp16Pass();
    case 'bias-correction':
      return createBiasCorrectionPass(stripUndefined(step.options ?? {}));
    case 'finetune':
      return createFinetunePass(stripUndefined(step.options ?? {}));
    case 'qat':
      return createQatPass(stripUndefined(step.options ?? {}));
    case 'prune-structured':
      return createPruneStructuredPass(stripUndefined(step.options));
    case 'reconstruct':
      return createReconstructPass(stripUndefined(step.options ?? {}));
    case 'prune-magnitude':
      return createPruneMagnitudePass(stripUndefined(step.options));
  }
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

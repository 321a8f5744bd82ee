/**
 * The pruning report: per group what was cut (or why not), per weighted layer its parameters,
 * MACs and output fidelity before and after, the totals, the model's fidelity to the original
 * on calibration data, and the sensitivity scan when one ran. Plain data with a zod schema so
 * it can travel in the compression report, the CLI's JSON and the planner's store.
 */
import { z } from 'zod';

export const pruneGroupNoteSchema = z.object({
  name: z.string(),
  channels: z.number(),
  kept: z.number(),
  ratio: z.number(),
  prunable: z.boolean(),
  /** Why the group was left whole. */
  reason: z.string().optional(),
  /** The importance criterion that chose the channels (with any fallback). */
  method: z.string().optional(),
  /** Nodes with something cut when the group is cut. */
  nodes: z.number(),
});

export const pruneLayerNoteSchema = z.object({
  node: z.string(),
  opType: z.string(),
  paramsBefore: z.number(),
  paramsAfter: z.number(),
  macsBefore: z.number(),
  macsAfter: z.number(),
  /** Cosine of the layer's outputs to the original's on calibration data (kept outputs only); null without data. */
  cosine: z.number().nullable(),
  /** The same right after the cut, before this layer was refit (refit layers only). */
  cosineBeforeRefit: z.number().nullable(),
});

export const pruneReportSchema = z.object({
  kind: z.enum(['structured', 'magnitude']),
  importance: z.string(),
  target: z
    .object({ macs: z.number().optional(), params: z.number().optional(), channels: z.number().optional() })
    .nullable(),
  groups: z.array(pruneGroupNoteSchema),
  layers: z.array(pruneLayerNoteSchema),
  totals: z.object({
    paramsBefore: z.number(),
    paramsAfter: z.number(),
    macsBefore: z.number(),
    macsAfter: z.number(),
  }),
  /** Outputs of the result against the original on calibration data; null when there was none. */
  fidelity: z.object({ samples: z.number(), cosine: z.number(), agreement: z.number() }).nullable(),
  sensitivity: z
    .array(
      z.object({
        group: z.string(),
        /**
         * `output`: drop = 1 − output cosine with this group alone pruned; `layer`: the refit error of its consumers.
         */
        measure: z.enum(['output', 'layer']),
        points: z.array(
          z.object({
            ratio: z.number(),
            kept: z.number(),
            drop: z.number(),
            cosine: z.number().nullable(),
            agreement: z.number().nullable(),
          }),
        ),
      }),
    )
    .nullable(),
  reconstructed: z.boolean(),
  /** Unstructured pruning: share of zero weights in the pruned layers, and the gzip size of the model. */
  sparsity: z.object({ zeros: z.number(), weights: z.number(), gzipBytes: z.number() }).optional(),
});

export type PruneReport = z.infer<typeof pruneReportSchema>;
export type PruneLayerNote = z.infer<typeof pruneLayerNoteSchema>;
export type PruneGroupNote = z.infer<typeof pruneGroupNoteSchema>;

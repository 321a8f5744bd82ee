/**
 * `POST /v1/golden`: make a golden set for a variant from data, checked on the server's host
 * (issue 21). `from`: `mnist` (the MNIST test split), `auto` (the variant's model's registered
 * evaluation data, labels included) or `samples` (rows the caller read from a sample
 * directory). `minAccuracy` is the variant's host accuracy on exactly these rows minus
 * `marginPts`. The answer says how many rows fit for this model.
 */
import * as z from 'zod';
import { DEFAULT_GOLDEN_MARGIN_PTS, MAX_GOLDEN_LABEL, MAX_GOLDEN_ROWS } from '../golden.js';
import { base64TensorSchema, goldenSetSchema } from '../messages/deploy.js';

export const GOLDEN_SOURCES = ['mnist', 'auto', 'samples'] as const;

export const goldenMakeSchema = z
  .strictObject({
    /** The variant (artifact sha256 or a prefix of 8+ hex digits) the golden set is for. */
    variant: z.string().regex(/^[0-9a-f]{8,64}$/, 'variant: the artifact sha256 or a prefix of 8+ hex digits'),
    from: z.enum(GOLDEN_SOURCES),
    /** Rows; default as many as fit (at most 64). */
    count: z.number().int().positive().max(MAX_GOLDEN_ROWS).optional(),
    /** With `from: samples`: float32 rows per input (first axis = rows) and their labels. */
    samples: z
      .strictObject({
        inputs: z.record(z.string().min(1).max(128), base64TensorSchema),
        labels: z.array(z.number().int().nonnegative().max(MAX_GOLDEN_LABEL)).min(1).max(MAX_GOLDEN_ROWS),
      })
      .optional(),
    /** minAccuracy = host accuracy on these rows − marginPts/100. Default 5 points. */
    marginPts: z.number().min(0).max(100).default(DEFAULT_GOLDEN_MARGIN_PTS),
  })
  .refine((b) => (b.from === 'samples') === (b.samples !== undefined), {
    message: '`samples` goes with `from: samples`, and only with it',
    path: ['samples'],
  });

/** What the server found on its host: the golden set, and the figures it was made from. */
export const goldenReportSchema = z.object({
  /** Where the rows came from: `mnist:test`, the model's eval spec, or `samples`. */
  source: z.string(),
  rows: z.number().int(),
  correct: z.number().int(),
  /** Accuracy of the variant on these rows, run on the server's host. */
  hostAccuracy: z.number(),
  minAccuracy: z.number(),
  marginPts: z.number(),
  /** Float32 bytes of one row over every input, and the most rows one golden set may hold for this model. */
  rowBytes: z.number().int(),
  maxRows: z.number().int(),
  limit: z.string(),
  inputs: z.array(z.object({ name: z.string(), dims: z.array(z.union([z.number(), z.string(), z.null()])) })),
});
export type GoldenReport = z.infer<typeof goldenReportSchema>;

export const goldenMadeSchema = z.object({ golden: goldenSetSchema, report: goldenReportSchema });

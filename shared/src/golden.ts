/**
 * Golden sets [EF-PROTO 6.5] as numbers a person can act on (issue 21): one size limit, stated
 * in rows (images) of the model at hand, that the schema, the admin API's body limit and the
 * server's golden-set builder all share; and the scoring the agent's smoke test applies, so the
 * server can run a golden set on the host before a rollout starts. Pure; no Node APIs (the
 * console may import it).
 */
import { MAX_GOLDEN_BYTES } from './limits.js';

/** Largest label a golden set may name (keeps the body-size arithmetic below exact). */
export const MAX_GOLDEN_LABEL = 999_999;

/** Most rows (labels) a golden set may have. */
export const MAX_GOLDEN_ROWS = 4096;

/**
 * Body limit of `POST /v1/rollouts` and `POST /v1/golden`: the largest golden set the schema
 * accepts (96 KiB of float32 as base64, 131,072 characters, plus 4,096 labels of up to 6 digits
 * and their commas, 28 KiB) leaves more than 90 KiB for names, dims, the policy and the rest.
 * test/unit/golden-limits.test.ts checks that the largest valid body fits.
 */
export const GOLDEN_BODY_LIMIT_BYTES = 256 * 1024;

/** Default margin below the host accuracy a made golden set's `minAccuracy` sits, in points. */
export const DEFAULT_GOLDEN_MARGIN_PTS = 5;

/** Bytes a base64 string decodes to. */
export function base64DecodedBytes(b64: string): number {
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - padding;
}

/** Float32 bytes one row (one sample across every input) takes: the product of each input's non-batch dims × 4. */
export function goldenRowBytes(inputs: Readonly<Record<string, { readonly dims: readonly number[] }>>): number {
  let bytes = 0;
  for (const t of Object.values(inputs)) bytes += 4 * t.dims.slice(1).reduce((a, b) => a * b, 1);
  return bytes;
}

/** Most rows of `rowBytes` each that fit in one golden set (at most MAX_GOLDEN_ROWS). */
export function maxGoldenRows(rowBytes: number): number {
  if (rowBytes <= 0) return MAX_GOLDEN_ROWS;
  return Math.min(MAX_GOLDEN_ROWS, Math.floor(MAX_GOLDEN_BYTES / rowBytes));
}

/** The limit in words, for a model whose rows take `rowBytes`: "at most 31 rows (images) of 3,136 bytes …". */
export function describeGoldenLimit(rowBytes: number): string {
  return (
    `at most ${maxGoldenRows(rowBytes)} rows (images) of ${rowBytes.toLocaleString('en-US')} bytes each for this ` +
    `model (${MAX_GOLDEN_BYTES / 1024} KiB of float32 input per golden set)`
  );
}

/** A float32 output as the scorer reads it. */
export interface GoldenOutput {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
}

export interface GoldenScore {
  readonly accuracy: number;
  readonly correct: number;
  readonly rows: number;
  /** False when any value of any output is NaN or infinite. */
  readonly finite: boolean;
}

/**
 * Scores outputs against the labels as the agent's smoke test does: argmax over the last axis
 * of the scored output (`output`, default the first), one row per label. Throws RangeError when
 * the output is missing or its rows do not match the labels.
 */
export function scoreGoldenOutputs(
  golden: { readonly labels: readonly number[]; readonly output?: string | undefined },
  outputs: Readonly<Record<string, GoldenOutput>>,
  outputNames: readonly string[],
): GoldenScore {
  const finite = Object.values(outputs).every((t) => Array.prototype.every.call(t.data, Number.isFinite));
  const name = golden.output ?? outputNames[0];
  const scored = name === undefined ? undefined : outputs[name];
  if (!scored)
    throw new RangeError(
      `golden set scores output ${name ?? '(none)'}, which the model does not produce (it has ` +
        `${outputNames.join(', ')})`,
    );
  const rows = golden.labels.length;
  const width = scored.dims[scored.dims.length - 1] ?? 0;
  if (width === 0 || scored.data.length !== rows * width)
    throw new RangeError(`output ${name} has dims [${scored.dims.join(', ')}], not ${rows} rows`);
  let correct = 0;
  golden.labels.forEach((label, row) => {
    let best = 0;
    for (let i = 1; i < width; i += 1)
      if ((scored.data[row * width + i] ?? -Infinity) > (scored.data[row * width + best] ?? -Infinity)) best = i;
    if (best === label) correct += 1;
  });
  return { accuracy: correct / rows, correct, rows, finite };
}

/**
 * `--golden` of `rollout start` and `--from` of `golden make` (issue 21): where a golden set
 * comes from. `mnist[:N]` and `auto[:N]` are made by the server from data it holds; a sample
 * directory is read here and its rows sent to the server; a JSON file is a golden set as it is.
 * Whatever the server makes it also runs on its host, so `minAccuracy` is the variant's
 * accuracy on exactly those rows minus a stated margin.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readSampleDir } from '@edgefleet/compress/data/sample-dir';
import {
  asError,
  EdgefleetError,
  goldenMadeSchema,
  goldenSetSchema,
  type GoldenReport,
  type GoldenSet,
  MAX_GOLDEN_ROWS,
  stripUndefined,
} from '@edgefleet/shared';
import { z } from 'zod';
import type { ApiClient } from './api-client.js';
import { usageError } from './usage.js';

/** Reads a golden set JSON file [EF-PROTO 6.5]: an unreadable file is a usage error, a wrong one an invalid rollout. */
export function readGoldenFile(path: string): GoldenSet {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err: unknown) {
    throw usageError(`--golden ${path}: cannot read it as JSON (${asError(err).message})`, { path });
  }
  const parsed = goldenSetSchema.safeParse(json);
  if (!parsed.success)
    throw new EdgefleetError('EF_ERR_ROLLOUT_INVALID', `golden set ${path}: ${z.prettifyError(parsed.error)}`, {
      path,
    });
  return parsed.data;
}

export type GoldenSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'make'; readonly from: 'mnist' | 'auto'; readonly count?: number };

const SPEC_HELP = 'mnist[:N], auto[:N], a sample directory, or a golden-set JSON file';

/** Parses the flag's text; a path that does not exist is a usage error here, before anything is sent. */
export function parseGoldenSource(text: string): GoldenSource {
  const m = /^(mnist|auto)(?::(\d+))?$/.exec(text);
  if (m) {
    const count = m[2] === undefined ? undefined : Number(m[2]);
    if (count !== undefined && !(count >= 1 && count <= MAX_GOLDEN_ROWS))
      throw usageError(`--golden ${text}: N must be 1–${MAX_GOLDEN_ROWS}`);
    return { kind: 'make', from: m[1] as 'mnist' | 'auto', ...stripUndefined({ count }) };
  }
  if (!existsSync(text)) throw usageError(`--golden ${text}: no such file or directory; give ${SPEC_HELP}`);
  return statSync(text).isDirectory() ? { kind: 'dir', path: text } : { kind: 'file', path: text };
}

/** A sample directory's rows as base64 float32 tensors and labels (the server checks them against the variant). */
function samplesOf(dir: string): { inputs: GoldenSet['inputs']; labels: number[] } {
  let ds: ReturnType<typeof readSampleDir>;
  try {
    ds = readSampleDir(dir);
  } catch (err: unknown) {
    throw usageError(`--golden ${dir}: ${asError(err).message}`);
  }
  if (!ds.labels)
    throw usageError(`--golden ${dir}: the sample directory has no labels.bin; a golden set needs a label per row`);
  const inputs: Record<string, { dims: number[]; data: string }> = {};
  for (const [name, t] of Object.entries(ds.inputs)) {
    if (t.dtype !== 'float32')
      throw usageError(`--golden ${dir}: tensor "${name}" is ${t.dtype}; golden sets carry float32`);
    const f = t.data as Float32Array;
    inputs[name] = { dims: [...t.dims], data: Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64') };
  }
  return { inputs, labels: [...ds.labels] };
}

/** The golden set for a variant, and the server's report when the server made it. */
export async function goldenFor(
  api: ApiClient,
  variantSha: string,
  source: GoldenSource,
  marginPts?: number,
): Promise<{ golden: GoldenSet; report: GoldenReport | null }> {
  if (source.kind === 'file') return { golden: readGoldenFile(source.path), report: null };
  const margin = marginPts === undefined ? {} : { marginPts };
  const body =
    source.kind === 'dir'
      ? { variant: variantSha, from: 'samples', samples: samplesOf(source.path), ...margin }
      : { variant: variantSha, from: source.from, ...(source.count ? { count: source.count } : {}), ...margin };
  return api.post('/v1/golden', body, goldenMadeSchema);
}

/** One line saying what the golden set is and how it was judged. */
export function goldenReportLine(r: GoldenReport): string {
  return (
    `golden set: ${r.rows} rows of ${r.source}; on the server's host the variant scores ${r.hostAccuracy.toFixed(4)} ` +
    `(${r.correct}/${r.rows}), so minAccuracy is ${r.minAccuracy} (${r.marginPts} pts margin); ${r.limit}`
  );
}

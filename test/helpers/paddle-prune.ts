/**
 * Shared by the two PaddleOCR pruning tests: prune a model through the recipe front door with
 * reconstruction, on synthetic text pages, then measure on held-out pages (another seed) the
 * output cosine to the original and the share of the prunable groups' channels removed.
 */
import { readFileSync } from 'node:fs';
import { compressModel, type CompressReport } from '@edgefleet/compress/compress-model';
import { syntheticTextImages } from '@edgefleet/compress/data/synthetic-text';
import { compareOutputs, runOutputs } from '@edgefleet/compress/prune/fidelity';
import { paddleOcrPaths } from '../fixtures/ir-models.js';

export interface PaddlePruneResult {
  readonly report: CompressReport;
  /** Output cosine to the original on held-out synthetic text. */
  readonly cosine: number;
  /** Channels removed / channels of the prunable groups. */
  readonly removedShare: number;
  readonly bytes: Uint8Array;
}

export async function prunePaddle(
  which: 'cls' | 'rec',
  opts: { calib: number; heldOut: number; width: number; options: Record<string, unknown> },
): Promise<PaddlePruneResult> {
  const bytes = readFileSync(paddleOcrPaths()[which]);
  const shape = [3, 48, opts.width];
  const calib = syntheticTextImages([opts.calib, ...shape] as [number, number, number, number], 'x', { seed: 1 });
  const test = syntheticTextImages([opts.heldOut, ...shape] as [number, number, number, number], 'x', { seed: 2 });
  const recipe = [
    { pass: 'constants-to-initializers' },
    { pass: 'prune-structured', target: { channels: 0.75 }, ...opts.options },
    { pass: 'reconstruct' },
  ];
  const { bytes: out, report } = await compressModel(bytes, recipe, { calib });
  const cosine = compareOutputs(await runOutputs(bytes, test, 8), await runOutputs(out, test, 8)).cosine;
  const prunable = report.pruning?.groups.filter((g) => g.prunable) ?? [];
  const total = prunable.reduce((s, g) => s + g.channels, 0);
  const removed = prunable.reduce((s, g) => s + g.channels - g.kept, 0);
  return { report, cosine, removedShare: total === 0 ? 0 : removed / total, bytes: out };
}

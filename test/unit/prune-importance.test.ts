/**
 * Which channels each importance criterion gives up, on hand-built models where the right answer
 * is known by construction and differs between criteria (test/fixtures/importance-models.ts), and
 * the closed-form sensitivity scan (`scan: "layer"`): it prices redundant channels at ~0 and
 * independent ones above, never decreases with the ratio, and lets a target spend its cut on the
 * redundant group alone.
 */
import t from 'tap';
import { loadDataSource } from '@edgefleet/compress/data/source';
import { modelInputsOf } from '@edgefleet/compress/eval/index';
import type { Model } from '@edgefleet/compress/ir/index';
import type { Importance } from '@edgefleet/compress/prune/importance';
import { pruneStructured, type StructuredOptions } from '@edgefleet/compress/prune/structured';
import { reconstructLayers } from '@edgefleet/compress/prune/reconstruct';
import {
  DEAD_CHANNELS,
  deadChannels,
  NORMS_DISAGREE,
  normsDisagree,
  positiveInputs,
  SMALL_SCALE,
  smallScale,
  twinChannels,
} from '../fixtures/importance-models.js';

/** The original channel indices a layer's outputs lost, with the criterion the report names. */
async function removedBy(
  model: Model,
  layer: string,
  importance: Importance,
  opts: Partial<StructuredOptions>,
): Promise<{ removed: number[]; method: string | undefined }> {
  const { report, handoff, analysis } = await pruneStructured(model, { importance, channelMultiple: 1, ...opts });
  const group = analysis.groups.find((g) => g.producers.includes(layer));
  const kept = new Set(handoff.keptOutputs.get(layer) ?? []);
  const removed = Array.from({ length: group?.channels ?? 0 }, (_x, i) => i).filter((c) => !kept.has(c));
  return { removed, method: report.groups.find((g) => g.name === group?.name)?.method };
}

t.test('l1 and l2: the filter with the smallest norm goes, and the two norms are told apart', async (t) => {
  const one = { ratios: { m1: 1 / 12 } };
  const l1 = await removedBy(normsDisagree(), 'm1', 'l1', one);
  const l2 = await removedBy(normsDisagree(), 'm1', 'l2', one);
  t.same(l1, { removed: [NORMS_DISAGREE.l1], method: 'l1' }, 'l1: the filter with one 3 (l1 3 < 6.4)');
  t.same(l2, { removed: [NORMS_DISAGREE.l2], method: 'l2' }, 'l2: the filter of 0.4s (l2 1.6 < 3)');
});

t.test('bn-scale: the channel its BatchNorm scales down goes, not the smallest filter', async (t) => {
  const one = { ratios: { c1: 1 / 8 } };
  const bn = await removedBy(smallScale(), 'c1', 'bn-scale', one);
  const l2 = await removedBy(smallScale(), 'c1', 'l2', one);
  t.same(bn, { removed: [SMALL_SCALE['bn-scale']], method: 'bn-scale' }, 'bn-scale: γ = 0.01');
  t.same(l2.removed, [SMALL_SCALE.l2], 'l2 on the same model: the filter scaled to 1%');
  const fallback = await removedBy(normsDisagree(), 'm1', 'bn-scale', { ratios: { m1: 1 / 12 } });
  t.same(
    fallback,
    { removed: [NORMS_DISAGREE.l2], method: 'l2 (the group has no BatchNormalization)' },
    'a group without BatchNorm falls back to l2 and says so',
  );
});

t.test('activation: channels whose energy never reaches the next layer go, whatever their norm', async (t) => {
  const two = { ratios: { m1: 2 / 12 }, data: positiveInputs(64) };
  const activation = await removedBy(deadChannels(), 'm1', 'activation', two);
  t.same(activation.removed, [...DEAD_CHANNELS.activation], 'the always-negative filter and the one m2 ignores');
  t.equal(activation.method, 'activation');
  const l2 = await removedBy(deadChannels(), 'm1', 'l2', two);
  t.same(l2.removed, [...DEAD_CHANNELS.l2], 'l2 would drop the small but live filter instead');
});

t.test('the closed-form layer scan prices twins at ~0 and independent channels above it', async (t) => {
  const model = twinChannels();
  const data = loadDataSource('random:192', modelInputsOf(model));
  const opts: StructuredOptions = {
    target: { channels: 0.75 },
    scan: 'layer',
    levels: [0.25, 0.5, 0.75],
    importance: 'reconstruction',
    ridge: 1e-6,
    channelMultiple: 1,
    data,
  };
  const { report, handoff } = await pruneStructured(model, opts);
  const rows = new Map((report.sensitivity ?? []).map((r) => [r.group, r]));
  t.same([...rows.keys()].sort(), ['a', 'b'], 'one row per prunable group');
  for (const [name, row] of rows) {
    t.ok(
      row.measure === 'layer' && row.points.every((p) => p.cosine === null && p.agreement === null),
      `${name}: measured in closed form, no model run`,
    );
    const drops = row.points.map((p) => p.drop);
    t.ok(
      drops.every((d, i) => i === 0 || d >= (drops[i - 1] as number) - 1e-9),
      `${name}: the drop never falls as the ratio grows (${drops.map((d) => d.toExponential(2)).join(', ')})`,
    );
  }
  const a = rows.get('a')?.points ?? [];
  const b = rows.get('b')?.points ?? [];
  t.same(
    a.map((p) => p.kept),
    [9, 6, 3],
    'a: 3, 6, 9 of 12 removed',
  );
  t.ok((a[1]?.drop ?? 1) < 1e-5, `a at half: one of each twin pair, the refit absorbs it (drop ${a[1]?.drop})`);
  t.ok((a[2]?.drop ?? 0) > 0.1, `a at three quarters loses three inputs of b (drop ${a[2]?.drop})`);
  t.ok((b[0]?.drop ?? 0) > 0.01, `every channel of b costs something at the first level (drop ${b[0]?.drop})`);

  const kept = new Set(handoff.keptOutputs.get('a') ?? []);
  const pairs = [0, 1, 2, 3, 4, 5].map((c) => Number(kept.has(c)) + Number(kept.has(c + 6)));
  t.same(pairs, [1, 1, 1, 1, 1, 1], 'the target is met in a alone, keeping one channel of each twin pair');
  const keptOf = (name: string) => report.groups.find((g) => g.name === name)?.kept;
  t.same([keptOf('a'), keptOf('b')], [6, 6], 'b is left whole: a quarter of all channels came free from a');
  // Every b_k lost the same half of its input, so the outputs keep their direction (the cosine
  // cannot see the scale; the reconstruct pass's own test covers refitting a lost twin).
  t.ok((report.fidelity?.cosine ?? 0) > 0.9999, `the cut changes no direction (cosine ${report.fidelity?.cosine})`);
});

t.test('reconstruct keeps a refit that restores a lost twin, though the cut changed only the scale', async (t) => {
  // Cutting one of each twin pair of a halves b's inputs: b's outputs keep their direction
  // (cosine 1) but lose half their size. Only the error sees that; the refit doubles the kept weights.
  const data = loadDataSource('random:192', modelInputsOf(twinChannels()));
  const cut = await pruneStructured(twinChannels(), {
    ratios: { a: 0.5 },
    importance: 'reconstruction',
    channelMultiple: 1,
    data,
  });
  const notes = await reconstructLayers(cut.model, cut.handoff.original, ['b'], cut.handoff.keptOutputs, {
    data,
    ridge: 1e-6,
  });
  const b = notes.find((n) => n.node === 'b');
  t.ok((b?.cosineBefore ?? 0) > 0.999, `the cut keeps b's direction (cosine ${b?.cosineBefore})`);
  t.ok((b?.relErrorBefore ?? 0) > 0.1, `but misses its outputs by ${b?.relErrorBefore}`);
  t.equal(b?.written, true, 'the refit is written');
  t.ok((b?.relErrorAfter ?? 1) < 0.01, `and misses them by ${b?.relErrorAfter} after it`);
});

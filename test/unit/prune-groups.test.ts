/**
 * The channel dependency analysis and the cut, pattern by pattern (test/fixtures/prune-models.ts):
 * which groups it finds and couples, which it refuses and with what reason, and that cutting
 * channels no layer reads leaves the model's outputs unchanged in onnxruntime, which checks
 * every slice at once (producer rows, consumer columns, BatchNorm and other per-channel
 * constants, depthwise filters and `group`, grouped blocks, Flatten blocks, Concat offsets and
 * rewritten reshape targets).
 */
import t from 'tap';
import { getAttrInt, loadModel, writeModel, type Model, type TensorOf } from '@edgefleet/compress/ir/index';
import { analyzeChannels, type ChannelAnalysis } from '@edgefleet/compress/prune/channel-graph';
import { keptAlongAxis } from '@edgefleet/compress/prune/layout';
import { pruneStructured } from '@edgefleet/compress/prune/structured';
import { modelCost } from '@edgefleet/compress/prune/cost';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { floatInit } from '@edgefleet/compress/passes/util';
import { PATTERNS, unfollowable } from '../fixtures/prune-models.js';
import { seededFloats } from '../fixtures/deploy-models.js';

const dimsFor = (m: Model, batch: number): Record<string, number[]> => {
  const x = m.graph.inputs[0];
  const shape = x?.type?.kind === 'tensor' ? (x.type.shape ?? []) : [];
  return { x: [batch, ...shape.slice(1).map(Number)] };
};
const analyze = (m: Model): ChannelAnalysis => analyzeChannels(m.graph, dimsFor(m, 2), 13);

const EXPECTED: Record<string, Record<string, { channels: number; consumers: string[]; producers?: string[] }>> = {
  'conv-chain': { c1: { channels: 8, consumers: ['c2'] }, c2: { channels: 6, consumers: ['fc'] } },
  residual: {
    ca: { channels: 8, consumers: ['cb', 'cc'], producers: ['ca', 'cb'] },
    cc: { channels: 6, consumers: ['fc'] },
  },
  'squeeze-excite': {
    c1: { channels: 8, consumers: ['se.c1', 'c2'], producers: ['c1', 'se.c2'] },
    'se.c1': { channels: 2, consumers: ['se.c2'] },
    c2: { channels: 6, consumers: ['fc'] },
  },
  grouped: {
    c1: { channels: 8, consumers: ['cg'] },
    cg: { channels: 8, consumers: ['c3'] },
    c3: { channels: 6, consumers: ['fc'] },
  },
  concat: {
    ca: { channels: 4, consumers: ['cc'] },
    cb: { channels: 6, consumers: ['cc'] },
    cc: { channels: 6, consumers: ['fc'] },
  },
  'flatten-gemm': { c1: { channels: 4, consumers: ['g1'] }, g1: { channels: 12, consumers: ['g2'] } },
  'reshape-targets': { c1: { channels: 6, consumers: ['m1'] }, c2: { channels: 5, consumers: ['m2'] } },
  'matmul-mlp': { m1: { channels: 12, consumers: ['m2'] } },
};

t.test('the analysis finds and couples every group of each pattern', async (t) => {
  for (const [name, build] of Object.entries(PATTERNS)) {
    const groups = analyze(build()).groups;
    for (const [group, want] of Object.entries(EXPECTED[name] ?? {})) {
      const g = groups.find((x) => x.name === group);
      t.ok(g?.prunable, `${name}: ${group} is prunable ${g?.reason ?? ''}`);
      t.equal(g?.channels, want.channels, `${name}: ${group} has ${want.channels} channels`);
      t.same(g?.consumers, want.consumers, `${name}: ${group} is read by ${want.consumers.join(', ')}`);
      if (want.producers)
        t.same(g?.producers, want.producers, `${name}: ${group} is produced by ${want.producers.join(', ')}`);
    }
    const out = groups.filter((g) => g.reason?.includes('model output'));
    t.ok(out.length >= 1, `${name}: the group reaching the model output is left whole`);
  }
  const grouped = analyze(PATTERNS.grouped?.() as Model).groups;
  t.equal(grouped.find((g) => g.name === 'c1')?.blocks, 2, 'a grouped consumer splits its input group into 2 blocks');
});

t.test('patterns the analysis cannot follow leave the group whole and name the node', async (t) => {
  const cases = {
    softmax: /Softmax sm: normalises over the channels/,
    reduce: /ReduceMean mean: reduces over the channels/,
    split: /Split split: edgefleet cannot follow channels through this op/,
    output: /r1 is a model output/,
  } as const;
  for (const [kind, reason] of Object.entries(cases)) {
    const c1 = analyze(unfollowable(kind as keyof typeof cases)).groups.find((g) => g.name === 'c1');
    t.equal(c1?.prunable, false, `${kind}: c1 left whole`);
    t.match(c1?.reason, reason, `${kind}: ${c1?.reason}`);
  }
});

/** Zeroes, in a copy, the filters and consumer inputs of `removed` channels: cutting them must change nothing. */
function zeroChannels(model: Model, a: ChannelAnalysis, removed: ReadonlyMap<number, readonly number[]>): Model {
  const copy = loadModel(writeModel(model));
  const g = copy.graph;
  const nodes = new Map(g.nodes.map((n) => [n.name, n]));
  for (const m of a.members) {
    if (m.kind !== 'out' && m.kind !== 'in') continue;
    const layout = a.layouts.get(m.tensor);
    const node = nodes.get(m.node);
    const wt = node ? floatInit(g, node.inputs[1]) : undefined;
    if (!layout || !node || !wt) continue;
    const gone = new Set(
      keptAlongAxis(layout, (s) => {
        const r = removed.get(a.rootOf(s));
        return r ? Array.from({ length: 1 << 12 }, (_x, i) => i).filter((c) => r.includes(c)) : [];
      }),
    );
    zeroSlices(
      wt,
      node.opType,
      m.kind,
      getAttrInt(node, 'transB', 0) === 1,
      getAttrInt(node, 'group', 1) as number,
      gone,
    );
  }
  return copy;
}

function zeroSlices(
  wt: TensorOf<'float32'>,
  op: string,
  kind: 'out' | 'in',
  transB: boolean,
  group: number,
  gone: ReadonlySet<number>,
): void {
  const [r = 0, c = 0] = wt.dims;
  const inner = wt.dims.slice(2).reduce((x, y) => x * y, 1);
  for (let i = 0; i < wt.data.length; i++) {
    let idx: number;
    if (op === 'Conv') {
      const row = Math.floor(i / (c * inner));
      const col = Math.floor(i / inner) % c;
      idx = kind === 'out' ? row : Math.floor(row / (r / group)) * c + col;
    } else {
      const row = Math.floor(i / c);
      const col = i % c;
      const outAxisIsRow = op === 'Gemm' && transB;
      idx = kind === 'out' ? (outAxisIsRow ? row : col) : outAxisIsRow ? col : row;
    }
    if (gone.has(idx)) wt.data[i] = 0;
  }
}

async function outputs(model: Model, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await createOrtSession(writeModel(model));
  const y = (await s.run({ x: { dtype: 'float32', dims, data: input } })).y?.data as Float32Array;
  await s.release();
  return y;
}

t.test('cutting channels no layer reads leaves every pattern computing the same outputs', async (t) => {
  for (const [name, build] of Object.entries(PATTERNS)) {
    const model = build();
    const a = analyze(model);
    // The last quarter of each block of every prunable group: zero filters, so l1 picks exactly them.
    const removed = new Map(
      a.groups
        .filter((g) => g.prunable)
        .map((g) => {
          const per = g.channels / g.blocks;
          const drop = Math.floor(per / 4);
          return [
            g.id,
            Array.from({ length: g.blocks }, (_b, b) =>
              Array.from({ length: drop }, (_x, i) => b * per + per - 1 - i),
            ).flat(),
          ];
        }),
    );
    const zeroed = zeroChannels(model, a, removed);
    const { model: pruned, report } = await pruneStructured(zeroed, {
      ratio: 0.25,
      importance: 'l1',
      channelMultiple: 1,
    });
    const dims = dimsFor(model, 3).x as number[];
    const input = seededFloats(
      dims.reduce((p, q) => p * q, 1),
      9,
    );
    const want = await outputs(zeroed, input, dims);
    const got = await outputs(pruned, input, dims);
    const diff = Math.max(...Array.from(want, (v, i) => Math.abs(v - (got[i] ?? Number.NaN))));
    t.ok(diff < 1e-4, `${name}: outputs unchanged (max |Δ| ${diff.toExponential(1)})`);
    const cut = report.groups.filter((g) => g.kept < g.channels).length;
    t.equal(
      cut,
      [...removed.values()].filter((r) => r.length > 0).length,
      `${name}: every group with something to cut was cut`,
    );
    t.ok(
      modelCost(pruned.graph, dimsFor(model, 1)).params < modelCost(model.graph, dimsFor(model, 1)).params,
      `${name}: fewer parameters`,
    );
  }
});

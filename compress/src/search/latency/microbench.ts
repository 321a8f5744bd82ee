import { cpus } from 'node:os';
import { compressModel } from '../../compress-model.js';
import { createRng } from '../../data/prng.js';
import type { Dataset } from '../../data/tensor.js';
import { percentile } from '../../eval/metrics.js';
import { loadModel, writeModel, type Model } from '../../ir/index.js';
import type { Progress } from '../../passes/types.js';
import { createOrtSession, runtimeVersion, type OrtSession, type RuntimeTensor } from '../../runtime/ort.js';
import {
  coefficientsFromSolution,
  featureRow,
  predictHostMs,
  type HostFingerprint,
  type LatencyTable,
} from './cost-model.js';
import { mape, relativeNnls } from './fit.js';
import { buildNet, type NetLayer, type NetSpec } from './net.js';
import { randomNet } from './random-nets.js';
import { costUnitsOf, type UnitPrecision } from './units.js';

/**
 * Microbenchmarks of the latency predictor: small graphs (one layer, short chains of the same
 * layer, a conv with its pool, a flatten into a dense layer) per layer kind × shape × precision,
 * timed in onnxruntime-node on this host at one thread, at batch 1 and 32, interleaved in rounds
 * (medians), then the cost model's coefficients fitted to them (fit.ts). Chains of 1, 2 and 4
 * Relus separate the fixed cost of a call from the cost of a node.
 */
export interface MicrobenchOptions {
  /** Precisions to measure; default fp32, fp16, int8. */
  readonly precisions?: readonly UnitPrecision[];
  /** Batch sizes; default 1 and 32. */
  readonly batches?: readonly number[];
  /** Interleaved rounds; default 5. */
  readonly rounds?: number;
  /** Timed runs per graph per round; default 12 (the median of rounds × runs is kept). */
  readonly runsPerRound?: number;
  /** A smaller suite (a few shapes per kind), for tests. */
  readonly quick?: boolean;
  readonly onProgress?: (p: Progress) => void;
  readonly now?: () => number;
  /** Clock for `measuredAt`; default Date.now. */
  readonly wallClock?: () => number;
}

interface SuiteEntry {
  readonly spec: NetSpec;
  /** Precisions this graph is measured in (an int8 chain of Relus means nothing). */
  readonly precisions: readonly UnitPrecision[];
}

const ALL: readonly UnitPrecision[] = ['fp32', 'fp16', 'int8'];
const conv = (filters: number, stride = 1, kernel = 3): NetLayer[] => [
  { kind: 'conv', filters, kernel, stride },
  { kind: 'relu' },
];
const dense = (units: number): NetLayer[] => [{ kind: 'dense', units }, { kind: 'relu' }];
const repeat = (n: number, layers: NetLayer[]): NetLayer[] => Array.from({ length: n }, () => layers).flat();
/**
 * A suite graph. Spatial graphs end in a global average pool, as real networks end small: a
 * large graph output costs its own copy into JavaScript, which no candidate network pays.
 */
const entry = (name: string, input: number[], layers: NetLayer[], precisions = ALL): SuiteEntry => {
  const spatial = layers.at(-1)?.kind !== 'dense' && layers.some((l) => l.kind === 'conv' || l.kind === 'maxpool');
  return { spec: { name, input, layers: spatial ? [...layers, { kind: 'globalpool' }] : layers }, precisions };
};

/** The graphs measured: chosen to span the cost model's features, not to look like any one model. */
export function microbenchSuite(quick = false): SuiteEntry[] {
  const fp32 = ['fp32'] as const;
  const suite: SuiteEntry[] = [
    entry('relu1', [16], [{ kind: 'relu' }], fp32),
    entry('relu2', [16], repeat(2, [{ kind: 'relu' }]), fp32),
    entry('relu4', [16], repeat(4, [{ kind: 'relu' }]), fp32),
    entry('flatten', [4, 7, 7], [{ kind: 'flatten' }], fp32),
    entry('conv8@28', [8, 28, 28], conv(8)),
    entry('conv8x2@28', [8, 28, 28], repeat(2, conv(8))),
    entry('conv1to8@28', [1, 28, 28], conv(8)),
    entry('conv16/2@28', [8, 28, 28], conv(16, 2)),
    entry('conv8@28+pool', [8, 28, 28], [...conv(8), { kind: 'maxpool', size: 2 }]),
    entry('dense64', [64], dense(64)),
    entry('dense64x3', [64], repeat(3, dense(64))),
    entry('flatten+dense32', [16, 7, 7], [{ kind: 'flatten' }, ...dense(32)]),
  ];
  if (quick) return suite;
  suite.push(
    entry('relu8', [16], repeat(8, [{ kind: 'relu' }]), fp32),
    entry('pool8@28', [8, 28, 28], [{ kind: 'maxpool', size: 2 }], fp32),
    entry('pool64@14', [64, 14, 14], [{ kind: 'maxpool', size: 2 }], fp32),
    entry('conv4@28', [4, 28, 28], conv(4)),
    entry('conv4x2@28', [4, 28, 28], repeat(2, conv(4))),
    entry('conv16@14', [16, 14, 14], conv(16)),
    entry('conv16x3@14', [16, 14, 14], repeat(3, conv(16))),
    entry('conv32@14', [32, 14, 14], conv(32)),
    entry('conv32x2@14', [32, 14, 14], repeat(2, conv(32))),
    entry('conv64@7', [64, 7, 7], conv(64)),
    entry('conv64x3@7', [64, 7, 7], repeat(3, conv(64))),
    entry('conv32to64@28', [32, 28, 28], conv(64)),
    entry('conv1to32@28', [1, 28, 28], conv(32)),
    entry('conv1to16/2@28', [1, 28, 28], conv(16, 2)),
    entry('conv32/2@14', [16, 14, 14], conv(32, 2)),
    entry('conv32@14+pool', [32, 14, 14], [...conv(32), { kind: 'maxpool', size: 2 }]),
    entry('dense256', [256], dense(256)),
    entry('dense256x2', [256], repeat(2, dense(256))),
    entry('dense1024', [1024], dense(1024)),
    entry('flatten+dense128', [64, 7, 7], [{ kind: 'flatten' }, ...dense(128)]),
    entry('dense128to10', [128], [{ kind: 'dense', units: 10 }]),
  );
  // Whole networks (seed family 1: the latency bench holds out another), so the fit sees how
  // layers add up in a real graph, not only one kind at a time.
  for (let i = 0; i < 6; i++) suite.push({ spec: randomNet(1, i), precisions: ALL });
  return suite;
}

/** Seeded normal data for a model input of per-sample dims, `count` samples. */
export function randomBatch(input: readonly number[], count: number, seed = 7): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: count * input.reduce((a, b) => a * b, 1) }, () => rng.normal());
}

/**
 * The graph of `spec` in a precision: float32 as built, fp16 by the fp16 preset, int8 by int8-static on random data.
 */
export async function netInPrecision(spec: NetSpec, precision: UnitPrecision, seed = 1): Promise<Model> {
  const model = buildNet(spec, seed);
  if (precision === 'fp32') return model;
  const bytes = writeModel(model);
  const calib: Dataset = {
    source: `random:${spec.name}`,
    count: 16,
    inputs: { input: { dtype: 'float32', dims: [16, ...spec.input], data: randomBatch(spec.input, 16, seed) } },
  };
  const out = await compressModel(bytes, precision === 'fp16' ? 'fp16' : 'int8-static', { calib });
  return loadModel(out.bytes);
}

/** A session to time with its feeds. */
export interface TimedGraph {
  readonly session: OrtSession;
  readonly feeds: Record<string, RuntimeTensor>;
  readonly times: number[];
}

/** Time every graph in interleaved rounds (round r runs each graph `runsPerRound` times), after one warm-up round. */
export async function timeInterleaved(
  graphs: readonly TimedGraph[],
  opts: { rounds: number; runsPerRound: number; now?: () => number; onRound?: (r: number) => void },
): Promise<number[]> {
  const now = opts.now ?? (() => performance.now());
  for (let r = -1; r < opts.rounds; r++) {
    for (const g of graphs) {
      for (let i = 0; i < opts.runsPerRound; i++) {
        const t0 = now();
        await g.session.run(g.feeds);
        if (r >= 0) g.times.push(now() - t0);
      }
    }
    if (r >= 0) opts.onRound?.(r + 1);
  }
  return graphs.map((g) => percentile(g.times, 50));
}

/** Where the figures were measured. */
export function hostFingerprint(threads = 1): HostFingerprint {
  const c = cpus();
  return { cpu: c[0]?.model.trim() || 'unknown', cores: Math.max(1, c.length), runtime: runtimeVersion(), threads };
}

/** Measure the suite on this host and fit the cost model's table. */
export async function measureLatencyTable(opts: MicrobenchOptions = {}): Promise<LatencyTable> {
  const precisions = opts.precisions ?? ALL;
  const batches = opts.batches ?? [1, 32];
  const progress = opts.onProgress ?? (() => {});
  const jobs = microbenchSuite(opts.quick).flatMap((e) =>
    e.precisions.filter((p) => precisions.includes(p)).map((p) => ({ spec: e.spec, precision: p })),
  );
  const built: { name: string; precision: UnitPrecision; batch: number; model: Model; graph: TimedGraph }[] = [];
  try {
    for (const [i, job] of jobs.entries()) {
      progress({
        pass: 'latency-microbench',
        done: i,
        total: jobs.length,
        what: `build ${job.spec.name} ${job.precision}`,
      });
      const model = await netInPrecision(job.spec, job.precision);
      const bytes = writeModel(model);
      for (const batch of batches) {
        // One session per batch size: a session fed alternating shapes re-plans its memory on each call.
        const session = await createOrtSession(bytes);
        const data = randomBatch(job.spec.input, batch);
        const feeds: Record<string, RuntimeTensor> = {
          input: { dtype: 'float32', dims: [batch, ...job.spec.input], data },
        };
        built.push({
          name: job.spec.name,
          precision: job.precision,
          batch,
          model,
          graph: { session, feeds, times: [] },
        });
      }
    }
    const rounds = opts.rounds ?? 5;
    const medians = await timeInterleaved(
      built.map((b) => b.graph),
      {
        rounds,
        runsPerRound: opts.runsPerRound ?? 12,
        ...(opts.now ? { now: opts.now } : {}),
        onRound: (r) =>
          progress({
            pass: 'latency-microbench',
            done: r,
            total: rounds,
            what: `timing round (${built.length} graphs)`,
          }),
      },
    );
    const rows = built.map((b) => featureRow(costUnitsOf(b.model, b.batch)));
    const fit = relativeNnls(rows, medians);
    const callMs = fit.x[0] ?? 0;
    const coefficients = coefficientsFromSolution(fit.x, fit.used);
    const samples = built.map((b, i) => ({
      name: b.name,
      batch: b.batch,
      precision: b.precision,
      measuredMs: medians[i] as number,
      predictedMs: predictHostMs({ callMs, coefficients }, costUnitsOf(b.model, b.batch)).ms,
    }));
    return {
      v: 1,
      source: 'measured',
      host: hostFingerprint(),
      measuredAt: new Date((opts.wallClock ?? Date.now)()).toISOString(),
      callMs,
      coefficients,
      fitMape: mape(
        samples.map((s) => s.predictedMs),
        samples.map((s) => s.measuredMs),
      ),
      samples,
    };
  } finally {
    const sessions = new Set(built.map((b) => b.graph.session));
    for (const s of sessions) await s.release();
  }
}

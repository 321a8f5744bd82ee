/**
 * `npm run bench:distill [-- --epochs 10 --seeds 1,2,3 --students a,b]`: the teacher
 * (mnist-cnn-large) against students of ≤ 1/8 of its parameters, each trained with knowledge
 * distillation and plainly on labels with the same seeds, augmentation and schedule (mean and
 * spread over the seeds, paired differences), then post-training int8 against QAT on each
 * distilled student, and latency at batch 1 and 32 (interleaved runs, medians, one thread)
 * against the empty-call cost. Prints tables and writes bench/results/distill.json.
 * Heavy: run under `flock /tmp/edgefleet-heavy.lock`.
 */
import { loadavg } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compressModel } from '@edgefleet/compress/compress-model';
import { openSession, type CompressSession, type FeedTensor } from '@edgefleet/compress/calibration/session';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { emptyCallModel } from '@edgefleet/compress/eval/call-cost';
import { loadModel, writeModel, type Model } from '@edgefleet/compress/ir/index';
import {
  buildStudent,
  createTeacher,
  fitGraph,
  importTrainable,
  parameterCountOf,
  prepareQat,
  type Teacher,
} from '@edgefleet/compress/train/index';

const HELP = `usage: npm run bench:distill -- [--epochs N] [--qat-epochs N] [--seeds 1,2,3] [--students SPEC,SPEC]

Students default to three of ≤ 1/8 of mnist-cnn-large's parameters: strided (arch:c16s2,c32s2,d64),
narrowed (width:0.25) and an MLP (mlp:128). Training: Adam 0.001 cosine, batch 64, augmentation
shift 2 / rotate 10° / scale 10%, KD at T=4, alpha 0.9; plain = labels only, same everything else.`;

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '10' },
    'qat-epochs': { type: 'string', default: '2' },
    seeds: { type: 'string', default: '1,2,3' },
    students: { type: 'string', default: 'arch:c16s2,c32s2,d64;width:0.25;mlp:128' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const EPOCHS = Number(values.epochs);
const QAT_EPOCHS = Number(values['qat-epochs']);
const SEEDS = values.seeds.split(',').map(Number);
const STUDENTS = values.students.split(';');
const AUGMENT = { shift: 2, rotate: 10, scale: 0.1 };
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const loadAtStart = load();

const teacherModel = loadModel(new Uint8Array(readFileSync('models/zoo/mnist-cnn-large.onnx')));
const train = loadMnist({ split: 'train', layout: 'image' });
const test = loadMnist({ split: 'test', layout: 'image' });
const calib = loadMnist({ split: 'calib', layout: 'image', limit: 256 });

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: readonly number[]): number =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1));
const pct = (v: number): number => +(v * 100).toFixed(2);

function feed(n: number): Record<string, FeedTensor> {
  const x = test.inputs.input?.data as Float32Array;
  return { input: { dtype: 'float32', dims: [n, 1, 28, 28], data: x.subarray(0, n * 784) } };
}

async function top1(bytes: Uint8Array): Promise<number> {
  const s = await openSession(bytes);
  const out = Object.values(await s.run(feed(test.count)))[0]?.data as Float32Array;
  await s.release();
  const labels = test.labels as Int32Array;
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if ((out[i * 10 + c] as number) > (out[i * 10 + best] as number)) best = c;
    if (best === labels[i]) ok++;
  }
  return ok / labels.length;
}

/**
 * The teacher's outputs per training step, computed once per seed: every student of a seed sees
 * the same shuffled, augmented batches, so the teacher's answer to call i is the same too.
 */
function cachedTeacher(inner: Teacher): Teacher & { calls: number; hits: number; rewind(): void } {
  const cache: Array<{ probe: number; out: Awaited<ReturnType<Teacher['run']>> }> = [];
  let i = 0;
  const t = {
    ...inner,
    calls: 0,
    hits: 0,
    async run(batch: Float32Array, dims: readonly number[]) {
      const probe = batch.length + (batch[batch.length >> 1] ?? 0) + (batch[batch.length - 1] ?? 0);
      const hit = cache[i];
      t.calls++;
      i++;
      if (hit && hit.probe === probe) {
        t.hits++;
        return hit.out;
      }
      const out = await inner.run(batch, dims);
      cache[i - 1] = { probe, out };
      return out;
    },
    rewind() {
      i = 0;
    },
  };
  return t;
}

interface Run {
  student: string;
  seed: number;
  mode: 'kd' | 'plain';
  top1: number;
  epochMs: number;
  model: Model;
}

async function trainOnce(spec: string, seed: number, teacher: Teacher | undefined): Promise<Run> {
  const { model } = buildStudent(teacherModel, spec, seed);
  const g = await importTrainable(model);
  try {
    const r = await fitGraph(g, train, {
      seed,
      epochs: EPOCHS,
      augment: AUGMENT,
      ...(teacher ? { teacher, temperature: 4, alpha: 0.9 } : {}),
    });
    const out = g.exportModel();
    return {
      student: spec,
      seed,
      mode: teacher ? 'kd' : 'plain',
      top1: await top1(writeModel(out)),
      epochMs: median(r.epochs.map((e) => e.ms)),
      model: out,
    };
  } finally {
    g.dispose();
  }
}

async function qatOf(
  run: Run,
  teacher: Teacher,
): Promise<{ ptqAll: number; ptqPreset: number; qat: number; qdq: Uint8Array }> {
  const floatBytes = writeModel(run.model);
  const ptqAll = await compressModel(floatBytes, [{ pass: 'int8-static', options: { fidelity: 0 } }], { calib });
  const ptqPreset = await compressModel(floatBytes, 'int8-static', { calib });
  const g = await importTrainable(run.model);
  try {
    const setup = await prepareQat(g, calib);
    await fitGraph(g, train, {
      seed: run.seed + 1,
      epochs: QAT_EPOCHS,
      learningRate: 0.0001,
      augment: AUGMENT,
      teacher,
      quant: setup.hooks,
    });
    const qdq = writeModel(await setup.exportQdq());
    return { ptqAll: await top1(ptqAll.bytes), ptqPreset: await top1(ptqPreset.bytes), qat: await top1(qdq), qdq };
  } finally {
    g.dispose();
  }
}

/** Interleaved medians (µs per run) at batch 1 and batch 32 of several sessions: 15 rounds, each session in turn. */
async function latencies(sessions: ReadonlyArray<[string, CompressSession]>): Promise<Map<string, [number, number]>> {
  const out = new Map<string, [number, number]>(sessions.map(([k]) => [k, [NaN, NaN]]));
  for (const [slot, n, runs] of [
    [0, 1, 40],
    [1, 32, 6],
  ] as const) {
    const f = feed(n);
    for (const [, s] of sessions) for (let w = 0; w < 10; w++) await s.run(f);
    const times = new Map<string, number[]>(sessions.map(([k]) => [k, []]));
    for (let round = 0; round < 15; round++)
      for (const [k, s] of sessions) {
        const t0 = performance.now();
        for (let r = 0; r < runs; r++) await s.run(f);
        times.get(k)?.push(((performance.now() - t0) * 1000) / runs);
      }
    for (const [k, ts] of times) (out.get(k) as [number, number])[slot] = median(ts);
  }
  return out;
}

const teacherBytes = writeModel(teacherModel);
const teacherParams = parameterCountOf(teacherModel);
const teacherTop1 = await top1(teacherBytes);
console.log(
  `teacher mnist-cnn-large: ${teacherParams} parameters, test top-1 ${pct(teacherTop1)}% (load ${loadAtStart})`,
);
const runs: Run[] = [];
for (const seed of SEEDS) {
  const teacher = cachedTeacher(await createTeacher(teacherModel));
  for (const spec of STUDENTS) {
    for (const kd of [true, false]) {
      teacher.rewind();
      const r = await trainOnce(spec, seed, kd ? teacher : undefined);
      runs.push(r);
      console.log(`[${spec} seed ${seed} ${r.mode}] top-1 ${pct(r.top1)}%, ${(r.epochMs / 1000).toFixed(1)} s/epoch`);
    }
  }
  console.log(`seed ${seed}: teacher called ${teacher.calls} times, ${teacher.hits} answered from its cache`);
  await teacher.release();
}

const studentRows = STUDENTS.map((spec) => {
  const of = (mode: 'kd' | 'plain') => runs.filter((r) => r.student === spec && r.mode === mode);
  const [kd, plain] = [of('kd'), of('plain')];
  const diffs = kd.map((r, i) => r.top1 - (plain[i]?.top1 ?? NaN));
  const params = parameterCountOf(kd[0]?.model ?? teacherModel);
  return {
    student: spec,
    params,
    fractionOfTeacher: `1/${(teacherParams / params).toFixed(1)}`,
    kdMean: pct(mean(kd.map((r) => r.top1))),
    kdStd: pct(std(kd.map((r) => r.top1))),
    kdRange: `${pct(Math.min(...kd.map((r) => r.top1)))}–${pct(Math.max(...kd.map((r) => r.top1)))}`,
    plainMean: pct(mean(plain.map((r) => r.top1))),
    plainStd: pct(std(plain.map((r) => r.top1))),
    plainRange: `${pct(Math.min(...plain.map((r) => r.top1)))}–${pct(Math.max(...plain.map((r) => r.top1)))}`,
    kdMinusPlain: pct(mean(diffs)),
    kdBetterInSeeds: `${diffs.filter((d) => d > 0).length}/${diffs.length}`,
    teacherMinusKd: pct(teacherTop1 - mean(kd.map((r) => r.top1))),
    kdEpochS: +(median(kd.map((r) => r.epochMs)) / 1000).toFixed(1),
    plainEpochS: +(median(plain.map((r) => r.epochMs)) / 1000).toFixed(1),
  };
});
console.table(studentRows);

const teacherForQat = await createTeacher(teacherModel);
const quantRows = [];
const sessions: Array<[string, CompressSession]> = [
  ['empty call', await openSession(emptyCallModel('input', [1, 1, 28, 28]))],
  ['teacher fp32', await openSession(teacherBytes)],
];
for (const spec of STUDENTS) {
  const run = runs.find((r) => r.student === spec && r.mode === 'kd' && r.seed === SEEDS[0]);
  if (!run) continue;
  const q = await qatOf(run, teacherForQat);
  quantRows.push({
    student: spec,
    seed: run.seed,
    fp32: pct(run.top1),
    ptqAllInt8: pct(q.ptqAll),
    ptqPreset: pct(q.ptqPreset),
    qat: pct(q.qat),
    ptqLoss: pct(run.top1 - q.ptqAll),
    qatLoss: pct(run.top1 - q.qat),
  });
  sessions.push(
    [`${spec} fp32`, await openSession(writeModel(run.model))],
    [`${spec} int8 (QAT)`, await openSession(q.qdq)],
  );
}
await teacherForQat.release();
console.table(quantRows);
const lat = await latencies(sessions);
const latencyRows = [...lat].map(([model, [b1, b32]]) => ({
  model,
  batch1Us: +b1.toFixed(1),
  batch32Us: +b32.toFixed(1),
  vsEmptyCall: +(b1 / (lat.get('empty call')?.[0] ?? NaN)).toFixed(1),
  speedupB1VsTeacher: +((lat.get('teacher fp32')?.[0] ?? NaN) / b1).toFixed(2),
  speedupB32VsTeacher: +((lat.get('teacher fp32')?.[1] ?? NaN) / b32).toFixed(2),
}));
console.table(latencyRows);
for (const [, s] of sessions) await s.release();

mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/distill.json',
  `${JSON.stringify(
    {
      when: new Date().toISOString(),
      load: { start: loadAtStart, end: load() },
      settings: { epochs: EPOCHS, qatEpochs: QAT_EPOCHS, seeds: SEEDS, augment: AUGMENT, temperature: 4, alpha: 0.9 },
      teacher: { params: teacherParams, bytes: teacherBytes.length, top1: teacherTop1 },
      students: studentRows,
      runs: runs.map(({ model: _m, ...r }) => r),
      quantization: quantRows,
      latency: latencyRows,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote bench/results/distill.json (load ${loadAtStart} → ${load()})`);

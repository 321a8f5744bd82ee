import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { EdgefleetError } from '@edgefleet/shared';
import {
  loadDataSource,
  loadModel,
  modelInputsOf,
  readModelBytes,
  sha256Hex,
  writeBytesAtomic,
  writeModel,
  type Dataset,
  type Model,
} from '@edgefleet/compress';
import type { TrainModelOptions, TrainModelResult, TrainProgress } from '@edgefleet/compress/train/index';

/** The training module, imported on first use: TensorFlow.js takes seconds to load. */
const training = () => import('@edgefleet/compress/train/index');

/**
 * `edgefleet distill TEACHER -o OUT --student SPEC` and `edgefleet finetune MODEL -o OUT`: the
 * command-line face of `trainModel`. Both print an epoch line (loss, accuracies, time) and, on
 * a terminal, a live step line; Ctrl-C stops after the current step and writes nothing (a
 * second Ctrl-C exits at once).
 */

function num(min: number, max: number, integer = false): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(`expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`);
    return n;
  };
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

interface CommonFlags {
  output: string;
  data: string;
  val?: string;
  epochs: number;
  seed: number;
  batch: number;
  lr?: number;
  temperature: number;
  alpha: number;
  labels: boolean;
  feature: string[];
  augment?: string;
  dropout: string[];
  qat?: boolean;
  qatEpochs: number;
  qatLr: number;
  calib?: string;
  report?: string;
  json?: boolean;
}

function addCommonOptions(cmd: Command, defaults: { epochs: number }): Command {
  return cmd
    .requiredOption('-o, --output <file>', 'the .onnx file to write (through a temp file and a rename)')
    .option(
      '--data <spec>',
      'training data: mnist[:train][:N], a sample directory (labels optional with a teacher)',
      'mnist:train',
    )
    .option('--val <spec>', 'labelled data for per-epoch accuracy (default mnist:calib for mnist data)')
    .option('--epochs <n>', 'epochs of the float phase (0 with --qat: QAT only)', num(0, 10000, true), defaults.epochs)
    .option('--seed <n>', 'seed of init, shuffles, augmentation and dropout', num(0, 2 ** 31, true), 1)
    .option('--batch <n>', 'samples per step', num(1, 4096, true), 64)
    .option('--lr <rate>', 'Adam learning rate (cosine-decayed to 0)', num(1e-7, 1))
    .option('--temperature <T>', 'softmax temperature of the soft targets', num(0.1, 100), 4)
    .option('--alpha <a>', 'weight of the soft targets against the labels (0..1)', num(0, 1), 0.9)
    .option('--no-labels', 'ignore the labels: pure distillation on an unlabelled transfer set')
    .option('--feature <student=teacher[:weight]>', 'match an intermediate tensor (repeatable)', collect, [])
    .option('--augment <spec>', 'random augmentation of image inputs, e.g. shift:2,rotate:10,scale:0.1')
    .option('--dropout <value=rate>', 'dropout on a value while training, e.g. l3.out=0.25 (repeatable)', collect, [])
    .option('--qat', "then quantization-aware training; writes int8-static's QDQ model")
    .option('--qat-epochs <n>', 'epochs of the QAT phase', num(1, 1000, true), 2)
    .option('--qat-lr <rate>', 'learning rate of the QAT phase', num(1e-7, 1), 0.0001)
    .option(
      '--calib <spec>',
      'calibration data for QAT ranges (default mnist:calib:256 for mnist, else 256 training samples)',
    )
    .option('--report <file>', 'also write the training report as JSON')
    .option('--json', 'print the report as JSON instead of a summary');
}

function parseFeatures(values: readonly string[]): NonNullable<TrainModelOptions['features']> {
  return values.map((v) => {
    const m = /^([^=]+)=([^:]+)(?::([0-9.eE+-]+))?$/.exec(v);
    const weight = m?.[3] === undefined ? 1 : Number(m[3]);
    if (!m?.[1] || !m[2] || !Number.isFinite(weight) || weight <= 0)
      throw new EdgefleetError(
        'EF_ERR_TRAIN_OPTIONS',
        `--feature "${v}" is not STUDENT=TEACHER[:WEIGHT], e.g. l0.relu=l0.relu:0.5`,
        {},
      );
    return { student: m[1], teacher: m[2], weight };
  });
}

function parseDropout(values: readonly string[]): Record<string, number> | undefined {
  if (values.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([^=]+)=([0-9.]+)$/.exec(v);
    const rate = Number(m?.[2]);
    if (!m?.[1] || !(rate >= 0 && rate < 1))
      throw new EdgefleetError('EF_ERR_TRAIN_OPTIONS', `--dropout "${v}" is not VALUE=RATE with 0 ≤ RATE < 1`, {});
    out[m[1]] = rate;
  }
  return out;
}

function progressPrinter(tty: boolean): (p: TrainProgress & { phase: 'float' | 'qat' }) => void {
  const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(2)}%`);
  return (p) => {
    const tag = p.phase === 'qat' ? 'qat ' : '';
    if (p.kind === 'step') {
      if (tty)
        process.stderr.write(`\r${tag}epoch ${p.epoch} step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)}`.padEnd(60));
      return;
    }
    if (tty) process.stderr.write(`\r${''.padEnd(60)}\r`);
    const acc = [
      p.trainAccuracy === undefined ? '' : `, train top-1 ${pct(p.trainAccuracy)}`,
      p.validationAccuracy === undefined ? '' : `, validation top-1 ${pct(p.validationAccuracy)}`,
    ].join('');
    process.stderr.write(
      `${tag}epoch ${p.epoch}/${p.epochs}: loss ${p.loss.toFixed(4)}${acc} (${(p.ms / 1000).toFixed(1)} s)\n`,
    );
  };
}

function dataFor(spec: string, model: Model, split: 'train' | 'calib'): Dataset {
  return loadDataSource(spec, modelInputsOf(model), { defaultSplit: split });
}

/** Options shared by both commands, from flags; data is loaded for `student`'s input. */
async function trainOptions(flags: CommonFlags, student: Model, lrDefault: number): Promise<TrainModelOptions> {
  const { parseAugment } = await training();
  if (flags.epochs === 0 && !flags.qat)
    throw new EdgefleetError('EF_ERR_TRAIN_OPTIONS', '--epochs 0 trains nothing without --qat', {});
  const data = dataFor(flags.data, student, 'train');
  const mnist = flags.data.startsWith('mnist');
  const val = flags.val ?? (mnist ? 'mnist:calib' : undefined);
  const calib = flags.calib ?? (mnist ? 'mnist:calib:256' : undefined);
  const dropout = parseDropout(flags.dropout);
  return {
    seed: flags.seed,
    data,
    epochs: flags.epochs,
    batchSize: flags.batch,
    learningRate: flags.lr ?? lrDefault,
    temperature: flags.temperature,
    alpha: flags.alpha,
    ...(flags.labels ? {} : { useLabels: false }),
    ...(flags.feature.length > 0 ? { features: parseFeatures(flags.feature) } : {}),
    ...(flags.augment ? { augment: parseAugment(flags.augment) } : {}),
    ...(dropout ? { dropout } : {}),
    ...(val ? { validation: dataFor(val, student, 'calib') } : {}),
    ...(flags.qat
      ? {
          qat: {
            epochs: flags.qatEpochs,
            learningRate: flags.qatLr,
            ...(calib ? { calib: dataFor(calib, student, 'calib') } : {}),
          },
        }
      : {}),
  };
}

/** Run training with Ctrl-C wired to an AbortSignal, then write and summarise. */
async function runTraining(
  flags: CommonFlags,
  what: string,
  run: (extra: Pick<TrainModelOptions, 'signal' | 'onProgress'>) => Promise<TrainModelResult>,
): Promise<void> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping after this step (Ctrl-C again to quit at once)…\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  let result: TrainModelResult;
  try {
    result = await run({ signal: controller.signal, onProgress: progressPrinter(process.stderr.isTTY === true) });
  } finally {
    process.off('SIGINT', onSigint);
  }
  const bytes = writeModel(result.model);
  await writeBytesAtomic(flags.output, bytes);
  const report = { ...result.report, output: flags.output, sha256: sha256Hex(bytes), bytes: bytes.length };
  if (flags.report)
    await writeBytesAtomic(flags.report, new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const r = result.report;
  const last = (r.qat?.epochs ?? r.epochs).at(-1);
  const ratio = r.teacherParams
    ? ` (1/${(r.teacherParams / r.studentParams).toFixed(1)} of the teacher's ` +
      `${r.teacherParams.toLocaleString('en-US')})`
    : '';
  process.stdout.write(
    [
      `${what}: ${r.studentParams.toLocaleString('en-US')} parameters${ratio}, ${r.epochs.length} ` +
        `epoch(s)${r.qat ? ` + ${r.qat.epochs.length} QAT epoch(s), ${r.qat.quantizedNodes} layer(s) int8` : ''}, ` +
        `seed ${r.seed}, ${(r.trainMs / 1000).toFixed(1)} s`,
      last?.validationAccuracy === undefined
        ? ''
        : `validation top-1 ${(last.validationAccuracy * 100).toFixed(2)}% after the last epoch`,
      `wrote ${flags.output} (${bytes.length} bytes, sha256 ${report.sha256})`,
    ]
      .filter((l) => l !== '')
      .join('\n')
      .concat('\n'),
  );
}

async function readModel(path: string): Promise<Model> {
  return loadModel(await readModelBytes(path));
}

/** `edgefleet distill TEACHER.onnx -o STUDENT.onnx --student SPEC`. */
export function distillCommand(): Command {
  return addCommonOptions(
    new Command('distill')
      .description(
        'Train a smaller student against a teacher (knowledge distillation: soft targets at --temperature with ' +
          'weight --alpha, the teacher run by onnxruntime on every augmented batch), optionally followed by ' +
          'quantization-aware training (--qat). The student is built from the teacher (--student width:0.25 | ' +
          'shallow:1 | strided | mlp:128 | arch:c16s2,c32s2,d64, joined with +) or is any ONNX model of the ' +
          'trainable op set (--student pruned.onnx).',
      )
      .argument('<teacher>', 'the teacher .onnx (any model onnxruntime runs)')
      .requiredOption('--student <spec|file.onnx>', 'student spec or ONNX file')
      .option('--no-kd', 'train the student on labels only (the plain baseline)'),
    { epochs: 10 },
  )
    .addHelpText(
      'after',
      '\nExamples:\n  edgefleet distill models/zoo/mnist-cnn-large.onnx -o student.onnx --student width:0.25 ' +
        '--epochs 10 --augment shift:2\n  edgefleet distill models/zoo/mnist-cnn-large.onnx -o s8.onnx --student ' +
        'arch:c16s2,c32s2,d64 --qat\n  edgefleet distill big.onnx -o s.onnx --student pruned.onnx --no-labels ' +
        '--data ./unlabelled-samples',
    )
    .action(async (teacherPath: string, flags: CommonFlags & { student: string; kd: boolean }) => {
      const { buildStudent, trainModel } = await training();
      const teacher = await readModel(teacherPath);
      const student =
        flags.student.endsWith('.onnx') || existsSync(flags.student)
          ? await readModel(flags.student)
          : buildStudent(teacher, flags.student, flags.seed).model;
      const opts = await trainOptions(flags, student, 0.001);
      await runTraining(flags, `student ${flags.student}`, (extra) =>
        trainModel(student, { ...opts, ...extra, ...(flags.kd ? { teacher } : {}) }),
      );
    });
}

/** `edgefleet finetune MODEL.onnx -o OUT.onnx`: more training of a model, e.g. after pruning. */
export function finetuneCommand(): Command {
  return addCommonOptions(
    new Command('finetune')
      .description(
        'Fine-tune a model of the trainable op set on labelled data, or distil it from --teacher (e.g. the unpruned ' +
          'original after prune-structured), optionally followed by quantization-aware training (--qat; --epochs 0 ' +
          '--qat for QAT alone).',
      )
      .argument('<model>', 'the .onnx model to train further')
      .option('--teacher <file>', 'distil from this model (any model onnxruntime runs)'),
    { epochs: 2 },
  )
    .addHelpText(
      'after',
      '\nExamples:\n  edgefleet finetune pruned.onnx -o tuned.onnx --teacher models/zoo/mnist-cnn.onnx --epochs 3\n  ' +
        'edgefleet finetune student.onnx -o student-int8.onnx --epochs 0 --qat --qat-epochs 2',
    )
    .action(async (modelPath: string, flags: CommonFlags & { teacher?: string }) => {
      const { trainModel } = await training();
      const model = await readModel(modelPath);
      const teacher = flags.teacher ? await readModel(flags.teacher) : undefined;
      const opts = await trainOptions(flags, model, 0.0001);
      await runTraining(flags, `fine-tuned ${modelPath}`, (extra) =>
        trainModel(model, { ...opts, ...extra, ...(teacher ? { teacher } : {}) }),
      );
    });
}

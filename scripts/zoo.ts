/**
 * `npm run zoo [-- --only mnist-mlp] [--out models/zoo]`: retrain the zoo teachers from their
 * seeds (recipes in compress/src/train/zoo.ts), export them through the IR, check the ONNX
 * files against TensorFlow.js with onnxruntime, and write `<name>.onnx` + `<name>.json`.
 * Fails (exit 1) when a model misses its accuracy floor, so a bad retrain is never written.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureCallCost } from '@edgefleet/compress/eval/call-cost';
import { writeBytesAtomic } from '@edgefleet/compress/ir/index';
import { buildZooModel, ZOO_RECIPES, type ZooName } from '@edgefleet/compress/train/zoo';

const HELP = `usage: npm run zoo -- [--only NAME]... [--out DIR]

Retrains the zoo teachers from their seeds and writes DIR/<name>.onnx and DIR/<name>.json
(default DIR models/zoo). A model under its accuracy floor, or whose ONNX export does not
reproduce TensorFlow.js, is not written and the exit code is 1. Heavy: run it under
flock /tmp/edgefleet-heavy.lock on a shared machine (mnist-cnn-large trains for ~40-60 min on
2 busy cores). mnist-cnn-large-student is distilled from the mnist-cnn-large in DIR when there
is one, else from the committed one.

  --only NAME   one of ${Object.keys(ZOO_RECIPES).join(', ')} (repeatable; default all)
  --out DIR     where to write (default models/zoo)
  --keep-rejected  write a model that misses its floor as DIR/<name>.rejected.onnx (for inspection)
  -h, --help    this text`;

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    out: { type: 'string', default: 'models/zoo' },
    'keep-rejected': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const names = (values.only ?? Object.keys(ZOO_RECIPES)) as ZooName[];
for (const n of names)
  if (!(n in ZOO_RECIPES)) {
    console.error(`unknown zoo model ${n}; known: ${Object.keys(ZOO_RECIPES).join(', ')}`);
    process.exit(2);
  }

let failed = false;
await mkdir(values.out, { recursive: true });
for (const name of names) {
  console.log(`[zoo] training ${name} …`);
  const recipe = ZOO_RECIPES[name];
  // A distilled student learns from the teacher just written to --out, else the committed one.
  const teacherDir =
    recipe.engine === 'distill' && existsSync(join(values.out, `${recipe.teacher}.onnx`)) ? values.out : 'models/zoo';
  const { bytes, card } = await buildZooModel(
    name,
    (s) => {
      const train = s.trainAccuracy === undefined ? '' : `, train top-1 ${(s.trainAccuracy * 100).toFixed(2)}%`;
      console.log(
        `[zoo] ${name} epoch ${s.epoch}: loss ${s.meanLoss.toFixed(4)}${train} (${(s.ms / 1000).toFixed(1)} s)`,
      );
    },
    teacherDir,
  );
  const floor = ZOO_RECIPES[name].floor;
  console.log(
    `[zoo] ${name}: test top-1 ${(card.accuracy.top1 * 100).toFixed(2)}% (floor ${floor * 100}%), ${card.bytes} ` +
      `bytes, export max |Δ| ${card.exportMaxAbsDiff.toExponential(2)}, trained in ` +
      `${(card.training.trainMs / 1000).toFixed(1)} s`,
  );
  if (card.distillation)
    console.log(
      `[zoo] ${name}: ${card.distillation.studentParams} parameters ` +
        `(1/${(card.distillation.teacherParams / card.distillation.studentParams).toFixed(1)} of ` +
        `${card.distillation.teacher}), teacher top-1 ${(card.distillation.teacherTop1 * 100).toFixed(2)}%`,
    );
  // Latency is this machine's, under its load now: printed, not stored (npm run bench:distill measures it properly).
  const cost = await measureCallCost(bytes, card.input.name, card.input.dims.slice(1) as number[]);
  console.log(
    `[zoo] ${name}: batch-1 fp32 ${cost.modelUs.toFixed(1)} µs vs empty call ${cost.emptyCallUs.toFixed(1)} µs ` +
      `(${cost.ratio.toFixed(1)}×)`,
  );
  if (card.accuracy.top1 < floor || card.exportMaxAbsDiff > 1e-3) {
    console.error(`[zoo] ${name} misses its floor or does not reproduce TensorFlow.js; not written`);
    if (values['keep-rejected']) await writeBytesAtomic(join(values.out, `${name}.rejected.onnx`), bytes);
    failed = true;
    continue;
  }
  await writeBytesAtomic(join(values.out, card.file), bytes);
  await writeFile(join(values.out, `${name}.json`), `${JSON.stringify(card, null, 2)}\n`);
}
process.exitCode = failed ? 1 : 0;

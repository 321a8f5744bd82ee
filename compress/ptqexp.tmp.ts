import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { loadMnist } from './src/data/mnist.js';
import { loadModel, writeModel } from './src/ir/index.js';
import { importTrainable } from './src/train/graph/trainable.js';
import { fitGraph } from './src/train/fit.js';
import { buildStudent } from './src/train/student-spec.js';
import { compressModel } from './src/compress-model.js';
import { ortLogits } from './src/train/zoo.js';
import { top1Accuracy } from './src/train/trainer.js';
const spec = process.argv[2] ?? 'arch:c4s2,c8s2,d16';
const epochs = Number(process.argv[3] ?? 3);
const file = `/tmp/ef15/stu-${spec.replace(/[^a-z0-9]/gi, '_')}-${epochs}.onnx`;
const test = loadMnist({ split: 'test', layout: 'image' });
let fb: Uint8Array;
if (existsSync(file)) fb = new Uint8Array(readFileSync(file));
else {
  const teacherModel = loadModel(new Uint8Array(readFileSync('../models/zoo/mnist-cnn.onnx')));
  const { model } = buildStudent(teacherModel, spec, 1);
  const g = await importTrainable(model);
  await fitGraph(g, loadMnist({ split: 'train', layout: 'image' }), { seed: 1, epochs, augment: { shift: 1 } });
  fb = writeModel(g.exportModel()); writeFileSync(file, fb);
}
const acc = async (b: Uint8Array) => top1Accuracy(await ortLogits(b, test), test.labels as Int32Array);
const out = [`${spec} float ${await acc(fb)}`];
for (const n of [16, 64, 256]) for (const method of ['percentile', 'minmax'] as const) {
  const calib = loadMnist({ split: 'calib', layout: 'image', limit: n });
  const q = await compressModel(fb, [{ pass: 'int8-static', options: { fidelity: 0, method } }], { calib });
  out.push(`calib ${n} ${method}: ${await acc(q.bytes)}`);
}
console.log(out.join(' | '));

import { readFileSync, readdirSync } from 'node:fs';
import { loadMnist } from './src/data/mnist.js';
import { loadModel, writeModel, tensorValueInfo } from './src/ir/index.js';
import { compressModel } from './src/compress-model.js';
import { createOrtSession } from './src/runtime/ort.js';
import { top1Accuracy } from './src/train/trainer.js';
const test = loadMnist({ split: 'test', layout: 'image' });
const calib = loadMnist({ split: 'calib', layout: 'image', limit: 256 });
async function acc(b: Uint8Array, out: string) { const s = await createOrtSession(b); const r = await s.run({ input: { dtype: 'float32', dims: [2000, 1, 28, 28], data: test.inputs.input!.data as Float32Array } }); await s.release(); return top1Accuracy(r[out]!.data as Float32Array, test.labels!); }
for (const f of readdirSync('/tmp/ef15').filter((f) => f.startsWith('stu-'))) {
  const m = loadModel(new Uint8Array(readFileSync(`/tmp/ef15/${f}`)));
  m.graph.outputs = [tensorValueInfo('probs', 'float32', ['N', 10])];
  m.graph.addNode({ opType: 'Softmax', inputs: ['logits'], outputs: ['probs'], name: 'softmax' });
  const fb = writeModel(m);
  const q = await compressModel(fb, [{ pass: 'int8-static', options: { fidelity: 0 } }], { calib });
  const qp = await compressModel(fb, 'int8-static', { calib });
  console.log(f, 'float', await acc(fb, 'probs'), 'ptq-all', await acc(q.bytes, 'probs'), 'preset', await acc(qp.bytes, 'probs'), qp.report.passes.at(-1)?.summary.slice(-120));
}

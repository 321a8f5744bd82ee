/**
 * ONNX upload fuzz over the admin API (issue 18 suite): seeded bit flips and truncations of
 * a real model, random bytes, and the hostile cases of the IR tests (shape bombs, cycles,
 * unknown domains and dtypes, external data paths…) plus an unknown operator. Found: never a
 * 5xx, and the models folder holds only whole files whose bytes hash to their name, one per
 * stored model: no partial or temporary file is left by a refused upload.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { writeModel } from '@edgefleet/compress/ir/index';
import { sha256Hex } from '@edgefleet/shared';
import { buildHostileCases, buildMlp } from '../fixtures/ir-models.js';
import { prng } from '../helpers/fuzz.js';
import { startApi } from '../helpers/api.js';

const MLP = readFileSync(new URL('../../models/zoo/mnist-mlp.onnx', import.meta.url));
const octet = { 'content-type': 'application/octet-stream' };

function cases(): Array<[string, Uint8Array]> {
  const rand = prng(1818);
  const out: Array<[string, Uint8Array]> = Object.entries(buildHostileCases()).map(([name, c]) => [name, c.bytes]);
  const unknownOp = buildMlp();
  const relu = unknownOp.graph.nodes.find((n) => n.opType === 'Relu');
  if (relu) relu.opType = 'NoSuchOperator';
  out.push(['unknown-op', writeModel(unknownOp)]);
  for (let i = 0; i < 120; i += 1) {
    const bytes = Buffer.from(MLP);
    // A third anywhere (mostly weights, which still load), the rest in the structure: the
    // graph's nodes lead the file and its inputs and outputs end it.
    const region = i % 3 === 0 ? [0, bytes.length] : i % 3 === 1 ? [0, 512] : [bytes.length - 512, bytes.length];
    const [from, to] = region as [number, number];
    for (let f = 0, n = 1 + Math.floor(rand() * 8); f < n; f += 1) {
      const at = from + Math.floor(rand() * (to - from));
      bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(rand() * 8));
    }
    out.push(['bit-flips', bytes]);
  }
  for (let i = 0; i < 40; i += 1) out.push(['truncated', MLP.subarray(0, Math.floor(rand() * MLP.length))]);
  for (let i = 0; i < 20; i += 1)
    out.push([
      'random-bytes',
      Buffer.from(Array.from({ length: Math.floor(rand() * 8192) }, () => (rand() * 256) | 0)),
    ]);
  return out;
}

t.test('hostile uploads: never a 5xx, never a partial file', async (t) => {
  const { call, admin, server } = await startApi(t, { 'auth.apiBurst': 1000 });
  const outcomes = new Map<string, number>();
  const serverErrors: string[] = [];
  let n = 0;
  for (const [kind, bytes] of cases()) {
    n += 1;
    const res = await call('POST', `/v1/models?name=fuzz-${n}&eval=random:4`, admin, Buffer.from(bytes), octet);
    const code = res.status < 300 ? String(res.status) : String(res.body['code']);
    outcomes.set(`${kind}:${code}`, (outcomes.get(`${kind}:${code}`) ?? 0) + 1);
    if (res.status >= 500) serverErrors.push(`${kind} #${n}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
  }
  t.same(serverErrors, [], 'no upload answered with a 5xx');
  const dir = join(server.config.dataDir, 'models');
  const files = readdirSync(dir);
  const stored = new Set((await server.repos().models.list()).map((m) => m.sha256));
  const strays = files.filter((f) => {
    const sha = f.replace(/\.onnx$/, '');
    return !stored.has(sha) || sha256Hex(readFileSync(join(dir, f))) !== sha;
  });
  t.same(strays, [], 'every file in models/ is a whole, stored model (no partial or temporary file)');
  t.equal(files.length, stored.size, 'one file per stored model');
  t.comment(
    `tried: ${n} uploads; found: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}; ` +
      `${stored.size} stored, ${serverErrors.length} 5xx, ${strays.length} stray files`,
  );
});

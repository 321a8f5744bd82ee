/**
 * Stored artifacts and models are checked against their digest where it matters (issue 18,
 * finding 7), on real files, a real SQLite store and the real HTTP artifact route:
 *   - `put` hashes what is on disk: an intact file is left alone, a missing one written, a
 *     damaged one rewritten from the bytes offered (re-adding repairs);
 *   - `bytes` (what the chunk server and the HTTP route serve) refuses a damaged file;
 *   - re-adding a model whose file was damaged or deleted repairs it.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { openSqliteStore } from '@edgefleet/server';
import { createArtifactStore, startHttpArtifactServer, type PutOutcome } from '@edgefleet/server/deploy/index';
import { addModel, createModelService } from '@edgefleet/server/plan/index';
import { sha256Hex } from '@edgefleet/shared';
import { buildClassifier } from '../fixtures/deploy-models.js';

const silent = pino({ level: 'silent' });

/** Flips one byte of a file in place (a disk error, an editor). */
function damage(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] = (bytes[at] ?? 0) ^ 0xa5;
  writeFileSync(path, bytes);
}

t.test('artifact store: put verifies and repairs, serving refuses a damaged file (store and HTTP)', async (t) => {
  const dataDir = t.testdir();
  const store = openSqliteStore({ dataDir });
  t.teardown(() => store.close());
  const artifacts = createArtifactStore({ dataDir, artifacts: store.repos.artifacts, now: () => 0, logger: silent });
  const http = await startHttpArtifactServer({ artifacts, host: '127.0.0.1', port: 0, logger: silent });
  t.teardown(() => http.close());
  const model = buildClassifier(5);
  const outcomes: PutOutcome[] = [];
  const put = () => artifacts.put(model, (o) => outcomes.push(o));
  const { sha256 } = await put();
  const path = artifacts.pathOf(sha256);
  const get = (sha: string) => fetch(`${http.baseUrl}/artifacts/${sha}`);

  await put();
  t.same(outcomes, ['written', 'unchanged'], 'first put writes, the second finds the file intact');

  damage(path, 100);
  await t.rejects(artifacts.bytes(sha256), { code: 'EF_ERR_ARTIFACT_INTEGRITY' }, 'a damaged file is not served');
  const refused = await get(sha256);
  t.equal(refused.status, 500, 'the HTTP route answers 500 for a damaged file');
  t.notOk(
    Buffer.from(await refused.arrayBuffer()).includes(Buffer.from(model.subarray(0, 64))),
    'and sends none of it',
  );

  await put();
  t.equal(outcomes[2], 'repaired', 'putting the same bytes again repairs it');
  t.equal(sha256Hex(readFileSync(path)), sha256, 'the file hashes to its name again');
  const served = await get(sha256);
  t.equal(served.status, 200);
  t.ok(Buffer.from(await served.arrayBuffer()).equals(model), 'the HTTP route serves the repaired bytes');

  rmSync(path);
  await put();
  t.equal(outcomes[3], 'written', 'a deleted file is written again');
  t.equal((await get('0'.repeat(64))).status, 404, 'an unknown artifact is 404');
  t.comment(`tried: 4 puts (new, intact, damaged, deleted) and 4 HTTP GETs; found: ${outcomes.join(', ')}`);
});

t.test('model store: re-adding a model whose file was damaged or deleted repairs it', async (t) => {
  const dataDir = t.testdir();
  const store = openSqliteStore({ dataDir });
  t.teardown(() => store.close());
  const bytes = readFileSync(join(import.meta.dirname, '../../models/zoo/mnist-mlp.onnx'));
  const first = await addModel({ models: store.repos.models, dataDir, bytes, name: 'mlp' });
  const path = join(dataDir, first.model.path);
  t.match(first, { added: true, repaired: false });
  t.match(
    await addModel({ models: store.repos.models, dataDir, bytes, name: 'mlp' }),
    { added: false, repaired: false },
    'intact: no-op',
  );
  damage(path, 200);
  t.match(
    await addModel({ models: store.repos.models, dataDir, bytes, name: 'mlp' }),
    { added: false, repaired: true },
    'damaged: repaired',
  );
  t.equal(sha256Hex(readFileSync(path)), first.model.sha256, 'the repaired file hashes to its name');
  rmSync(path);
  t.match(
    await addModel({ models: store.repos.models, dataDir, bytes, name: 'mlp' }),
    { added: false, repaired: true },
    'deleted: repaired',
  );
  t.ok(readFileSync(path).equals(bytes));
});

t.test('opening the stores deletes the temporary files a killed write left', async (t) => {
  const dataDir = t.testdir();
  const store = openSqliteStore({ dataDir });
  t.teardown(() => store.close());
  const open = () => createArtifactStore({ dataDir, artifacts: store.repos.artifacts, now: () => 0, logger: silent });
  const { sha256 } = await open().put(buildClassifier(6));
  // What a kill -9 between write and rename leaves: a temp file beside the stored artifact.
  writeFileSync(join(dataDir, 'artifacts', `.${sha256}.ab12cd.tmp`), Buffer.alloc(100));
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  writeFileSync(join(dataDir, 'models', `.${sha256}.onnx.123.xyz.tmp`), Buffer.alloc(100));
  open();
  createModelService(store.repos.models, dataDir, () => 0);
  t.same(readdirSync(join(dataDir, 'artifacts')), [`${sha256}.onnx`], 'artifacts/: only the stored file');
  t.same(readdirSync(join(dataDir, 'models')), [], 'models/: the temp file is gone');
});

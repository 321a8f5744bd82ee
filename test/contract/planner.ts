/** Contract cases of the class, model, variant and plan repositories. */
import type { ContractCase } from './repositories.js';
import { classDoc, hello, planBody, sha } from './fixtures.js';

const model = (s: string, name: string, createdAt: number) => ({
  sha256: sha(s),
  name,
  path: `models/${sha(s)}.onnx`,
  bytes: 100,
  evalSpec: 'random:8',
  shapes: { x: [1, 4] },
  createdAt,
});

const variant = (modelSha: string, key: string, artifact: string | null) => ({
  modelSha,
  recipeKey: key,
  recipeName: `recipe-${key}`,
  recipe: artifact === null ? { steps: [{ pass: 'quantize-dynamic' }] } : 'int8-dynamic',
  precision: 'int8',
  artifactSha: artifact,
  artifactPath: artifact === null ? null : `artifacts/${artifact}.onnx`,
  bytes: artifact === null ? null : 50,
  report: null,
  evaluation: null,
  error: artifact === null ? 'EF_ERR_COMPRESS_FAILED: refused' : null,
  createdAt: 1000,
});

const storePlan = (deviceClass: string, key: string, createdAt: number) => ({
  deviceClass,
  classVersion: 1,
  modelSha: sha('e'),
  inputsKey: key,
  plan: planBody(deviceClass, sha('e')),
  createdAt,
});

export const plannerContract: readonly ContractCase[] = [
  [
    'a class is created once, configures a row a hello made, and each update bumps its version',
    async (t, { classes, devices }) => {
      const doc = classDoc();
      t.ok(await classes.create({ name: 'pis', ...doc, createdAt: 1000 }));
      t.notOk(await classes.create({ name: 'pis', ...doc, createdAt: 2000 }), 'a configured class exists');
      await devices.upsertHello(hello('d-1', 'cams'), 1000);
      t.ok(await classes.create({ name: 'cams', ...doc, createdAt: 3000 }), 'the hello row is taken over');
      t.match(await classes.get('pis'), { version: 1, budgets: { maxP95LatencyMs: 50 }, createdAt: 1000 });
      t.same((await classes.get('pis'))?.profile, doc.profile, 'the profile comes back decoded');
      t.equal(await classes.update('pis', { ...doc, budgets: { maxP95LatencyMs: 20 } }, 4000), 2);
      t.match(await classes.get('pis'), { version: 2, budgets: { maxP95LatencyMs: 20 }, updatedAt: 4000 });
      t.equal(await classes.update('nope', doc, 4000), null);
      t.same(
        (await classes.list()).map((c) => c.name),
        ['cams', 'pis'],
      );
    },
  ],
  [
    'a class with devices is not deleted; deleting one removes its plans',
    async (t, { classes, devices, plans, models }) => {
      await models.insert(model('e', 'm', 1));
      const doc = classDoc();
      await classes.create({ name: 'pis', ...doc, createdAt: 1000 });
      await classes.create({ name: 'cams', ...doc, createdAt: 1000 });
      await devices.upsertHello(hello('d-1', 'cams'), 1000);
      const id = await plans.insert(storePlan('pis', 'k1', 1000));
      t.equal(await classes.delete('cams'), 'in-use');
      t.equal(await classes.delete('pis'), 'deleted');
      t.equal(await classes.delete('pis'), 'absent');
      t.equal(await plans.get(id), null, "the class's plans went with it");
      t.ok(await classes.get('cams'));
    },
  ],
  [
    'models are stored once per sha256; by name the newest comes first',
    async (t, { models }) => {
      t.ok(await models.insert(model('1', 'mlp', 1000)));
      t.notOk(await models.insert(model('1', 'other', 2000)), 'the same bytes again change nothing');
      t.ok(await models.insert(model('2', 'mlp', 3000)));
      t.ok(await models.insert(model('3', 'cnn', 2000)));
      t.same(
        (await models.named('mlp')).map((m) => m.sha256),
        [sha('2'), sha('1')],
      );
      t.same(
        (await models.list()).map((m) => m.name),
        ['cnn', 'mlp', 'mlp'],
      );
      t.match(await models.get(sha('1')), { name: 'mlp', shapes: { x: [1, 4] } });
      t.equal(await models.get(sha('9')), null);
    },
  ],
  [
    'variants: one row per (model, recipe, of a stored model), replaced on put; found by artifact only when built',
    async (t, { variants, models }) => {
      await models.insert(model('e', 'm', 1));
      await variants.put(variant(sha('e'), 'k2', null));
      await variants.put(variant(sha('e'), 'k1', sha('a')));
      t.same(
        (await variants.list(sha('e'))).map((v) => v.recipeKey),
        ['k1', 'k2'],
        'by recipe name',
      );
      t.match(await variants.get(sha('e'), 'k2'), { error: 'EF_ERR_COMPRESS_FAILED: refused', artifactSha: null });
      t.same((await variants.get(sha('e'), 'k2'))?.recipe, { steps: [{ pass: 'quantize-dynamic' }] });
      await variants.put({ ...variant(sha('e'), 'k2', sha('b')), createdAt: 2000 });
      t.match(await variants.get(sha('e'), 'k2'), { artifactSha: sha('b'), error: null, createdAt: 2000 });
      t.match(await variants.findByArtifact(sha('a')), { recipeKey: 'k1' });
      t.equal(await variants.findByArtifact(sha('c')), null);
      t.same(await variants.list(sha('z')), []);
    },
  ],
  [
    'plans: found by inputs hash while valid; a class update invalidates them',
    async (t, { plans, classes, models }) => {
      await models.insert(model('e', 'm', 1));
      await classes.create({ name: 'pis', ...classDoc(), createdAt: 500 });
      const first = await plans.insert(storePlan('pis', 'k1', 1000));
      const second = await plans.insert(storePlan('pis', 'k1', 2000));
      const other = await plans.insert(storePlan('cams', 'k2', 3000));
      t.ok(second > first, 'ids grow');
      t.equal((await plans.find('k1'))?.id, second, 'the newest under the hash');
      t.same((await plans.get(first))?.plan, planBody('pis', sha('e')), 'the plan body comes back decoded');
      t.same(
        (await plans.list({ deviceClass: 'pis' })).map((p) => p.id),
        [first, second],
      );
      t.same(
        (await plans.list({ modelSha: sha('e') })).map((p) => p.id),
        [first, second, other],
      );
      await classes.update('pis', classDoc(), 4000);
      t.equal(await plans.find('k1'), null, 'invalidated plans are not found');
      t.same(
        (await plans.list()).map((p) => p.id),
        [other],
      );
      t.same(
        (await plans.list({ deviceClass: 'pis', includeInvalidated: true })).map((p) => [p.id, p.invalidatedAt]),
        [
          [first, 4000],
          [second, 4000],
        ],
      );
      t.equal(await plans.get(9999), null);
    },
  ],
];

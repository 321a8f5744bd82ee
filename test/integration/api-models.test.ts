/**
 * Admin API, models, variants and plans: upload ONNX bytes (content-addressed, re-upload a
 * no-op, size limit), list and show, plan a model for a class (real worker-thread builds),
 * read the plan back, variants with evaluation results, compression metrics; validation and scopes.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { startApi } from '../helpers/api.js';

const MLP = readFileSync(new URL('../../models/zoo/mnist-mlp.onnx', import.meta.url));
const octet = { 'content-type': 'application/octet-stream' };

t.test('models, variants and plans over the API', async (t) => {
  const { call, expectError, admin, reader, server } = await startApi(t);
  let sha = '';

  await t.test('upload, re-upload, list, show', async (t) => {
    const up = await call('POST', '/v1/models?name=mlp&eval=random:16', admin, MLP, octet);
    t.equal(up.status, 201, 'new bytes: 201');
    t.match(up.body, {
      added: true,
      model: { name: 'mlp', bytes: MLP.length, evalSpec: 'random:16', sha256: /^[0-9a-f]{64}$/ },
    });
    sha = (up.body['model'] as { sha256: string }).sha256;
    const again = await call('POST', '/v1/models?name=other-name&eval=random:16', admin, MLP, octet);
    t.match(
      again,
      { status: 200, body: { added: false, model: { sha256: sha, name: 'mlp' } } },
      'same bytes: nothing changes',
    );
    t.match(await call('GET', '/v1/models', reader), { status: 200, body: { models: [{ sha256: sha }] } });
    t.equal(((await call('GET', '/v1/models', reader)).body['models'] as unknown[]).length, 1, 'stored once');
    t.match(await call('GET', `/v1/models/${sha}`, reader), { status: 200, body: { sha256: sha } });
    t.match(
      await call('GET', `/v1/models/${sha.slice(0, 10)}`, reader),
      { status: 200, body: { sha256: sha } },
      'by prefix',
    );
    t.match(await call('GET', '/v1/models/mlp', reader), { status: 200, body: { sha256: sha } }, 'by name');
    expectError(t, await call('GET', '/v1/models/nothing-like-it', reader), 'EF_ERR_MODEL_NOT_FOUND');
  });

  await t.test('upload validation', async (t) => {
    expectError(
      t,
      await call('POST', '/v1/models?name=junk', admin, Buffer.from('not an onnx model at all'), octet),
      'EF_ERR_MODEL_PARSE',
    );
    expectError(t, await call('POST', '/v1/models', admin, MLP, octet), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('POST', '/v1/models?name=x&eval=/etc', admin, MLP, octet), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('POST', '/v1/models?name=x', admin, { some: 'json' }), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('POST', '/v1/models?name=x', reader, MLP, octet), 'EF_ERR_AUTH_FORBIDDEN');
    t.equal((await server.repos().models.list()).length, 1, 'nothing stored by refused uploads');
  });

  await t.test('plan a model for a class, read it back, variants with evaluations', async (t) => {
    // A profile that executes fp32 and fp16, so the baseline and the fp16 candidate are both eligible.
    const profiles = (await call('GET', '/v1/profiles', reader)).body['profiles'] as Array<{
      name: string;
      capabilities: { precisions: string[] };
    }>;
    const profile = profiles.find(
      (p) => p.capabilities.precisions.includes('fp16') && p.capabilities.precisions.includes('fp32'),
    )?.name as string;
    t.equal((await call('POST', '/v1/classes', admin, { profile, name: 'edge' })).status, 201);
    expectError(t, await call('POST', '/v1/plans', reader, { model: sha, class: 'edge' }), 'EF_ERR_AUTH_FORBIDDEN');
    expectError(t, await call('POST', '/v1/plans', admin, { model: sha }), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('POST', '/v1/plans', admin, { model: sha, class: 'ghost' }), 'EF_ERR_CLASS_NOT_FOUND');
    expectError(
      t,
      await call('POST', '/v1/plans', admin, { model: 'ghost-model', class: 'edge' }),
      'EF_ERR_MODEL_NOT_FOUND',
    );
    const made = await call('POST', '/v1/plans', admin, { model: 'mlp', class: 'edge', recipes: ['fp16'] });
    t.equal(made.status, 200);
    const plan = made.body as {
      id: number;
      reused: boolean;
      plan: { recipes: string[]; candidates: Array<{ recipe: string }>; front: string[]; chosen: string | null };
    };
    t.equal(plan.reused, false);
    t.same(plan.plan.candidates.map((c) => c.recipe).sort(), [...plan.plan.recipes].sort(), 'one candidate per recipe');
    t.ok(plan.plan.front.length >= 1, `Pareto front: ${plan.plan.front.join(', ')}`);
    t.match(
      await call('POST', '/v1/plans', admin, { model: 'mlp', class: 'edge', recipes: ['fp16'] }),
      { body: { id: plan.id, reused: true } },
      'same inputs: the stored plan',
    );
    t.match(await call('GET', `/v1/plans/${plan.id}`, reader), {
      status: 200,
      body: { id: plan.id, plan: { chosen: plan.plan.chosen } },
    });
    t.match(await call('GET', '/v1/plans?class=edge', reader), { status: 200, body: { plans: [{ id: plan.id }] } });
    expectError(t, await call('GET', '/v1/plans/99999', reader), 'EF_ERR_PLAN_NOT_FOUND');
    expectError(t, await call('GET', '/v1/plans/abc', reader), 'EF_ERR_API_VALIDATION');
    const variants = await call('GET', `/v1/models/${sha}/variants`, reader);
    t.equal(variants.status, 200);
    const list = variants.body['variants'] as Array<{
      recipe: string;
      evaluation: Record<string, unknown> | null;
      artifactSha: string | null;
    }>;
    t.equal(list.length, plan.plan.recipes.length, 'every candidate built once');
    t.ok(
      list.every((v) => v.evaluation !== null && v.artifactSha !== null),
      'each variant has its evaluation and artifact',
    );
    const metrics = await call('GET', '/metrics', reader);
    t.match(
      metrics.body['text'],
      /edgefleet_compression_job_duration_seconds_count\{precision="fp16",result="ok",compressed="true"\} 1/,
      'compression job counted',
    );
  });
});

t.test('uploads over the configured limit are refused with 413', async (t) => {
  const { call, expectError, admin, server } = await startApi(t, { apiMaxModelBytes: 1024 });
  expectError(t, await call('POST', '/v1/models?name=big', admin, MLP, octet), 'EF_ERR_API_TOO_LARGE');
  t.equal((await server.repos().models.list()).length, 0);
});

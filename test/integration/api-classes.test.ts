/** Admin API, device classes and profiles: CRUD over the planner's class service, validation, scopes. */
import t from 'tap';
import { startApi } from '../helpers/api.js';

t.test('classes and profiles over the API', async (t) => {
  const { call, expectError, admin, reader } = await startApi(t);

  const profiles = await call('GET', '/v1/profiles', reader);
  t.equal(profiles.status, 200);
  const names = (profiles.body['profiles'] as Array<{ name: string }>).map((p) => p.name);
  t.ok(names.length >= 2, `built-in profiles listed (${names.join(', ')})`);
  const profile = names[0] as string;

  await t.test('create from a profile, read, patch budgets, delete', async (t) => {
    t.match(await call('GET', '/v1/classes', reader), { status: 200, body: { classes: [], unconfigured: [] } });
    const made = await call('POST', '/v1/classes', admin, {
      profile,
      name: 'cam-a',
      patch: { budgets: { maxP95LatencyMs: 50 } },
    });
    t.equal(made.status, 201);
    t.match(made.body, { name: 'cam-a', version: 1, budgets: { maxP95LatencyMs: 50 } });
    t.match(await call('GET', '/v1/classes/cam-a', reader), {
      status: 200,
      body: { name: 'cam-a', capabilities: Object, speedModel: Object },
    });
    const patched = await call('PATCH', '/v1/classes/cam-a', admin, {
      budgets: { maxP95LatencyMs: 20, maxModelBytes: 1_000_000 },
    });
    t.match(patched, { status: 200, body: { version: 2, budgets: { maxP95LatencyMs: 20, maxModelBytes: 1_000_000 } } });
    t.match(await call('GET', '/v1/classes', reader), { body: { classes: [{ name: 'cam-a', version: 2 }] } });
    expectError(t, await call('POST', '/v1/classes', admin, { profile, name: 'cam-a' }), 'EF_ERR_CLASS_EXISTS');
    t.match(await call('DELETE', '/v1/classes/cam-a', admin), { status: 200, body: { name: 'cam-a', deleted: true } });
    expectError(t, await call('GET', '/v1/classes/cam-a', reader), 'EF_ERR_CLASS_NOT_FOUND');
    expectError(t, await call('DELETE', '/v1/classes/cam-a', admin), 'EF_ERR_CLASS_NOT_FOUND');
  });

  await t.test('a full class document round-trips', async (t) => {
    const base = (profiles.body['profiles'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    const made = await call('POST', '/v1/classes', admin, { class: { ...base, name: 'doc-class' } });
    t.equal(made.status, 201);
    t.match(made.body, { name: 'doc-class', version: 1 });
  });

  await t.test('validation errors', async (t) => {
    expectError(t, await call('POST', '/v1/classes', admin, { profile: 'no-such-profile' }), 'EF_ERR_CLASS_NOT_FOUND');
    const bad = await call('POST', '/v1/classes', admin, {
      profile,
      name: 'x',
      patch: { budgets: { maxP95LatencyMs: -1 } },
    });
    expectError(t, bad, 'EF_ERR_API_VALIDATION');
    expectError(t, await call('POST', '/v1/classes', admin, { class: { name: 'half' } }), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('PATCH', '/v1/classes/doc-class', admin, { colour: 'red' }), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('PATCH', '/v1/classes/ghost', admin, { description: 'x' }), 'EF_ERR_CLASS_NOT_FOUND');
    expectError(t, await call('GET', '/v1/classes/bad%20name', reader), 'EF_ERR_API_VALIDATION');
  });

  await t.test('scopes: read may GET, only admin may change', async (t) => {
    expectError(t, await call('GET', '/v1/classes', null), 'EF_ERR_AUTH_MISSING');
    expectError(t, await call('POST', '/v1/classes', reader, { profile, name: 'r' }), 'EF_ERR_AUTH_FORBIDDEN');
    expectError(t, await call('PATCH', '/v1/classes/doc-class', reader, { description: 'x' }), 'EF_ERR_AUTH_FORBIDDEN');
    expectError(t, await call('DELETE', '/v1/classes/doc-class', reader), 'EF_ERR_AUTH_FORBIDDEN');
    t.equal((await call('GET', '/v1/classes/doc-class', reader)).status, 200);
  });
});

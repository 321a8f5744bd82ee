/**
 * Every admin API route: happy path, validation errors, auth and scope, errors as
 * {code, message, details}, OpenAPI coverage, SSE, metrics and rate limits.
 */
import t, { type Test } from 'tap';
import { request as httpRequest } from 'node:http';
import { apiErrorSchema, ERROR_CATALOGUE } from '@edgefleet/shared';
import { makeAuthServer } from '../helpers/auth.js';

t.test('admin API', async (t) => {
  const server = makeAuthServer(t.testdir());
  t.teardown(() => server.stop());
  const address = await server.start();
  const app = server.api()!.app;
  const admin = await server.auth().createAdminToken('admin', 'admin');
  const reader = await server.auth().createAdminToken('reader', 'read');
  const as = (token: string | null) => (token ? { authorization: `Bearer ${token}` } : {});
  const call = async (method: 'GET' | 'POST', url: string, token: string | null, payload?: unknown) => {
    const res = await app.inject({
      method,
      url,
      headers: as(token),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return {
      status: res.statusCode,
      body: res.headers['content-type']?.toString().includes('json')
        ? (res.json() as Record<string, unknown>)
        : res.body,
    };
  };
  const expectError = (t: Test, res: { status: number; body: unknown }, code: keyof typeof ERROR_CATALOGUE) => {
    t.equal(res.status, ERROR_CATALOGUE[code].status, `${code} → HTTP ${ERROR_CATALOGUE[code].status}`);
    t.ok(apiErrorSchema.safeParse(res.body).success, 'body is {code, message, details}');
    t.equal((res.body as { code: string }).code, code);
  };

  await t.test('health and readiness need no token', async (t) => {
    t.match(await call('GET', '/health', null), { status: 200, body: { status: 'ok', version: '0.1.0' } });
    t.match(await call('GET', '/ready', null), {
      status: 200,
      body: { ready: true, checks: { store: true, broker: true } },
    });
  });

  await t.test('tokens: missing, invalid, read-only, revoked', async (t) => {
    expectError(t, await call('GET', '/v1/devices', null), 'EF_ERR_AUTH_MISSING');
    expectError(t, await call('GET', '/v1/devices', `efa_000000000000_${'A'.repeat(43)}`), 'EF_ERR_AUTH_INVALID');
    expectError(t, await call('GET', '/v1/devices', 'garbage'), 'EF_ERR_AUTH_INVALID');
    t.equal((await call('GET', '/v1/devices', reader.token)).status, 200, 'read token may GET');
    expectError(
      t,
      await call('POST', '/v1/tokens', reader.token, { name: 'x', scope: 'read' }),
      'EF_ERR_AUTH_FORBIDDEN',
    );
    const made = await call('POST', '/v1/tokens', admin.token, { name: 'temp', scope: 'read' });
    t.equal(made.status, 201);
    const temp = made.body as { id: string; token: string; scope: string };
    t.match(temp, { scope: 'read', token: /^efa_[0-9a-f]{12}_/ });
    t.equal((await call('GET', '/v1/devices', temp.token)).status, 200, 'the new token works');
    const listed = await call('GET', '/v1/tokens', admin.token);
    t.ok(
      (listed.body as { tokens: Array<{ id: string; token?: string }> }).tokens.some(
        (x) => x.id === temp.id && x.token === undefined,
      ),
      'listed without the token',
    );
    t.match(await call('POST', `/v1/tokens/${temp.id}/revoke`, admin.token), {
      status: 200,
      body: { id: temp.id, revokedAt: Number },
    });
    expectError(t, await call('GET', '/v1/devices', temp.token), 'EF_ERR_AUTH_INVALID');
    expectError(t, await call('POST', '/v1/tokens/ffffffffffff/revoke', admin.token), 'EF_ERR_TOKEN_NOT_FOUND');
  });

  await t.test('validation errors name the field', async (t) => {
    const bad = await call('POST', '/v1/tokens', admin.token, { name: '', scope: 'root' });
    expectError(t, bad, 'EF_ERR_API_VALIDATION');
    t.match(bad.body, { details: { issues: [{ path: 'body.name' }, { path: 'body.scope' }] } });
    expectError(
      t,
      await call('POST', '/v1/tokens', admin.token, { name: 'x', scope: 'read', extra: 1 }),
      'EF_ERR_API_VALIDATION',
    );
    expectError(
      t,
      await call('POST', '/v1/enroll-tokens', admin.token, { deviceClass: 'rpi4', ttlS: 5 }),
      'EF_ERR_API_VALIDATION',
    );
    expectError(
      t,
      await call('POST', '/v1/enroll-tokens', admin.token, { deviceClass: 'bad class!' }),
      'EF_ERR_API_VALIDATION',
    );
    expectError(t, await call('GET', '/v1/devices?state=sleeping', admin.token), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('GET', '/v1/devices/bad%20id', admin.token), 'EF_ERR_API_VALIDATION');
    const res = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: { ...as(admin.token), 'content-type': 'application/json' },
      payload: '{not json',
    });
    t.equal(res.statusCode, 400, 'malformed JSON is a 400');
    t.equal(res.json().code, 'EF_ERR_API_VALIDATION');
    expectError(t, await call('GET', '/v1/nothing-here', admin.token), 'EF_ERR_API_NOT_FOUND');
  });

  await t.test('enrollment tokens: create, list, revoke', async (t) => {
    const made = await call('POST', '/v1/enroll-tokens', admin.token, { deviceClass: 'rpi4', maxUses: 3, ttlS: 600 });
    t.equal(made.status, 201);
    const tok = made.body as { id: string; token: string; expiresAt: number; createdAt: number; uses: number };
    t.match(tok, { token: /^efe_/, uses: 0, maxUses: 3 });
    t.equal(tok.expiresAt - tok.createdAt, 600_000, 'ttl applied');
    t.match(await call('GET', '/v1/enroll-tokens', reader.token), {
      status: 200,
      body: { enrollTokens: [{ id: tok.id, deviceClass: 'rpi4' }] },
    });
    t.match(await call('POST', `/v1/enroll-tokens/${tok.id}/revoke`, admin.token), {
      status: 200,
      body: { revokedAt: Number },
    });
    expectError(t, await call('POST', '/v1/enroll-tokens/ffffffffffff/revoke', admin.token), 'EF_ERR_TOKEN_NOT_FOUND');
  });

  await t.test('devices: list, filter, show, revoke', async (t) => {
    await server.auth().provisionDevice('dev-1', 'rpi4');
    const list = await call('GET', '/v1/devices', reader.token);
    t.match(list.body, {
      devices: [{ id: 'dev-1', state: 'never-seen', deviceClass: 'rpi4', credential: { status: 'active' } }],
    });
    t.match(await call('GET', '/v1/devices?class=jetson', reader.token), { body: { devices: [] } });
    t.match(await call('GET', '/v1/devices/dev-1', reader.token), {
      status: 200,
      body: { id: 'dev-1', capabilities: null },
    });
    expectError(t, await call('GET', '/v1/devices/ghost', reader.token), 'EF_ERR_DEVICE_NOT_FOUND');
    expectError(t, await call('POST', '/v1/devices/dev-1/revoke', reader.token), 'EF_ERR_AUTH_FORBIDDEN');
    t.match(await call('POST', '/v1/devices/dev-1/revoke', admin.token), {
      status: 200,
      body: { id: 'dev-1', disconnected: false },
    });
    t.match(await call('GET', '/v1/devices/dev-1', reader.token), {
      body: { credential: { status: 'revoked', revokedAt: Number } },
    });
    expectError(t, await call('POST', '/v1/devices/ghost/revoke', admin.token), 'EF_ERR_DEVICE_NOT_FOUND');
  });

  await t.test('metrics: Prometheus text with the core families', async (t) => {
    expectError(t, await call('GET', '/metrics', null), 'EF_ERR_AUTH_MISSING');
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: as(reader.token) });
    t.match(res.headers['content-type'], /text\/plain; version=0.0.4/);
    for (const family of [
      'edgefleet_devices_online',
      'edgefleet_messages_rejected_total',
      'edgefleet_api_requests_total',
      'edgefleet_mqtt_connects_refused_total',
      'edgefleet_enrollments_total',
    ]) {
      t.match(res.body, new RegExp(`^# TYPE ${family} (counter|gauge)$`, 'm'), family);
    }
    t.match(
      res.body,
      /edgefleet_api_requests_total\{method="GET",route="\/v1\/devices",status="401"\} [1-9]/,
      'API requests counted by route and status',
    );
  });

  await t.test('jobs: a server on SQLite has no queue and says so', async (t) => {
    const jobs = await call('GET', '/v1/jobs?limit=5', reader.token);
    t.equal(jobs.status, 200);
    t.same(jobs.body, { queue: 'in-process', jobs: [] });
    t.equal((await call('GET', '/v1/jobs?limit=0', reader.token)).status, 400, 'a limit below 1 is refused');
  });

  await t.test('/openapi.json documents every route with its schemas', async (t) => {
    const doc = (await call('GET', '/openapi.json', null)).body as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
    };
    t.equal(doc.openapi, '3.0.3');
    for (const route of server.api()!.routes) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      t.ok(op, `${route.method} ${path} documented`);
      if (route.kind === 'json' && route.body) t.ok(op?.requestBody, `${path} has its request body schema`);
    }
    t.match(doc.paths['/v1/tokens']?.['post']?.responses, { 201: Object, 400: Object, 401: Object, 403: Object });
  });

  await t.test('events: an SSE client receives fleet events with ids', async (t) => {
    const url = new URL('/v1/events?types=token.created', address.apiUrl!);
    const received = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(url, { headers: as(reader.token) }, (res) => {
        t.equal(res.statusCode, 200);
        t.match(res.headers['content-type'], /text\/event-stream/);
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('event: token.created')) {
            req.destroy();
            resolve(text);
          }
        });
        // Subscribed once headers are out: now cause an event (and one the filter drops).
        server.events.publish({ type: 'device.online', deviceId: 'x' });
        server.auth().createAdminToken('sse', 'read').catch(reject);
      });
      req.on('error', reject);
      req.end();
    });
    t.match(received, /^id: \d+\nevent: token\.created\ndata: \{"seq":\d+,"at":\d+,"event":\{"type":"token\.created"/m);
    t.notMatch(received, /device\.online/, 'the ?types filter applies');
  });
});

t.test('API requests are rate-limited per token', async (t) => {
  const server = makeAuthServer(t.testdir(), { 'auth.apiBurst': 3, 'auth.apiRatePerS': 0.01 });
  t.teardown(() => server.stop());
  await server.start();
  const token = (await server.auth().createAdminToken('r', 'read')).token;
  const statuses: number[] = [];
  for (let i = 0; i < 5; i += 1)
    statuses.push(
      (
        await server
          .api()!
          .app.inject({ method: 'GET', url: '/v1/devices', headers: { authorization: `Bearer ${token}` } })
      ).statusCode,
    );
  t.same(statuses, [200, 200, 200, 429, 429]);
  const limited = await server
    .api()!
    .app.inject({ method: 'GET', url: '/v1/devices', headers: { authorization: `Bearer ${token}` } });
  t.equal(limited.json().code, 'EF_ERR_API_RATE_LIMITED');
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After header');
});

t.test('auth.enabled=false opens the API (tests and local demos only)', async (t) => {
  const server = makeAuthServer(t.testdir(), { 'auth.enabled': false });
  t.teardown(() => server.stop());
  await server.start();
  t.equal(
    (await server.api()!.app.inject({ method: 'POST', url: '/v1/enroll-tokens', payload: { deviceClass: 'rpi4' } }))
      .statusCode,
    201,
  );
});

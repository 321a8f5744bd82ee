/**
 * Admin API, telemetry: a device's windows and budget status, per-class minute rollups, class
 * budget status against the class's budgets (k of n), the windows-ingested metric; validation and scopes.
 */
import t from 'tap';
import { PROTOCOL_VERSION, type TelemetryWindow } from '@edgefleet/shared';
import { startApi } from '../helpers/api.js';
import { clockAt } from '../helpers/held-clock.js';

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);

function win(deviceId: string, seq: number, p95: number): TelemetryWindow {
  const end = T0 + (seq + 1) * 10_000;
  return {
    type: 'telemetry',
    v: PROTOCOL_VERSION,
    deviceId,
    deviceClass: 'rpi4',
    seq,
    windowStart: end - 10_000,
    windowEnd: end,
    model: { sha256: 'b'.repeat(64), variantId: 'v-int8' },
    inferences: 20,
    errors: 0,
    latencyMs: { p50: p95 / 2, p95, p99: p95, max: p95, mean: p95 / 2 },
    dutyCycle: 0.2,
    power: { watts: 4, energyPerInferenceMj: 2000, source: 'modelled', sensor: 'profile' },
    accuracy: { goldenAccuracy: 0.95, goldenAt: end },
    memory: { rssBytes: 1000 },
    thermal: { throttled: false },
    clock: { source: 'virtual', durationMs: 10_000 },
    outbox: { droppedTotal: 0, pending: 0 },
    sentAt: end,
  };
}

t.test('telemetry series and budget status over the API', async (t) => {
  const { call, expectError, admin, reader, server } = await startApi(t, {}, { clock: clockAt(() => T0 + 60_000) });
  const profiles = (await call('GET', '/v1/profiles', reader)).body['profiles'] as Array<{ name: string }>;
  t.equal(
    (
      await call('POST', '/v1/classes', admin, {
        profile: profiles[0]?.name,
        name: 'rpi4',
        patch: { budgets: { maxP95LatencyMs: 50 } },
      })
    ).status,
    201,
  );
  const telemetry = server.telemetry();
  // fast: 5 windows at 20 ms; slow: 5 windows at 80 ms (breaches 50 ms in all of its last 5).
  for (let seq = 0; seq < 5; seq += 1) {
    telemetry.ingest(win('fast', seq, 20));
    telemetry.ingest(win('slow', seq, 80));
  }

  await t.test('device series and status', async (t) => {
    const res = await call('GET', '/v1/devices/slow/telemetry', reader);
    t.equal(res.status, 200);
    const body = res.body as {
      windows: Array<{ seq: number; p95Ms: number }>;
      status: { breached: boolean; checks: Array<{ budget: string; breached: boolean }> };
    };
    t.same(
      body.windows.map((w) => w.seq),
      [0, 1, 2, 3, 4],
      'windows oldest first',
    );
    t.equal(body.windows[0]?.p95Ms, 80);
    t.equal(body.status.breached, true, 'slow breaches its class budget');
    t.match(
      await call('GET', '/v1/devices/fast/telemetry?limit=2', reader),
      { body: { windows: [{ seq: 0 }, { seq: 1 }], status: { breached: false } } },
      'at most `limit` windows',
    );
    t.match(
      await call(`GET`, `/v1/devices/fast/telemetry?from=${T0 + 30_000}`, reader),
      { body: { windows: [{ seq: 2 }, { seq: 3 }, { seq: 4 }] } },
      'from filter',
    );
    expectError(t, await call('GET', '/v1/devices/ghost/telemetry', reader), 'EF_ERR_DEVICE_NOT_FOUND');
    expectError(t, await call('GET', '/v1/devices/fast/telemetry?limit=0', reader), 'EF_ERR_API_VALIDATION');
    expectError(t, await call('GET', '/v1/devices/fast/telemetry?limit=ten', reader), 'EF_ERR_API_VALIDATION');
  });

  await t.test('class rollups and budget status', async (t) => {
    const rollups = await call('GET', '/v1/classes/rpi4/telemetry', reader);
    t.equal(rollups.status, 200);
    const rows = rollups.body['rollups'] as Array<{ windows: number; maxP95Ms: number }>;
    t.equal(
      rows.reduce((n, r) => n + r.windows, 0),
      10,
      'every window in a minute rollup',
    );
    t.equal(Math.max(...rows.map((r) => r.maxP95Ms)), 80);
    const status = await call('GET', '/v1/classes/rpi4/status', reader);
    t.match(status, {
      status: 200,
      body: {
        deviceClass: 'rpi4',
        budgetSource: 'class',
        activeDevices: 2,
        breachingDevices: 1,
        summary: [{ budget: 'latencyP95Ms', breaching: 1, devices: 2, fraction: 0.5 }],
      },
    });
    t.match(await call('GET', '/v1/classes/rpi4/status?k=5&n=5', reader), { body: { breachingDevices: 1 } });
    expectError(t, await call('GET', '/v1/classes/rpi4/status?k=6&n=5', reader), 'EF_ERR_API_VALIDATION');
    t.match(
      await call('GET', '/v1/classes/nobody/status', reader),
      { status: 200, body: { activeDevices: 0 } },
      'a class without windows has nobody active',
    );
  });

  await t.test('metrics and scopes', async (t) => {
    const metrics = await call('GET', '/metrics', reader);
    t.match(metrics.body['text'], /^edgefleet_telemetry_windows_ingested_total 10$/m);
    expectError(t, await call('GET', '/v1/classes/rpi4/status', null), 'EF_ERR_AUTH_MISSING');
    expectError(
      t,
      await call('GET', '/v1/devices/slow/telemetry', `efa_000000000000_${'A'.repeat(43)}`),
      'EF_ERR_AUTH_INVALID',
    );
  });
});

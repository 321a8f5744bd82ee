/**
 * A revoked device is never a rollout member: its registry row stays (the device list shows
 * it as revoked) and its presence may still say `online` until the broker drops it, but a
 * class rollout leaves it out and a cohort naming only it is refused. Real server (SQLite,
 * embedded broker, auth on), real credentials revoked through the auth service; no agents are
 * needed, since membership is decided when the rollout starts.
 */
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { selectRolloutMembers } from '@edgefleet/server/deploy/rollout-service';
import type { DeviceRecord } from '@edgefleet/server/store/index';
import { hello } from '../contract/fixtures.js';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { createHeldClock } from '../helpers/held-clock.js';

t.test('selectRolloutMembers: revoked devices out, named cohort kept, online first', async (t) => {
  const device = (id: string, state: DeviceRecord['state']) => ({ id, state }) as DeviceRecord;
  const all = [device('c', 'offline'), device('b', 'online'), device('a', 'online'), device('d', 'online')];
  t.same(
    selectRolloutMembers(all, undefined, new Set(['a'])).map((d) => d.id),
    ['b', 'd', 'c'],
  );
  t.same(
    selectRolloutMembers(all, ['a', 'c'], new Set(['a'])).map((d) => d.id),
    ['c'],
  );
  t.same(selectRolloutMembers(all, undefined, new Set()).length, 4, 'nothing revoked: every device');
});

t.test('a class rollout leaves revoked devices out; a cohort of only revoked devices is refused', async (t) => {
  const dir = t.testdir();
  const server = createServer(
    loadServerConfig({
      flags: {
        dataDir: join(dir, 'server'),
        port: 0,
        host: '127.0.0.1',
        'log.level': 'silent',
        'auth.enabled': true,
        'control.enabled': false,
        apiPort: -1,
      },
    }),
    { logger: pino({ level: 'silent' }), clock: createHeldClock() },
  );
  await server.start();
  t.teardown(() => server.stop());
  const repos = server.repos();
  for (const id of ['r-1', 'r-2', 'r-3']) {
    await repos.devices.upsertHello(hello(id), 1000);
    await repos.auth.putCredential({
      deviceId: id,
      deviceClass: 'rpi4',
      hash: `hash-${id}`,
      enrollTokenId: 'tok',
      createdAt: 1000,
      brokerHash: null,
      enrollSession: null,
    });
  }
  await server.auth().revokeDevice('r-2');
  t.equal((await repos.devices.get('r-2'))?.state, 'online', 'the registry still shows the revoked device online');

  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: buildClassifier(5) },
    variantId: 'v5',
    golden: goldenFor(5),
    policy: { canary: { count: 1 }, deviceTimeoutMs: 60_000 },
  });
  t.same(started.devices.map((d) => d.deviceId).sort(), ['r-1', 'r-3'], 'r-2 is not a member');
  await server.deploy().rollouts.abort(started.rollout.id, 'test done');

  await t.rejects(
    server.deploy().rollouts.start({
      deviceClass: 'rpi4',
      artifact: { bytes: buildClassifier(6) },
      variantId: 'v6',
      golden: goldenFor(6),
      deviceIds: ['r-2'],
    }),
    { code: 'EF_ERR_ROLLOUT_INVALID', message: /not revoked among those named/ },
  );
});

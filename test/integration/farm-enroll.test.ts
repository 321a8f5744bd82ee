/**
 * A farm joins a server with auth on through enrollment tokens (issue 17): every simulated
 * device enrolls like a real agent, keeps its identity in the farm's data dir and, when the
 * farm starts again, reuses it without spending the token again.
 */
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { enrollFarmDevices, farmDeviceIds, startFarm } from '@edgefleet/simulators';
import { makeAuthServer } from '../helpers/auth.js';
import { waitFor } from './presence-suite.js';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { sha256Hex } from '@edgefleet/shared';
import type { RealVirtualDevice } from '@edgefleet/simulators/real/index';

const silent = pino({ level: 'silent' });

t.test('a farm enrolls its devices with two tokens, and a restarted farm reuses the identities', async (t) => {
  const server = makeAuthServer(t.testdir(), { apiPort: -1 });
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const rpi = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 20, ttlS: 3600 });
  const jetson = await server.auth().createEnrollToken({ deviceClass: 'jetson-orin', maxUses: 20, ttlS: 3600 });
  const dataDir = t.testdir();
  const plannedIds = farmDeviceIds(40);
  const progress: number[] = [];

  const run = async () => {
    const identities = await enrollFarmDevices({
      brokerUrl,
      tokens: [rpi.token, jetson.token],
      plannedIds,
      dataDir,
      logger: silent,
      concurrency: 8,
      progress: (done) => progress.push(done),
    });
    const classes = [...new Set([...identities.values()].map((i) => i.deviceClass))].sort();
    const farm = await startFarm({ brokerUrl, devices: 40, classes, logger: silent, identities });
    await waitFor(() => Object.values(farm.onlineCount()).reduce((a, b) => a + b, 0) === 40, 30_000, '40 online');
    return { identities, farm, classes };
  };

  const first = await run();
  t.same(first.classes, ['jetson-orin', 'rpi4'], 'the classes come from the tokens');
  t.same(first.farm.classTotals(), { 'jetson-orin': 20, rpi4: 20 }, 'device i used token i mod 2');
  t.equal([...first.identities.values()].filter((i) => i.enrolledNow).length, 40, 'all 40 enrolled now');
  t.same(progress.at(-1), 40, 'progress reached 40');
  const serverOnline = async () => (await server.repos().devices.list()).filter((d) => d.state === 'online').length;
  await waitFor(async () => (await serverOnline()) === 40, 30_000, 'the server to see 40 online');
  t.pass('the server sees 40 online devices, each connected with its own credential');
  t.equal((await server.repos().devices.get('sim-01'))?.deviceClass, 'rpi4');
  t.equal((await server.repos().devices.get('sim-02'))?.deviceClass, 'jetson-orin');
  const uses = async () => (await server.auth().listEnrollTokens()).map((x) => x.uses);
  t.same(await uses(), [20, 20], 'each token used 20 times');
  await first.farm.stop();

  const second = await run();
  t.equal([...second.identities.values()].filter((i) => i.enrolledNow).length, 0, 'a restarted farm enrolls nobody');
  t.same(await uses(), [20, 20], 'and spends no further use');
  t.same(
    [...second.identities.values()].map((i) => i.deviceId).sort(),
    [...first.identities.values()].map((i) => i.deviceId).sort(),
    'same devices',
  );
  await second.farm.stop();
});

t.test('a token without uses left stops the farm with an EF_ERR code', async (t) => {
  const server = makeAuthServer(t.testdir(), { apiPort: -1 });
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const small = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 2, ttlS: 3600 });
  await t.rejects(
    enrollFarmDevices({
      brokerUrl,
      tokens: [small.token],
      plannedIds: farmDeviceIds(3),
      dataDir: t.testdir(),
      logger: silent,
      concurrency: 1,
      timeoutMs: 10_000,
    }),
    { code: 'EF_ERR_ENROLL_INVALID' },
  );
});

t.test('a token of a class the farm cannot simulate stops it after one device, with an EF_ERR code', async (t) => {
  const server = makeAuthServer(t.testdir(), { apiPort: -1 });
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const custom = await server.auth().createEnrollToken({ deviceClass: 'custom-cam', maxUses: 10, ttlS: 3600 });
  await t.rejects(
    enrollFarmDevices({
      brokerUrl,
      tokens: [custom.token],
      plannedIds: farmDeviceIds(10),
      dataDir: t.testdir(),
      logger: silent,
      concurrency: 1,
      simulatedClasses: new Set(['rpi4', 'jetson-orin']),
    }),
    { code: 'EF_ERR_CONFIG_INVALID', message: /class custom-cam, which the farm cannot simulate.*rpi4, jetson-orin/ },
  );
  t.same(
    (await server.auth().listEnrollTokens()).map((x) => x.uses),
    [1],
    'one use spent, not all ten',
  );
});

t.test('an enrolled real-inference farm trusts the keys its enrollment named: no --trusted-keys needed', async (t) => {
  const root = t.testdir();
  const server = makeAuthServer(join(root, 'server'), { apiPort: -1 });
  t.teardown(() => server.stop());
  const { brokerUrl } = await server.start();
  const token = await server.auth().createEnrollToken({ deviceClass: 'rpi4', maxUses: 2, ttlS: 3600 });
  const dataDir = join(root, 'farm');
  const identities = await enrollFarmDevices({
    brokerUrl,
    tokens: [token.token],
    plannedIds: farmDeviceIds(2),
    dataDir,
    logger: silent,
  });
  const farm = await startFarm({
    brokerUrl,
    devices: 2,
    classes: ['rpi4'],
    logger: silent,
    identities,
    inference: 'real',
    real: { dataDir, trustedKeys: [], intraOpNumThreads: 1, workloadRatePerS: 0 },
  });
  t.teardown(() => farm.stop());
  const online = async () => (await server.repos().devices.list()).filter((d) => d.state === 'online').length;
  await waitFor(async () => (await online()) === 2, 30_000, 'the server to see 2 online');
  const model = buildClassifier(5);
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: model },
    variantId: 'v-enrolled',
    golden: goldenFor(5),
    policy: { canary: { count: 1 }, baseCount: 1 },
  });
  const state = async () => (await server.deploy().rollouts.status(started.rollout.id)).rollout.state;
  await waitFor(async () => ['completed', 'aborted'].includes(await state()), 60_000, 'the rollout to end');
  t.equal(await state(), 'completed', 'every device verified the signed manifest with its enrolled key');
  const devices = farm.devices as readonly RealVirtualDevice[];
  t.ok(
    devices.every((d) => d.agent.status().serving?.sha256 === sha256Hex(model)),
    'both serve the model',
  );
});

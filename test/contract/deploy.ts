/** Contract cases of the artifact and rollout repositories. */
import type { ContractCase } from './repositories.js';
import { rollout, rolloutDevice, sha } from './fixtures.js';

export const deployContract: readonly ContractCase[] = [
  [
    "an artifact's layout is recorded once",
    async (t, { artifacts }) => {
      const row = { sha256: sha('a'), size: 300, chunkSize: 128, chunks: [sha('1'), sha('2'), sha('3')], createdAt: 1 };
      await artifacts.put(row);
      await artifacts.put({ ...row, chunks: [sha('4')], createdAt: 2 });
      t.same(await artifacts.get(sha('a')), row, 'the first put stands');
      t.equal(await artifacts.get(sha('b')), null);
    },
  ],
  [
    'rollouts: stored with their devices, listed oldest first by class and activity, saved together',
    async (t, { rollouts }) => {
      await rollouts.insert(rollout('r1', 'pis'), [rolloutDevice('r1', 'd-2', 1), rolloutDevice('r1', 'd-1', 0)]);
      await rollouts.insert(rollout('r2', 'cams', { createdAt: 2000, state: 'completed', finishedAt: 3000 }), []);
      t.same(
        (await rollouts.list()).map((r) => r.id),
        ['r1', 'r2'],
      );
      t.same(
        (await rollouts.list({ active: true })).map((r) => r.id),
        ['r1'],
      );
      t.same(
        (await rollouts.list({ active: false })).map((r) => r.id),
        ['r2'],
      );
      t.same(
        (await rollouts.list({ deviceClass: 'cams' })).map((r) => r.id),
        ['r2'],
      );
      t.same(await rollouts.get('r1'), rollout('r1', 'pis'), 'golden set, budgets and policy come back decoded');
      t.same(
        (await rollouts.devicesOf('r1')).map((d) => d.deviceId),
        ['d-1', 'd-2'],
        'by wave, then device',
      );
      const [d1] = await rollouts.devicesOf('r1');
      if (!d1) throw new Error('no device');
      const notified = { ...d1, state: 'notified' as const, notifiedAt: 1500, updatedAt: 1500 };
      await rollouts.save({ ...rollout('r1', 'pis'), currentWave: 1, updatedAt: 1500 }, [notified]);
      t.match(await rollouts.get('r1'), { currentWave: 1, updatedAt: 1500 });
      t.same((await rollouts.devicesOf('r1'))[0], notified);
      t.equal(await rollouts.get('nope'), null);
      t.same(await rollouts.devicesOf('nope'), []);
    },
  ],
  [
    'a deployment id names its device row and what it may fetch; rollbacks fetch the previous variant',
    async (t, { rollouts }) => {
      const previous = { variantId: 'v-old', sha256: sha('0'), rolloutId: null };
      await rollouts.insert(rollout('r1', 'pis'), [
        rolloutDevice('r1', 'd-1', 0, { previous, rollbackId: 'r1.d0.rb', state: 'rolling-back' }),
        rolloutDevice('r1', 'd-2', 1, { rollbackId: 'r1.d1.rb' }),
      ]);
      t.match(await rollouts.findByDeployment('r1.d0'), { deviceId: 'd-1', previous });
      t.match(await rollouts.findByDeployment('r1.d0.rb'), { deviceId: 'd-1' });
      t.same(await rollouts.deploymentTarget('r1.d0'), {
        rolloutId: 'r1',
        deviceId: 'd-1',
        sha256: sha('a'),
        purpose: 'rollout',
      });
      t.same(await rollouts.deploymentTarget('r1.d0.rb'), {
        rolloutId: 'r1',
        deviceId: 'd-1',
        sha256: sha('0'),
        purpose: 'rollback',
      });
      t.equal(await rollouts.deploymentTarget('r1.d1.rb'), null, 'a rollback with nothing to go back to');
      t.equal(await rollouts.deploymentTarget('nope'), null);
      t.equal(await rollouts.findByDeployment('nope'), null);
    },
  ],
  [
    'the last installed variant of a device: the newest finished rollout, or what a rollback restored',
    async (t, { rollouts }) => {
      t.equal(await rollouts.lastInstalled('d-1'), null);
      await rollouts.insert(rollout('r1', 'pis'), [
        rolloutDevice('r1', 'd-1', 0, { state: 'succeeded', finishedAt: 2000 }),
      ]);
      t.same(await rollouts.lastInstalled('d-1'), { variantId: 'v-r1', sha256: sha('a'), rolloutId: 'r1' });
      const previous = { variantId: 'v-r1', sha256: sha('a'), rolloutId: 'r1' };
      await rollouts.insert(rollout('r2', 'pis', { artifactSha: sha('b'), createdAt: 3000 }), [
        rolloutDevice('r2', 'd-1', 0, { state: 'rolled-back', previous, finishedAt: 4000 }),
      ]);
      t.same(await rollouts.lastInstalled('d-1'), previous, 'the rollback reinstated r1');
    },
  ],
  [
    'deploy reports are recorded once per deployment and state',
    async (t, { rollouts }) => {
      t.ok(await rollouts.recordReport('r1.d0', 'downloading', 'd-1', 1000, { any: 'report' }));
      t.notOk(await rollouts.recordReport('r1.d0', 'downloading', 'd-1', 1100, { any: 'again' }));
      t.ok(await rollouts.recordReport('r1.d0', 'succeeded', 'd-1', 1200, {}));
    },
  ],
];

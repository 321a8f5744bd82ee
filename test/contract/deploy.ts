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
    'an artifact that travels encoded keeps its encoding and encoded size',
    async (t, { artifacts }) => {
      const row = {
        sha256: sha('c'),
        size: 1000,
        chunkSize: 128,
        chunks: [sha('5'), sha('6')],
        createdAt: 1,
        encoding: 'gzip' as const,
        encodedSize: 200,
      };
      await artifacts.put(row);
      t.same(await artifacts.get(sha('c')), row);
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
  [
    "a device's history: every rollout it took part in with its row there, newest first",
    async (t, { rollouts }) => {
      t.same(await rollouts.historyOf('d-1'), []);
      await rollouts.insert(rollout('r1', 'pis'), [rolloutDevice('r1', 'd-1', 0), rolloutDevice('r1', 'd-2', 1)]);
      await rollouts.insert(rollout('r2', 'pis', { createdAt: 2000 }), [rolloutDevice('r2', 'd-2', 0)]);
      await rollouts.insert(rollout('r3', 'pis', { createdAt: 3000 }), [
        rolloutDevice('r3', 'd-1', 0, { state: 'failed', finishedAt: 3500 }),
      ]);
      const history = await rollouts.historyOf('d-1');
      t.same(
        history.map((h) => [h.rollout.id, h.device.deviceId, h.device.state]),
        [
          ['r3', 'd-1', 'failed'],
          ['r1', 'd-1', 'pending'],
        ],
      );
      t.same(history[1]?.rollout, rollout('r1', 'pis'), 'the rollout comes back decoded');
    },
  ],
  [
    "rollout origins default to class; a class's desired state is set, replaced and listed by class",
    async (t, { rollouts, desired }) => {
      await rollouts.insert(rollout('r1', 'pis'), [rolloutDevice('r1', 'd-1', 0)]);
      t.same(await desired.origin('r1'), { kind: 'class' }, 'no origin stored: class-wide');
      await rollouts.insert(rollout('r2', 'pis', { createdAt: 2000 }), [rolloutDevice('r2', 'd-1', 0)], {
        kind: 'devices',
      });
      const catchUp = { kind: 'catch-up' as const, sourceRolloutId: 'r1', reason: '1 member behind' };
      await rollouts.insert(rollout('r3', 'pis', { createdAt: 3000 }), [rolloutDevice('r3', 'd-2', 0)], catchUp);
      t.same(await desired.origin('r2'), { kind: 'devices' });
      t.same(await desired.origin('r3'), catchUp);

      t.equal(await desired.desired('pis'), null);
      const state = { deviceClass: 'pis', rolloutId: 'r1', variantId: 'v-r1', artifactSha: sha('a'), setAt: 5000 };
      await desired.setDesired(state);
      await desired.setDesired({ ...state, deviceClass: 'cams', setAt: 5100 });
      t.same(await desired.desired('pis'), state);
      await desired.setDesired({ ...state, rolloutId: 'r9', setAt: 6000 });
      t.same(
        (await desired.listDesired()).map((d) => [d.deviceClass, d.rolloutId]),
        [
          ['cams', 'r1'],
          ['pis', 'r9'],
        ],
        'replaced, by class name',
      );
    },
  ],
  [
    "a device's last deployment of an artifact and its latest rollout, with their origins",
    async (t, { rollouts, desired }) => {
      t.equal(await desired.lastDeployment('d-1', sha('a')), null);
      t.equal(await desired.latestRollout('d-1'), null);
      await rollouts.insert(rollout('r1', 'pis'), [rolloutDevice('r1', 'd-1', 0, { state: 'timed-out' })]);
      await rollouts.insert(
        rollout('r2', 'pis', { createdAt: 2000, artifactSha: sha('b') }),
        [rolloutDevice('r2', 'd-1', 0, { state: 'succeeded', updatedAt: 2500 })],
        { kind: 'devices' },
      );
      t.same(await desired.lastDeployment('d-1', sha('a')), {
        rolloutId: 'r1',
        origin: 'class',
        state: 'timed-out',
        at: 1000,
      });
      t.same(await desired.lastDeployment('d-1', sha('b')), {
        rolloutId: 'r2',
        origin: 'devices',
        state: 'succeeded',
        at: 2500,
      });
      t.same(await desired.latestRollout('d-1'), { rolloutId: 'r2', createdAt: 2000, origin: 'devices' });
    },
  ],
];

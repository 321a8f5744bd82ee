/** Contract cases of the device registry and the auth repository. */
import type { ContractCase } from './repositories.js';
import { hello, sha } from './fixtures.js';

const credential = (deviceId: string, createdAt = 1000) => ({
  deviceId,
  deviceClass: 'rpi4',
  hash: `hash-${deviceId}`,
  enrollTokenId: 'tok1',
  createdAt,
  brokerHash: null,
  enrollSession: null,
});

const enrollToken = (id: string, maxUses: number, expiresAt = 10_000) => ({
  id,
  deviceClass: 'rpi4',
  hash: `h-${id}`,
  maxUses,
  expiresAt,
  createdAt: 1000,
  brokerHash: '$7$x',
});

export const registryContract: readonly ContractCase[] = [
  [
    'hello registers a device (and an unconfigured class of its name); presence changes in arrival order',
    async (t, { devices, classes }) => {
      await devices.upsertHello(hello('a-1'), 1000);
      await devices.upsertHello(hello('b-1', 'jetson'), 1001);
      t.same(
        (await classes.list()).map((c) => [c.name, c.profile]),
        [
          ['jetson', null],
          ['rpi4', null],
        ],
      );
      t.ok(await devices.setState('a-1', 'offline', 'clean', 200, 1500));
      t.notOk(await devices.setState('nobody', 'offline', 'clean', 200, 1500), 'unknown device');
      t.ok(await devices.touch('b-1', 2000, sha('f')));
      t.notOk(await devices.touch('nobody', 2000));
      t.same(
        (await devices.list()).map((d) => [d.id, d.state, d.lastSeen]),
        [
          ['b-1', 'online', 2000],
          ['a-1', 'offline', 1500],
        ],
        'by class (jetson, rpi4), then id',
      );
      t.same(
        (await devices.list({ deviceClass: 'jetson' })).map((d) => d.id),
        ['b-1'],
      );
      t.equal((await devices.get('b-1'))?.currentModel, sha('f'));
      t.equal((await devices.get('a-1'))?.stateReason, 'clean');
      t.same((await devices.get('a-1'))?.capabilities, hello('a-1').capabilities, 'JSON columns come back decoded');
      await devices.upsertHello({ ...hello('a-1'), agentVersion: '0.2.0' }, 3000);
      t.match(await devices.get('a-1'), { state: 'online', agentVersion: '0.2.0', firstSeen: 1000, lastSeen: 3000 });
      t.equal(await devices.get('nobody'), null);
    },
  ],
  [
    'a heartbeat without a model keeps it, with null clears it; a retained status does not move last-seen',
    async (t, { devices }) => {
      await devices.upsertHello(hello('a-1', 'rpi4', sha('1')), 1000);
      await devices.touch('a-1', 1100);
      t.equal((await devices.get('a-1'))?.currentModel, sha('1'));
      await devices.touch('a-1', 1200, null);
      t.equal((await devices.get('a-1'))?.currentModel, null);
      await devices.setState('a-1', 'online', 'connect', 900, null);
      t.equal((await devices.get('a-1'))?.lastSeen, 1200);
    },
  ],
  [
    'heartbeats of many devices in one call: last-seen and model as touch does; unknown ones left out',
    async (t, { devices }) => {
      await devices.upsertHello(hello('a-1', 'rpi4', sha('1')), 1000);
      await devices.upsertHello(hello('a-2', 'rpi4', sha('2')), 1000);
      await devices.setState('a-2', 'offline', 'lost', 1000, 1000);
      const known = await devices.touchMany([
        { id: 'a-1', now: 2000 },
        { id: 'a-2', now: 2100, currentModel: sha('3') },
        { id: 'nobody', now: 2200, currentModel: null },
      ]);
      t.same(
        [...known].sort((a, b) => a.id.localeCompare(b.id)),
        [
          { id: 'a-1', state: 'online' },
          { id: 'a-2', state: 'offline' },
        ],
        'known devices with their state (the caller brings a-2 back online)',
      );
      t.match(await devices.get('a-1'), { lastSeen: 2000, currentModel: sha('1') }, 'no model given: kept');
      t.match(await devices.get('a-2'), { lastSeen: 2100, currentModel: sha('3'), state: 'offline' });
      await devices.touchMany([{ id: 'a-1', now: 2300, currentModel: null }]);
      t.equal((await devices.get('a-1'))?.currentModel, null, 'null clears the model');
      t.same(await devices.touchMany([]), [], 'an empty batch is a no-op');
      t.equal(await devices.get('nobody'), null, 'a heartbeat registers nobody');
    },
  ],
  [
    'the sweep marks online devices silent since before the cutoff stale, once',
    async (t, { devices }) => {
      await devices.upsertHello(hello('a-1'), 1000);
      await devices.upsertHello(hello('a-2'), 5000);
      t.same(await devices.markStale(2000), ['a-1']);
      t.same(await devices.markStale(2000), [], 'already offline devices are not swept twice');
      t.equal((await devices.get('a-1'))?.stateReason, 'stale');
      t.equal((await devices.get('a-2'))?.state, 'online');
    },
  ],
  [
    'an admin moves a device and its credential to another class; nothing else does (issue 18)',
    async (t, { devices, auth, classes }) => {
      await devices.upsertHello(hello('a-1'), 1000);
      await auth.putCredential({ ...credential('a-1'), deviceClass: null });
      t.ok(await auth.setCredentialClass('a-1', 'rpi4'), 'a credential issued without a class is bound');
      t.equal((await auth.getCredential('a-1'))?.deviceClass, 'rpi4');
      t.ok(await devices.setClass('a-1', 'jetson', 2000));
      t.ok(await auth.setCredentialClass('a-1', 'jetson'));
      t.match(await devices.get('a-1'), { deviceClass: 'jetson', state: 'online', lastSeen: 1000 }, 'only the class');
      t.equal((await auth.getCredential('a-1'))?.deviceClass, 'jetson');
      t.ok(
        (await classes.list()).some((c) => c.name === 'jetson'),
        'the new class exists (unconfigured) like one a hello names',
      );
      t.notOk(await devices.setClass('nobody', 'jetson', 2000), 'unknown device');
      t.notOk(await auth.setCredentialClass('nobody', 'jetson'), 'no credential');
    },
  ],
  [
    'admin tokens: stored, listed oldest first, last use moved at most once a minute, revoked once',
    async (t, { auth }) => {
      await auth.insertAdminToken({ id: 't2', name: 'b', scope: 'read', hash: 'h2', createdAt: 2000 });
      await auth.insertAdminToken({ id: 't1', name: 'a', scope: 'admin', hash: 'h1', createdAt: 1000 });
      t.same(
        (await auth.listAdminTokens()).map((r) => r.id),
        ['t1', 't2'],
      );
      await auth.touchAdminToken('t1', 100_000);
      await auth.touchAdminToken('t1', 130_000);
      t.equal((await auth.getAdminToken('t1'))?.lastUsedAt, 100_000, 'a touch inside the minute is not written');
      await auth.touchAdminToken('t1', 161_000);
      t.equal((await auth.getAdminToken('t1'))?.lastUsedAt, 161_000);
      t.ok(await auth.revokeAdminToken('t1', 5000));
      t.notOk(await auth.revokeAdminToken('t1', 6000), 'already revoked');
      t.notOk(await auth.revokeAdminToken('nope', 6000));
      t.match(await auth.getAdminToken('t1'), { revokedAt: 5000, scope: 'admin' });
      t.equal(await auth.getAdminToken('nope'), null);
    },
  ],
  [
    'enrollment counts a use and stores the credential together, or changes nothing',
    async (t, { auth }) => {
      await auth.insertEnrollToken(enrollToken('e1', 2));
      t.equal(await auth.enrollDevice('e1', 2000, credential('d-1')), 'enrolled');
      t.equal(await auth.enrollDevice('e1', 2000, credential('d-1')), 'device-id-taken');
      t.equal((await auth.getEnrollToken('e1'))?.uses, 1, 'a refused id does not use the token up');
      t.equal(await auth.enrollDevice('e1', 2000, credential('d-2')), 'enrolled');
      t.equal(await auth.enrollDevice('e1', 2000, credential('d-3')), 'token-used-up', 'max uses reached');
      t.equal(await auth.getCredential('d-3'), null);
      await auth.insertEnrollToken(enrollToken('e2', 5, 3000));
      t.equal(await auth.enrollDevice('e2', 3000, credential('d-4')), 'token-used-up', 'expired at 3000');
      await auth.insertEnrollToken(enrollToken('e3', 5));
      t.ok(await auth.revokeEnrollToken('e3', 2500));
      t.notOk(await auth.revokeEnrollToken('e3', 2600));
      t.equal(await auth.enrollDevice('e3', 2700, credential('d-5')), 'token-used-up', 'revoked');
      t.same(
        (await auth.listEnrollTokens()).map((r) => [r.id, r.uses]),
        [
          ['e1', 2],
          ['e2', 0],
          ['e3', 0],
        ],
      );
      t.equal((await auth.getEnrollToken('e1'))?.brokerHash, '$7$x');
    },
  ],
  [
    'credentials: replaced by provisioning (revocation cleared), revoked once, listed by device id',
    async (t, { auth }) => {
      await auth.putCredential(credential('d-2'));
      await auth.putCredential(credential('d-1'));
      t.ok(await auth.revokeCredential('d-1', 5000));
      t.notOk(await auth.revokeCredential('d-1', 6000));
      t.notOk(await auth.revokeCredential('nobody', 6000));
      t.equal((await auth.getCredential('d-1'))?.revokedAt, 5000);
      await auth.putCredential({ ...credential('d-1', 7000), hash: 'new' });
      t.match(await auth.getCredential('d-1'), { hash: 'new', revokedAt: null, createdAt: 7000 });
      t.same(
        (await auth.listCredentials()).map((c) => c.deviceId),
        ['d-1', 'd-2'],
      );
    },
  ],
  [
    'an enrollment session finds the credential it was issued; one credential per token and session',
    async (t, { auth }) => {
      await auth.insertEnrollToken(enrollToken('e1', 5));
      const session = '0123456789abcdef';
      const issued = (deviceId: string, createdAt = 1000) => ({
        ...credential(deviceId, createdAt),
        enrollTokenId: 'e1',
        enrollSession: session,
      });
      t.equal(await auth.enrollDevice('e1', 2000, issued('d-1')), 'enrolled');
      t.match(await auth.findCredentialBySession('e1', session), { deviceId: 'd-1', enrollSession: session });
      t.equal(await auth.findCredentialBySession('e1', 'fedcba9876543210'), null);
      t.equal(await auth.findCredentialBySession('e2', session), null, 'the session is per token');
      t.equal(
        await auth.enrollDevice('e1', 2100, issued('d-2')),
        'device-id-taken',
        'a second device for the same session is refused, and counts no use',
      );
      t.equal((await auth.getEnrollToken('e1'))?.uses, 1);
      await auth.putCredential({ ...issued('d-1', 3000), hash: 'again' });
      t.match(await auth.findCredentialBySession('e1', session), { deviceId: 'd-1', hash: 'again', createdAt: 3000 });
      t.equal((await auth.getCredential('d-2'))?.enrollSession ?? null, null);
    },
  ],
];

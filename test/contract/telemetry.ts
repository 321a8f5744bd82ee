/** Contract cases of the telemetry and control repositories. */
import type { BatchItem } from '@edgefleet/server/store/telemetry';
import type { ContractCase } from './repositories.js';
import { breach, decision, memory, T0, win } from './fixtures.js';

const windows = (deviceId: string, seqs: number[], receivedAt = T0): BatchItem[] =>
  seqs.map((seq) => ({ kind: 'window', message: win(deviceId, seq, 40 + seq), receivedAt }));

export const telemetryContract: readonly ContractCase[] = [
  [
    'a batch stores each (device, seq) once, opens a gap on a jump and closes it when the windows arrive',
    async (t, { telemetry }) => {
      const first = await telemetry.ingestBatch(windows('dev-a', [0, 1, 2, 1, 5, 6]));
      t.match(first, { windows: 5, duplicates: 1, gapsOpened: 1 });
      t.same(
        (await telemetry.windows('dev-a', {})).map((w) => w.seq),
        [0, 1, 2, 5, 6],
      );
      t.same(
        (await telemetry.gaps('dev-a')).map((g) => [g.fromSeq, g.toSeq, g.closedAt]),
        [[3, 4, null]],
      );
      const late = await telemetry.ingestBatch(windows('dev-a', [3, 4, 4], T0 + 5));
      t.match(late, { windows: 2, duplicates: 1, gapsOpened: 0 });
      t.same(
        (await telemetry.gaps()).map((g) => [g.filled, g.closedAt]),
        [[2, T0 + 5]],
      );
      t.match(await telemetry.device('dev-a'), { maxSeq: 6, windows: 7, duplicates: 2, deviceClass: 'rpi4' });
      t.equal(await telemetry.device('nobody'), null);
    },
  ],
  [
    'windows come back by range and as the last n; per-class minute rollups add up',
    async (t, { telemetry }) => {
      await telemetry.ingestBatch([...windows('dev-a', [0, 1, 2, 3, 4, 5]), ...windows('dev-b', [0])]);
      const w = await telemetry.windows('dev-a', { from: T0 + 20_000, to: T0 + 40_000 });
      t.same(
        w.map((r) => r.seq),
        [1, 2, 3],
        'by window end, inclusive',
      );
      t.same(
        (await telemetry.windows('dev-a', { limit: 2 })).map((r) => r.seq),
        [0, 1],
      );
      t.same(
        (await telemetry.lastWindows('dev-a', 2)).map((r) => r.seq),
        [4, 5],
        'oldest first',
      );
      t.match((await telemetry.lastWindows('dev-a', 1))[0], { p95Ms: 45, powerSource: 'modelled', throttled: false });
      t.same(
        (await telemetry.recentByClass('rpi4', T0 + 50_000)).map((r) => [r.deviceId, r.seq]),
        [
          ['dev-a', 4],
          ['dev-a', 5],
        ],
      );
      t.same(
        (await telemetry.devicesOfClass('rpi4')).map((d) => d.deviceId),
        ['dev-a', 'dev-b'],
      );
      const minutes = await telemetry.rollups('rpi4', {});
      t.same(
        minutes.map((m) => [m.minute - T0, m.windows, m.inferences]),
        [
          [0, 6, 120],
          [60_000, 1, 20],
        ],
        'windows ending at a minute boundary count in that minute',
      );
      t.equal(minutes[0]?.maxP95Ms, 44);
    },
  ],
  [
    'breach events are stored once per (device, budget, raising window) and listed oldest first',
    async (t, { telemetry }) => {
      const b1 = breach('dev-a', [0, 1, 2]);
      const out = await telemetry.ingestBatch([
        { kind: 'breach', message: b1, receivedAt: T0 + 1 },
        { kind: 'breach', message: b1, receivedAt: T0 + 2 },
        { kind: 'breach', message: breach('dev-a', [3, 4, 5], 'recovered'), receivedAt: T0 + 3 },
      ]);
      t.match(out, { breaches: 2, duplicateBreaches: 1 });
      t.same(
        out.storedBreaches.map((b) => b.state),
        ['breached', 'recovered'],
      );
      const stored = await telemetry.breaches({ deviceId: 'dev-a' });
      t.same(
        stored.map((r) => [r.receivedAt, r.breach.state]),
        [
          [T0 + 1, 'breached'],
          [T0 + 3, 'recovered'],
        ],
      );
      t.same(stored[0]?.breach, b1, 'the event comes back decoded');
      t.same(
        (await telemetry.breaches({ limit: 1 })).map((r) => r.breach.state),
        ['recovered'],
        'the newest n',
      );
      t.same(await telemetry.breaches({ deviceClass: 'other' }), []);
    },
  ],
  [
    'retention deletes windows and rollups older than asked',
    async (t, { telemetry }) => {
      await telemetry.ingestBatch(windows('dev-a', [0, 1, 2, 7]));
      t.equal(await telemetry.prune(T0 + 25_000, T0), 2, 'two windows end before the cutoff; no rollup does');
      t.same(
        (await telemetry.windows('dev-a', {})).map((w) => w.seq),
        [2, 7],
      );
      t.equal(await telemetry.prune(0, T0 + 60_000), 1, 'the first minute rollup');
    },
  ],
  [
    'rollup counters saturate at 2^53 - 1 instead of overflowing and failing the batch (issue 18)',
    async (t, { telemetry }) => {
      // Past the schema's bounds, as a store written before them (or a future bug) could be handed.
      const huge = [0, 1, 2].map(
        (seq): BatchItem => ({
          kind: 'window',
          message: win('dev-h', seq, 40, { inferences: 2 ** 62 }),
          receivedAt: T0,
        }),
      );
      const out = await telemetry.ingestBatch([...huge, ...windows('dev-a', [0])]);
      t.match(out, { windows: 4, refused: [] }, 'every window stored, none refused');
      const [minute] = await telemetry.rollups('rpi4', { to: T0 + 60_000 });
      t.equal(minute?.inferences, Number.MAX_SAFE_INTEGER, 'the sum saturates');
      t.equal(minute?.windows, 4);
    },
  ],
  [
    'a message the store cannot keep rolls back alone and is listed; the rest of the batch commits (issue 18)',
    async (t, { telemetry }) => {
      const nan: BatchItem = {
        kind: 'window',
        message: win('dev-nan', 0, 40, { inferences: Number.NaN }),
        receivedAt: T0,
      };
      const odd: BatchItem = {
        kind: 'breach',
        message: { ...breach('dev-odd', [2]), state: 'sideways' as 'breached' },
        receivedAt: T0,
      };
      const out = await telemetry.ingestBatch([...windows('dev-a', [0, 1]), nan, odd, ...windows('dev-a', [2])]);
      t.match(out, { windows: 3, breaches: 0, duplicates: 0 });
      t.same(
        out.refused.map((r) => r.item),
        [nan, odd],
        'both refused, in batch order',
      );
      t.ok(
        out.refused.every((r) => r.detail.length > 0),
        'each with what the store said',
      );
      t.same(
        (await telemetry.windows('dev-a', {})).map((w) => w.seq),
        [0, 1, 2],
      );
      t.equal(await telemetry.device('dev-nan'), null, 'the refused window left no trace, counters included');
      t.same(await telemetry.breaches({ deviceId: 'dev-odd' }), []);
      t.equal((await telemetry.rollups('rpi4', {}))[0]?.inferences, 60, 'nor in the rollup');
    },
  ],
  [
    'a device whose seq restarts under a new epoch is a new series; resends stay duplicates per epoch (issue 18)',
    async (t, { telemetry }) => {
      const inEpoch = (seqs: number[], epoch?: string): BatchItem[] =>
        seqs.map((seq) => ({
          kind: 'window',
          message: win('dev-r', seq, 40, epoch === undefined ? {} : { epoch }),
          receivedAt: T0,
        }));
      t.match(await telemetry.ingestBatch(inEpoch([0, 1, 2])), { windows: 3, restarts: [] });
      const second = await telemetry.ingestBatch([...inEpoch([0, 1, 1], 'e1'), ...inEpoch([2])]);
      t.match(second, { windows: 2, duplicates: 2, gapsOpened: 0 });
      t.same(second.restarts, [{ deviceId: 'dev-r', epoch: 'e1', firstSeq: 0 }], 'the restart is reported once');
      const third = await telemetry.ingestBatch(inEpoch([0, 2], 'e2'));
      t.match(third, { windows: 2, gapsOpened: 1, restarts: [{ epoch: 'e2' }] }, 'seq 1 of e2 is a gap');
      t.equal((await telemetry.windows('dev-r', {})).length, 7, 'every window of every life');
      t.equal((await telemetry.device('dev-r'))?.windows, 7);
    },
  ],
  [
    "decisions and the loop's memory: stored together, a decision id once, newest n oldest first",
    async (t, { control }) => {
      t.equal(await control.state('pis'), null);
      await control.record(decision('d1', 'pis', 1000, 'watching'), {
        deviceClass: 'pis',
        memory: memory(900),
        updatedAt: 1000,
      });
      await control.record(decision('d1', 'pis', 1000, 'deploy'), {
        deviceClass: 'pis',
        memory: memory(950),
        updatedAt: 1100,
      });
      await control.record(null, { deviceClass: 'pis', memory: memory(990), updatedAt: 1200 });
      await control.record(decision('d2', 'pis', 2000, 'deploy'), {
        deviceClass: 'pis',
        memory: memory(990),
        updatedAt: 2000,
      });
      await control.record(decision('d3', 'cams', 1500, 'watching'), {
        deviceClass: 'cams',
        memory: memory(null),
        updatedAt: 1500,
      });
      t.same(
        (await control.decisions()).map((d) => d.id),
        ['d1', 'd3', 'd2'],
        'oldest first',
      );
      t.equal((await control.decisions({ deviceClass: 'pis' }))[0]?.kind, 'watching', 'the first d1 stands');
      t.same(
        (await control.decisions({ limit: 1 })).map((d) => d.id),
        ['d2'],
      );
      t.same(
        (await control.decisions({ since: 1500 })).map((d) => d.id),
        ['d3', 'd2'],
      );
      t.same((await control.decisions({ deviceClass: 'pis' }))[1], {
        ...decision('d2', 'pis', 2000, 'deploy'),
        outcome: null,
      });
      t.same(await control.countByKind(), { deploy: 1, watching: 2 });
      t.match(await control.state('pis'), { memory: memory(990), desiredHash: null, updatedAt: 2000 });
    },
  ],
  [
    'an outcome is set on its decision; the desired hash and the memory do not overwrite each other',
    async (t, { control }) => {
      await control.setDesiredHash('pis', 'hash-1', 500);
      t.match(await control.state('pis'), { memory: null, desiredHash: 'hash-1' }, 'no memory stored yet');
      await control.record(decision('d1', 'pis', 1000, 'deploy'), {
        deviceClass: 'pis',
        memory: memory(900),
        updatedAt: 1000,
      });
      t.match(await control.state('pis'), { memory: memory(900), desiredHash: 'hash-1' });
      await control.setDesiredHash('pis', 'hash-2', 1100);
      t.match(await control.state('pis'), { memory: memory(900), desiredHash: 'hash-2', updatedAt: 1100 });
      const outcome = [{ action: 'a-1', status: 'done' as const, rolloutId: 'r1' }];
      await control.setOutcome('d1', outcome);
      t.same((await control.decisions())[0]?.outcome, outcome);
    },
  ],
];

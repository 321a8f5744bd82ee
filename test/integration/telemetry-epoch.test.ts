/**
 * A device whose telemetry seq restarts (issue 18, finding 6): its agent names a new epoch
 * when the counter starts from 0 (a wiped data directory), the server recognises the restart,
 * logs it once and stores the new windows instead of discarding them as duplicates of the
 * old ones, while resends within each epoch are still deduplicated.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createTelemetry, type TelemetryTransport } from '@edgefleet/agent';
import { openSqliteStore } from '@edgefleet/server';
import { createTelemetryIngest } from '@edgefleet/server/telemetry/index';
import type { AnyMessage, TelemetryWindow } from '@edgefleet/shared';
import { recordingLogger } from '../helpers/agent-fixtures.js';
import { createFakeClock } from '../helpers/fake-clock.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';

t.test('the agent starts a new epoch when its counter starts over', async (t) => {
  const dataDir = t.testdir();
  const clock = createFakeClock();
  const sent: AnyMessage[] = [];
  const transport: TelemetryTransport = {
    publish: async (_channel, message) => {
      sent.push(message);
      return 'published';
    },
    isOnline: () => true,
    onOnline: () => () => undefined,
  };
  const make = () =>
    createTelemetry({
      deviceId: 'dev-1',
      deviceClass: 'rpi4',
      dataDir,
      clock,
      windowMs: 0,
      transport,
      logger: recordingLogger().logger,
      delivery: 'broker-ack',
      model: () => null,
      budgets: () => null,
    });
  const first = make();
  first.start();
  const a = [first.closeWindow(), first.closeWindow()];
  await first.stop();
  const again = make();
  again.start();
  const b = again.closeWindow();
  await again.stop();
  rmSync(join(dataDir, 'telemetry'), { recursive: true, force: true });
  clock.advance(5_000);
  const wiped = make();
  wiped.start();
  const c = wiped.closeWindow();
  await wiped.stop();
  t.same(
    [...a, b].map((w) => w.seq),
    [0, 1, 2],
  );
  t.ok(a[0]?.epoch, 'windows carry an epoch');
  t.equal(b.epoch, a[0]?.epoch, 'a restart with the counter intact keeps the epoch');
  t.equal(c.seq, 0, 'a wiped data directory starts from 0 …');
  t.not(c.epoch, a[0]?.epoch, '… under a new epoch');
});

t.test('the server stores a restarted device and logs it once; resends stay deduplicated', async (t) => {
  const store = openSqliteStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  const { logger, lines } = recordingLogger('warn');
  // A held clock: batches are cut only by flush().
  const ingest = createTelemetryIngest({ telemetry: store.repos.telemetry, clock: createFakeClock(), logger });
  const w = (seq: number, epoch?: string): TelemetryWindow =>
    telemetryWindow('dev-r', seq, epoch === undefined ? {} : { epoch });
  // An agent from before epochs, then the same device wiped (new epoch), then wiped again.
  for (const seq of [0, 1, 2, 3, 4]) ingest.accept(w(seq));
  await ingest.flush();
  for (const seq of [0, 1, 2]) ingest.accept(w(seq, 'e1'));
  ingest.accept(w(1, 'e1')); // a resend within the epoch
  ingest.accept(w(3)); // a late resend of the old life
  const second = await ingest.flush();
  for (const seq of [0, 1, 3]) ingest.accept(w(seq, 'e2'));
  const third = await ingest.flush();
  const stored = await store.repos.telemetry.windows('dev-r', { limit: 100 });
  t.equal(stored.length, 5 + 3 + 3, 'every window of every life is stored');
  t.same([second.windows, second.duplicates], [3, 2], 'resends in the new and the old epoch are duplicates');
  t.equal(ingest.stats().restarts, 2, 'two restarts recognised');
  const restartLogs = lines.filter((l) => /sequence restarted/.test(String(l['msg'])));
  t.equal(restartLogs.length, 2, 'each logged once');
  const gaps = await store.repos.telemetry.gaps('dev-r');
  t.equal(gaps.length, 1, 'a restart opens no gap; the missing seq 2 of e2 does');
  t.equal((gaps[0]?.toSeq ?? 0) - (gaps[0]?.fromSeq ?? 0), 0, 'a gap of one window');
  t.equal(third.gapsOpened, 1);
  t.comment(
    `tried: 5 windows without epoch, 3+2 resends in epoch e1, 3 in e2; found: ${stored.length} stored, ` +
      `${ingest.stats().duplicates} duplicates, ${ingest.stats().restarts} restarts logged, ${gaps.length} gap`,
  );
});

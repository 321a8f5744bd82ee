/**
 * An external broker that is down (issue 21, point 6): reconnect attempts back off (doubling
 * with jitter, capped), the outage is logged once with its cause and once when it ends, and the
 * mqtt.js internals the client reschedules through are still there.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { createOutageTracker, DEFAULT_RECONNECT_BACKOFF, reconnectDelayMs } from '@edgefleet/server/broker/reconnect';
import { captureLogs } from '../helpers/auth.js';

t.test('the wait doubles from 1 s to the 30 s cap, jitter within ±20%', async (t) => {
  const b = DEFAULT_RECONNECT_BACKOFF;
  const mid = () => 0.5;
  t.same(
    [0, 1, 2, 3, 4, 5, 6, 10].map((n) => reconnectDelayMs(n, b, mid)),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
  );
  t.equal(
    reconnectDelayMs(2, b, () => 0),
    3200,
    'lowest jitter',
  );
  t.equal(
    reconnectDelayMs(2, b, () => 0.999_999),
    4800,
    'highest jitter',
  );
  t.equal(
    reconnectDelayMs(0, b, () => 0),
    1000,
    'never below the first wait',
  );
  t.equal(
    reconnectDelayMs(9, b, () => 0.999_999),
    30_000,
    'never above the cap',
  );
});

t.test('one warning per outage, debug lines while it lasts, one line when it ends', async (t) => {
  const logs = captureLogs('info');
  let now = 1_000;
  const outage = createOutageTracker({ logger: logs.logger, url: 'mqtt://b:1883', now: () => now, random: () => 0.5 });
  t.notOk(outage.down);
  const waits: number[] = [];
  waits.push(outage.closed());
  for (let i = 0; i < 6; i += 1) {
    now += waits.at(-1) ?? 0;
    outage.error(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1883'), { code: 'ECONNREFUSED' }));
    waits.push(outage.closed());
  }
  t.ok(outage.down);
  t.same(waits, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  now += 5_000;
  outage.connected();
  t.notOk(outage.down);
  const lines = logs
    .text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { level: number; msg: string; outageMs?: number; attempts?: number });
  t.equal(lines.length, 2, 'info and above: the outage and its end, nothing per attempt');
  t.match(lines[0], {
    level: 40,
    msg: /mqtt:\/\/b:1883 unreachable \(connection lost\); retrying with backoff up to 30 s/,
  });
  t.match(lines[1], { level: 30, msg: /reachable again after 66\.0 s \(7 reconnect attempts\)/, attempts: 7 });
  // The next outage is reported again, from the first wait.
  t.equal(outage.closed(), 1000);
  t.equal(logs.text().trim().split('\n').length, 3);
});

t.test('a first failure that is an error (not a closed connection) names its cause', async (t) => {
  const logs = captureLogs('info');
  const outage = createOutageTracker({ logger: logs.logger, url: 'mqtt://b:1883', now: () => 0 });
  outage.error(new Error('connect ECONNREFUSED 127.0.0.1:1883'));
  outage.error(new Error('connect ECONNREFUSED 127.0.0.1:1883'));
  outage.closed();
  t.equal(logs.text().trim().split('\n').length, 1);
  t.match(logs.text(), /unreachable \(connect ECONNREFUSED 127\.0\.0\.1:1883\)/);
});

t.test('mqtt.js still has the reconnect scheduling the client reschedules through', async (t) => {
  const client = mqtt.connect('mqtt://127.0.0.1:1', { manualConnect: true, reconnectPeriod: 0 }) as unknown as Record<
    string,
    unknown
  >;
  t.type(client['_clearReconnect'], 'function');
  t.type(client['_setupReconnect'], 'function');
  t.type((client['options'] as { reconnectPeriod?: unknown }).reconnectPeriod, 'number');
  // manualConnect: never connected, so there is nothing to end.
});

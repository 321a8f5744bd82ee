/**
 * A cpu-quota fault on a real process through the host's cgroups: the process is moved into
 * its own group, the kernel throttles it while the quota is in force (its own counters say so),
 * the quota is lifted when the fault ends, and the group is gone afterwards, the process back
 * in the root group. Skipped, with the reason, where cgroups are not writable.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { pino } from 'pino';
import {
  detectCpuCgroup,
  parseFaults,
  removeAllCpuQuotaGroups,
  startCpuQuotaFaults,
  startFarm,
} from '@edgefleet/simulators';
import { startTestBroker } from '../helpers/broker.js';
import { systemClock } from '@edgefleet/shared';

const support = detectCpuCgroup();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const skip = support.ok ? false : `cgroups are not writable here: ${support.reason}`;

t.test('a busy process is throttled while the quota lasts, and left as it was after', { skip }, async (t) => {
  const busy = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  t.teardown(() => {
    busy.kill('SIGKILL');
    removeAllCpuQuotaGroups();
  });
  const pid = busy.pid ?? 0;
  const now = Date.now();
  // 5% of a core: well under what a busy loop gets even on a crowded host, so the kernel must throttle it.
  const faults = parseFaults([
    { kind: 'cpu-quota', target: { deviceClass: 'host' }, startAt: now + 300, durationMs: 1500, cores: 0.05 },
  ]);
  const changes: Array<number | null> = [];
  const quota = startCpuQuotaFaults({
    faults,
    processes: [{ deviceId: 'busy-1', deviceClass: 'host', pid }],
    clock: systemClock,
    onChange: (c) => changes.push(c.cores),
  });
  t.teardown(() => quota.stop());
  const group = quota.groups.get(pid);
  if (!group) throw new Error('no group for the busy process');
  t.match(group.name, new RegExp(`^edgefleet-${process.pid}-busy-1$`));
  t.ok(readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(group.name), 'the process is in the group');
  t.equal(group.quotaCores(), null, 'no quota before the fault');
  await sleep(1200);
  t.equal(group.quotaCores(), 0.05, 'the quota is in force');
  const during = group.throttling();
  t.ok(
    during.throttled > 0,
    `the kernel throttled it (${during.throttled} periods, ${during.throttledMs.toFixed(0)} ms)`,
  );
  await sleep(1000);
  t.same(changes, [0.05, null], 'applied at the start, lifted at the end');
  const after = group.throttling();
  await sleep(400);
  t.equal(group.throttling().throttled, after.throttled, 'no more throttling once lifted');
  quota.stop();
  t.notOk(existsSync(group.path), 'the group is removed');
  t.notOk(readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(group.name), 'the process is back in the root group');
});

t.test('a real-inference farm puts its own process under the quota, and takes it out on stop', { skip }, async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const mine = () => readFileSync(`/proc/${process.pid}/cgroup`, 'utf8');
  const home = mine();
  const farm = await startFarm({
    brokerUrl: broker.url,
    devices: 1,
    classes: ['rpi4'],
    logger: pino({ level: 'silent' }),
    inference: 'real',
    real: { dataDir: t.testdir(), trustedKeys: [], windowMs: 0 },
    // Generous for a test process: half a core for a second.
    faults: parseFaults([
      { kind: 'cpu-quota', target: { deviceClass: 'rpi4' }, startAt: Date.now(), durationMs: 1000, cores: 0.5 },
    ]),
  });
  t.match(mine(), new RegExp(`cpu[^\n]*:/edgefleet-${process.pid}-sim-1`), 'the farm process is in its group');
  await farm.stop();
  t.equal(mine(), home, 'back where it was once the farm stops');
});

/**
 * cpu-quota faults as data and the cgroup discovery around them: the schema, how active quotas
 * fold (the tightest wins), mountinfo parsing and finding the cpu controller on v1, v2 and
 * hybrid hosts, and the refusals that keep a quota from ever being modelled instead.
 */
import t from 'tap';
import { pino } from 'pino';
import {
  currentGroupOf,
  effectsAt,
  findCpuController,
  parseFaults,
  parseMountinfo,
  startCpuQuotaFaults,
  startFarm,
} from '@edgefleet/simulators';
import { systemClock } from '@edgefleet/shared';

const HYBRID = [
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const V2_ONLY = '29 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate';
const COMOUNTED = '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct';

t.test('cpu-quota: defaults, bounds, and the tightest active quota wins', async (t) => {
  const [a, b] = parseFaults([
    { kind: 'cpu-quota', target: { deviceClass: 'host' }, startAt: 1000, durationMs: 9000, cores: 0.5 },
    { kind: 'cpu-quota', target: { deviceIds: ['d1'] }, startAt: 4000, cores: 0.25, periodMs: 20 },
  ]);
  t.equal(a?.kind === 'cpu-quota' && a.periodMs, 100, 'the kernel default period unless given');
  const faults = [a, b].filter((f) => f !== undefined);
  t.equal(effectsAt(faults, 'd1', 'host', 500).cpuQuota, null, 'none before the start');
  t.same(effectsAt(faults, 'd1', 'host', 2000).cpuQuota, { cores: 0.5, periodMs: 100 });
  t.same(effectsAt(faults, 'd1', 'host', 5000).cpuQuota, { cores: 0.25, periodMs: 20 }, 'the tighter one');
  t.same(effectsAt(faults, 'd2', 'host', 5000).cpuQuota, { cores: 0.5, periodMs: 100 }, 'd2 only has the class one');
  t.same(effectsAt(faults, 'd1', 'host', 20_000).cpuQuota, { cores: 0.25, periodMs: 20 }, 'the open-ended one stays');
  t.throws(() => parseFaults([{ kind: 'cpu-quota', target: { deviceClass: 'x' }, startAt: 0, cores: 0 }]));
  t.throws(() =>
    parseFaults([{ kind: 'cpu-quota', target: { deviceClass: 'x' }, startAt: 0, cores: 0.5, periodMs: 5000 }]),
  );
});

t.test('mountinfo: the cpu controller on hybrid, co-mounted, v2-only and controller-less hosts', async (t) => {
  t.same(findCpuController(parseMountinfo(HYBRID)), { version: 'v1', root: '/sys/fs/cgroup/cpu' }, 'v1 owns cpu');
  t.same(findCpuController(parseMountinfo(COMOUNTED)), { version: 'v1', root: '/sys/fs/cgroup/cpu,cpuacct' });
  t.same(
    findCpuController(parseMountinfo(V2_ONLY), () => 'cpuset cpu io memory pids'),
    { version: 'v2', root: '/sys/fs/cgroup' },
  );
  t.match(
    findCpuController(parseMountinfo(V2_ONLY), () => 'memory pids'),
    { reason: /lacks cpu/ },
  );
  t.match(findCpuController(parseMountinfo('1 0 0:1 / / rw - ext4 /dev/sda1 rw')), { reason: /no cgroup cpu/ });
  t.same(parseMountinfo('12 1 0:5 / /a\\040b rw - cgroup cgroup rw,cpu')[0]?.mountPoint, '/a b', 'octal escapes');
});

t.test('where a process came from, so removing a group puts it back there', async (t) => {
  const proc = ['12:pids:/', '4:memory:/svc/x', '2:cpu,cpuacct:/slice/a', '0::/user.slice'].join('\n');
  t.equal(
    currentGroupOf(1, 'v1', () => proc),
    '/slice/a',
  );
  t.equal(
    currentGroupOf(1, 'v2', () => proc),
    '/user.slice',
  );
  t.equal(
    currentGroupOf(1, 'v1', () => {
      throw new Error('gone');
    }),
    '/',
  );
});

t.test('refusals: no writable cgroups, a split process, a modelled farm', async (t) => {
  const faults = parseFaults([{ kind: 'cpu-quota', target: { deviceIds: ['d1'] }, startAt: 0, cores: 0.25 }]);
  t.throws(
    () =>
      startCpuQuotaFaults({
        faults,
        processes: [{ deviceId: 'd1', deviceClass: 'c', pid: process.pid }],
        clock: systemClock,
        support: { ok: false, reason: 'this test says so' },
      }),
    { code: 'EF_ERR_FAULT_CGROUP', message: /this test says so/ },
    'no controller: refused with the reason, nothing modelled',
  );
  t.throws(
    () =>
      startCpuQuotaFaults({
        faults,
        processes: [
          { deviceId: 'd1', deviceClass: 'c', pid: 4242 },
          { deviceId: 'd2', deviceClass: 'c', pid: 4242 },
        ],
        clock: systemClock,
        support: { ok: false, reason: 'unused' },
      }),
    /same process/,
    'a quota cannot throttle one device of a shared process',
  );
  const none = startCpuQuotaFaults({
    faults: parseFaults([{ kind: 'disconnect', target: { deviceIds: ['d1'] }, startAt: 0 }]),
    processes: [{ deviceId: 'd1', deviceClass: 'c', pid: process.pid }],
    clock: systemClock,
    support: { ok: false, reason: 'unused' },
  });
  t.equal(none.groups.size, 0, 'no quota fault, no cgroup needed');
  none.stop();
  await t.rejects(
    startFarm({
      brokerUrl: 'mqtt://127.0.0.1:1',
      devices: 1,
      classes: ['rpi4'],
      logger: pino({ level: 'silent' }),
      telemetry: { dataDir: t.testdir() },
      faults: parseFaults([{ kind: 'cpu-quota', target: { deviceClass: 'rpi4' }, startAt: 0, cores: 0.25 }]),
    }),
    /sampled devices run no inference of their own/,
  );
});

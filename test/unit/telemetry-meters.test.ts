import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  counterDelta,
  createLatencyHistogram,
  createModelledPowerSource,
  createSysfsThermalReader,
  readCpuTempC,
  selectPowerSource,
  top1Confidences,
  HISTOGRAM_GROWTH,
} from '@edgefleet/agent';

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** Exact nearest-rank percentile, for comparison. */
function exact(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

t.test('histogram percentiles are within one bucket of the exact nearest-rank value', async (t) => {
  const distributions: Array<[string, number[]]> = [
    ['uniform 1..100 ms', Array.from({ length: 1000 }, (_, i) => 1 + (i * 99) / 999)],
    ['long tail', Array.from({ length: 2000 }, (_, i) => (i % 100 === 0 ? 400 + i / 10 : 3 + (i % 17) * 0.1))],
    ['sub-millisecond', Array.from({ length: 500 }, (_, i) => 0.05 + i * 0.001)],
  ];
  for (const [name, values] of distributions) {
    const h = createLatencyHistogram();
    for (const v of values) h.record(v);
    const sorted = [...values].sort((a, b) => a - b);
    const s = h.summary();
    if (!s) {
      t.fail('summary missing');
      continue;
    }
    for (const [q, got] of [
      [0.5, s.p50],
      [0.95, s.p95],
      [0.99, s.p99],
    ] as const) {
      const want = exact(sorted, q);
      t.ok(Math.abs(got - want) / want <= HISTOGRAM_GROWTH - 1, `${name}: p${q * 100} ${got} vs exact ${want}`);
    }
    t.equal(s.max, Math.round((sorted.at(-1) as number) * 1000) / 1000, `${name}: max is exact`);
    t.ok(Math.abs(s.mean - values.reduce((a, b) => a + b, 0) / values.length) < 0.001, `${name}: mean is exact`);
  }
});

t.test('histogram: empty, single value, bad samples, reset', async (t) => {
  const h = createLatencyHistogram();
  t.equal(h.summary(), null);
  h.record(7.5);
  t.same(
    h.summary(),
    { p50: 7.5, p95: 7.5, p99: 7.5, max: 7.5, mean: 7.5 },
    'one sample: every percentile is clamped to it',
  );
  h.record(Number.NaN);
  h.record(-1);
  h.record(Infinity);
  t.equal(h.rejected(), 3);
  t.equal(h.count(), 1);
  h.record(5e9);
  t.equal(h.summary()?.max, 5e9, 'beyond the last bucket still counts, max stays exact');
  h.reset();
  t.equal(h.count(), 0);
  t.equal(h.summary(), null);
});

t.test('RAPL wraparound', async (t) => {
  t.equal(counterDelta(100, 350, 1000), 250);
  t.equal(counterDelta(900, 50, 1000), 150, 'wrapped once: (max - start) + end');
  t.equal(counterDelta(900, 50, null), null, 'no range known: unknowable');
});

t.test('power source selection: RAPL, then hwmon (measured), then the model (modelled), else none', async (t) => {
  const root = t.testdir();
  const powercapDir = join(root, 'powercap');
  const hwmonDir = join(root, 'hwmon');
  const model = () => ({ idleW: 2, activeW: 6 });

  t.equal(selectPowerSource({ sysfs: { powercapDir, hwmonDir } }), null, 'nothing readable, no model: no power figure');
  const modelled = selectPowerSource({ sysfs: { powercapDir, hwmonDir }, model });
  t.equal(modelled?.source, 'modelled');
  t.equal(modelled?.end(1000, 0.25), 3, 'idle + (active - idle) x duty');

  write(join(hwmonDir, 'hwmon0', 'name'), 'ina3221\n');
  write(join(hwmonDir, 'hwmon0', 'power1_input'), '5000000\n');
  const hwmon = selectPowerSource({ sysfs: { powercapDir, hwmonDir }, model });
  t.equal(hwmon?.sensor, 'hwmon');
  t.equal(hwmon?.source, 'measured');
  hwmon?.begin(0);
  write(join(hwmonDir, 'hwmon0', 'power1_input'), '7000000\n');
  t.equal(hwmon?.end(10_000, 0.5), 6, 'average of the readings at start and end, µW → W');

  // package domains only: the sub-domain intel-rapl:0:0 is inside the package figure
  write(join(powercapDir, 'intel-rapl:0', 'energy_uj'), '999000000\n');
  write(join(powercapDir, 'intel-rapl:0', 'max_energy_range_uj'), '1000000000\n');
  write(join(powercapDir, 'intel-rapl:0:0', 'energy_uj'), '5\n');
  const rapl = selectPowerSource({ sysfs: { powercapDir, hwmonDir }, model });
  t.equal(rapl?.sensor, 'rapl');
  rapl?.begin(0);
  write(join(powercapDir, 'intel-rapl:0', 'energy_uj'), '49000000\n'); // wrapped: 1 J + 49 J = 50 J
  t.equal(rapl?.end(10_000, 0.5), 5, '50 J over 10 s across a wraparound = 5 W');
  write(join(powercapDir, 'intel-rapl:0', 'energy_uj'), '69000000\n');
  t.equal(rapl?.end(20_000, 0.5), 2, 'the next window starts where the last ended');
});

t.test('an unreadable RAPL counter falls back to hwmon', async (t) => {
  const root = t.testdir();
  const powercapDir = join(root, 'powercap');
  // A domain without a readable energy_uj (on real hosts, root alone may read it).
  mkdirSync(join(powercapDir, 'intel-rapl:0'), { recursive: true });
  write(join(root, 'hwmon', 'hwmon1', 'power2_input'), '1500000');
  t.equal(selectPowerSource({ sysfs: { powercapDir, hwmonDir: join(root, 'hwmon') } })?.sensor, 'hwmon');
});

t.test('modelled power follows the model as it changes (simulated conditions)', async (t) => {
  let active = 6;
  const source = createModelledPowerSource(() => ({ idleW: 1, activeW: active }), 'profile');
  t.equal(source.end(0, 1), 6);
  active = 10;
  t.equal(source.end(0, 1), 10);
  t.equal(source.end(0, 7), 10, 'duty cycle clamped to 1');
});

t.test('thermal: CPU zone temperature and throttling from fake sysfs', async (t) => {
  const root = t.testdir();
  const thermalDir = join(root, 'thermal');
  const cpuDir = join(root, 'cpu');
  t.equal(readCpuTempC(thermalDir), null);
  const reader0 = createSysfsThermalReader({ thermalDir, cpuDir });
  reader0.begin();
  t.same(reader0.end(), {}, 'nothing readable: no figures');
  write(join(thermalDir, 'thermal_zone0', 'type'), 'acpitz\n');
  write(join(thermalDir, 'thermal_zone0', 'temp'), '30000\n');
  write(join(thermalDir, 'thermal_zone1', 'type'), 'x86_pkg_temp\n');
  write(join(thermalDir, 'thermal_zone1', 'temp'), '71500\n');
  write(join(cpuDir, 'cpu0', 'thermal_throttle', 'core_throttle_count'), '3\n');
  write(join(cpuDir, 'cpu0', 'cpufreq', 'cpuinfo_max_freq'), '2000000\n');
  write(join(cpuDir, 'cpu0', 'cpufreq', 'scaling_max_freq'), '2000000\n');
  const reader = createSysfsThermalReader({ thermalDir, cpuDir });
  reader.begin();
  t.same(reader.end(), { cpuTempC: 71.5, throttled: false }, 'the package zone, not the first one');
  write(join(cpuDir, 'cpu0', 'thermal_throttle', 'core_throttle_count'), '9\n');
  t.same(reader.end(), { cpuTempC: 71.5, throttled: true }, 'throttle counter grew during the window');
  t.same(reader.end(), { cpuTempC: 71.5, throttled: false }, 'and did not grow in the next');
  write(join(cpuDir, 'cpu0', 'cpufreq', 'scaling_max_freq'), '1200000\n');
  t.equal(reader.end().throttled, true, 'a capped frequency counts as throttled');
});

t.test('top-1 confidence: softmax over logits, probabilities as they are', async (t) => {
  const logits = top1Confidences({ dims: [2, 3], data: new Float32Array([0, 0, 0, 10, 0, 0]) });
  t.ok(Math.abs((logits[0] as number) - 1 / 3) < 1e-6);
  t.ok((logits[1] as number) > 0.999);
  const probs = top1Confidences({ dims: [1, 4], data: new Float32Array([0.1, 0.6, 0.2, 0.1]) });
  t.ok(Math.abs((probs[0] as number) - 0.6) < 1e-6);
  t.same(top1Confidences({ dims: [1, 2], data: new Float32Array([Number.NaN, 1]) }), [], 'non-finite rows skipped');
  t.same(top1Confidences({ dims: [3], data: new Float32Array([1, 2, 3]) }).length, 1);
  t.same(top1Confidences({ dims: [5, 1], data: new Float32Array(5) }), [], 'no class axis');
});

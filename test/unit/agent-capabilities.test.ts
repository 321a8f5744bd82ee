import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { canMeasurePower, describeOrt, detectCapabilities } from '@edgefleet/agent';
import { capabilitiesSchema } from '@edgefleet/shared';

t.test('power is "measured" only when a RAPL counter or an hwmon power sensor is readable', async (t) => {
  const none = t.testdir({ rapl: {}, hwmon: { hwmon0: { temp1_input: '42000' } } });
  t.equal(await canMeasurePower({ raplDir: join(none, 'rapl'), hwmonDir: join(none, 'hwmon') }), false);
  const missing = join(none, 'does-not-exist');
  t.equal(await canMeasurePower({ raplDir: missing, hwmonDir: missing }), false);
  const rapl = t.testdir({ rapl: { 'intel-rapl:0': { energy_uj: '123' } }, hwmon: {} });
  t.equal(await canMeasurePower({ raplDir: join(rapl, 'rapl'), hwmonDir: join(rapl, 'hwmon') }), true);
  const jetson = t.testdir({ rapl: {}, hwmon: { hwmon0: { name: 'x' }, hwmon3: { power1_input: '5000000' } } });
  t.equal(await canMeasurePower({ raplDir: join(jetson, 'rapl'), hwmonDir: join(jetson, 'hwmon') }), true);
});

t.test('this host: capabilities fit the hello schema and name the real runtime', async (t) => {
  const detected = await detectCapabilities();
  t.ok(capabilitiesSchema.safeParse(detected.capabilities).success);
  t.ok(detected.capabilities.cores >= 1);
  t.ok(detected.capabilities.memoryBytes > 0);
  t.ok(detected.capabilities.executionProviders.includes('cpu'));
  t.not(detected.capabilities.powerSource, 'modelled', 'a real host never claims modelled power');
  t.match(detected.runtime.onnxruntime, /^\d+\.\d+\.\d+/);
  t.equal(detected.runtime.node, process.version);
  t.equal(await describeOrt(), await describeOrt(), 'described once per process');
});

t.test('exactly one agent module imports onnxruntime-node', async (t) => {
  const root = new URL('../../agent/src/', import.meta.url).pathname;
  const files = (function walk(dir: string): string[] {
    return readdirSync(dir).flatMap((n) =>
      statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith('.ts') ? [join(dir, n)] : [],
    );
  })(root);
  const importers = files.filter((f) =>
    /(?:from\s+|import\s*\(\s*)['"]onnxruntime-node['"]/.test(readFileSync(f, 'utf8')),
  );
  t.same(
    importers.map((f) => f.slice(root.length)),
    ['runtime/ort.ts'],
  );
});

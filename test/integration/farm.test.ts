/**
 * A farm of 12 virtual devices over three classes against a real broker: all come online,
 * each announces its class's modelled capabilities, the class assignment is fixed by the
 * seed, and stop() disconnects every device cleanly.
 */
import t from 'tap';
import { assignClasses, BUILTIN_PROFILES, startFarm } from '@edgefleet/simulators';
import { allDevicesFilter, helloSchema, statusSchema } from '@edgefleet/shared';
import { startTestBroker } from '../helpers/broker.js';
import { watchTopics } from '../helpers/mqtt-watch.js';
import { recordingLogger } from '../helpers/agent-fixtures.js';

const CLASSES = ['mcu-gateway', 'rpi4', 'jetson-orin'];

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('12 devices over 3 classes come online with a seed-determined class each', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const watch = await watchTopics(broker.url, [allDevicesFilter('hello'), allDevicesFilter('status')]);
  t.teardown(() => watch.close());
  const farm = await startFarm({
    brokerUrl: broker.url,
    devices: 12,
    classes: CLASSES,
    seed: 42,
    logger: recordingLogger('warn').logger,
    heartbeatMs: 500,
    keepaliveS: 2,
  });
  t.teardown(() => farm.stop());

  await until(() => Object.values(farm.onlineCount()).reduce((a, b) => a + b, 0) === 12, 'all 12 online');
  t.same(farm.onlineCount(), { 'mcu-gateway': 4, rpi4: 4, 'jetson-orin': 4 }, 'evenly spread');
  t.same(farm.classTotals(), { 'mcu-gateway': 4, rpi4: 4, 'jetson-orin': 4 });

  t.same(
    farm.devices.map((d) => d.deviceClass),
    assignClasses(12, CLASSES, 42),
    'assignment is assignClasses(seed)',
  );
  t.notSame(assignClasses(12, CLASSES, 43), assignClasses(12, CLASSES, 42), 'another seed, another assignment');

  await until(() => watch.seen.filter((m) => m.topic.endsWith('/hello')).length === 12, '12 hellos');
  for (const m of watch.seen.filter((x) => x.topic.endsWith('/hello'))) {
    const hello = helloSchema.parse(m.json());
    const device = farm.devices.find((d) => d.deviceId === hello.deviceId);
    t.ok(device, `hello from farm device ${hello.deviceId}`);
    t.equal(hello.deviceClass, device?.deviceClass);
    t.equal(hello.capabilities.powerSource, 'modelled');
    t.equal(hello.capabilities.cores, BUILTIN_PROFILES.get(hello.deviceClass)?.capabilities.cores);
  }

  await farm.stop();
  t.same(farm.onlineCount(), { 'mcu-gateway': 0, rpi4: 0, 'jetson-orin': 0 });
  await until(
    () => watch.seen.filter((m) => m.topic.endsWith('/status') && m.json().state === 'offline').length === 12,
    '12 offline statuses',
  );
  const offline = watch.seen
    .filter((m) => m.topic.endsWith('/status') && m.json().state === 'offline')
    .map((m) => statusSchema.parse(m.json()));
  t.ok(
    offline.every((s) => s.reason === 'clean'),
    'every device disconnected cleanly',
  );
});

t.test('the same seed builds the same farm; bad options are refused before any connection', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const logger = recordingLogger('warn').logger;
  const a = await startFarm({ brokerUrl: broker.url, devices: 6, classes: CLASSES, seed: 7, logger, idPrefix: 'a' });
  t.teardown(() => a.stop());
  const b = await startFarm({ brokerUrl: broker.url, devices: 6, classes: CLASSES, seed: 7, logger, idPrefix: 'b' });
  t.teardown(() => b.stop());
  t.same(
    a.devices.map((d) => d.deviceClass),
    b.devices.map((d) => d.deviceClass),
  );
  t.same(
    a.devices.map((d) => d.deviceId),
    ['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6'],
  );
  await t.rejects(
    startFarm({ brokerUrl: broker.url, devices: 3, classes: ['toaster'], logger }),
    /unknown device class toaster; known classes: mcu-gateway, rpi4, jetson-orin/,
  );
  await t.rejects(startFarm({ brokerUrl: broker.url, devices: 0, classes: CLASSES, logger }), RangeError);
});

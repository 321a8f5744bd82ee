import t from 'tap';
import { capabilitiesSchema } from '@edgefleet/shared';
import { BUILTIN_PROFILES, parseProfiles, simulatedCapabilities } from '@edgefleet/simulators';

t.test('built-in profiles: at least three classes, valid modelled capabilities, sourced figures', async (t) => {
  t.ok(BUILTIN_PROFILES.size >= 3);
  for (const cls of ['mcu-gateway', 'rpi4', 'jetson-orin']) t.ok(BUILTIN_PROFILES.has(cls), cls);
  for (const profile of BUILTIN_PROFILES.values()) {
    const caps = simulatedCapabilities(profile);
    t.ok(capabilitiesSchema.safeParse(caps).success, `${profile.class} capabilities fit the hello schema`);
    t.equal(caps.powerSource, 'modelled');
    t.ok(profile.sources.length > 0 && profile.confidence.length > 0, `${profile.class} says where its figures come from`);
    t.ok(profile.power.activeW > profile.power.idleW, `${profile.class} draws more when busy`);
    for (const p of caps.precisions) t.ok(profile.speed.latencyMultiplier[p], `${profile.class} has a speed factor for ${p}`);
  }
  const [mcu, pi, orin] = ['mcu-gateway', 'rpi4', 'jetson-orin'].map((c) => BUILTIN_PROFILES.get(c)!);
  t.ok(mcu!.capabilities.memoryBytes < pi!.capabilities.memoryBytes && pi!.capabilities.memoryBytes < orin!.capabilities.memoryBytes, 'memory grows with the class');
  t.ok((mcu!.speed.latencyMultiplier.fp32 ?? 0) > (orin!.speed.latencyMultiplier.fp32 ?? 0), 'the gateway is slower than the Orin');
});

t.test('simulated capabilities are copies: a device cannot change its profile', async (t) => {
  const profile = BUILTIN_PROFILES.get('rpi4')!;
  const caps = simulatedCapabilities(profile);
  caps.precisions.push('fp16');
  t.notOk(profile.capabilities.precisions.includes('fp16'));
});

t.test('a bad profiles document is refused with every problem named', async (t) => {
  const good = { profiles: [...BUILTIN_PROFILES.values()].slice(0, 1) };
  t.equal(parseProfiles(good).size, 1);
  t.throws(() => parseProfiles({ profiles: [] }), TypeError);
  t.throws(() => parseProfiles({ profiles: [{ ...good.profiles[0], class: 'bad class' }] }), /class/);
  t.throws(() => parseProfiles({ profiles: [good.profiles[0], good.profiles[0]] }), /appears twice/);
  t.throws(() => parseProfiles({ profiles: [{ ...good.profiles[0], sources: [] }] }), /sources/);
});

import t from 'tap';
import { builtinProfiles, builtinProfile, capabilitiesSchema } from '@edgefleet/shared';
import {
  activePowerW,
  BUILTIN_PROFILES,
  deriveDeviceProfiles,
  SIM_OVERLAY,
  simulatedCapabilities,
} from '@edgefleet/simulators';

t.test('built-in profiles: at least three classes, valid modelled capabilities, sourced figures', async (t) => {
  t.ok(BUILTIN_PROFILES.size >= 3);
  for (const cls of ['mcu-gateway', 'rpi4', 'jetson-orin']) t.ok(BUILTIN_PROFILES.has(cls), cls);
  for (const profile of BUILTIN_PROFILES.values()) {
    const caps = simulatedCapabilities(profile);
    t.ok(capabilitiesSchema.safeParse(caps).success, `${profile.class} capabilities fit the hello schema`);
    t.equal(caps.powerSource, 'modelled');
    t.ok(
      Object.keys(profile.sources).length > 1 && profile.sources.simulation,
      `${profile.class} says where its figures come from`,
    );
    for (const p of caps.precisions) {
      t.ok(profile.speed.latencyMultiplier[p], `${profile.class} has a speed factor for ${p}`);
      t.ok(activePowerW(profile, p) > profile.power.idleW, `${profile.class} draws more when busy at ${p}`);
    }
  }
  const [mcu, pi, orin] = ['mcu-gateway', 'rpi4', 'jetson-orin'].map((c) => BUILTIN_PROFILES.get(c)!);
  t.ok(
    mcu!.capabilities.memoryBytes < pi!.capabilities.memoryBytes &&
      pi!.capabilities.memoryBytes < orin!.capabilities.memoryBytes,
    'memory grows with the class',
  );
  t.ok(
    (mcu!.speed.latencyMultiplier.int8 ?? 0) > (pi!.speed.latencyMultiplier.int8 ?? 0) &&
      (pi!.speed.latencyMultiplier.int8 ?? 0) > (orin!.speed.latencyMultiplier.int8 ?? 0),
    'the gateway is slower than the Pi, the Pi than the Orin',
  );
});

t.test('speed and power come from the shared class profiles the planner uses', async (t) => {
  for (const profile of BUILTIN_PROFILES.values()) {
    const spec = builtinProfile(profile.class)!;
    t.ok(spec, `${profile.class} is a shared profile`);
    t.same(profile.speed.latencyMultiplier, spec.speedModel.factors, `${profile.class} speed factors`);
    t.same(
      profile.power,
      { idleW: spec.powerModel.idleW, activeW: spec.powerModel.activeW },
      `${profile.class} power model`,
    );
    t.same(profile.capabilities.precisions, spec.capabilities.precisions);
    t.equal(profile.capabilities.memoryBytes, spec.capabilities.memoryBytes);
    t.equal(profile.capabilities.cores, spec.capabilities.cores);
    t.equal(profile.speed.jitterPct, SIM_OVERLAY[profile.class]?.jitterPct, `${profile.class} jitter from the overlay`);
  }
  t.equal(BUILTIN_PROFILES.get('rpi4')?.speed.latencyMultiplier.int8, 12.6, 'the planner figure, not a second copy');
  t.equal(activePowerW(BUILTIN_PROFILES.get('rpi4')!, 'fp32'), 6.4);
  t.equal(
    activePowerW(BUILTIN_PROFILES.get('mcu-gateway')!, 'fp32'),
    0.5,
    'a precision without a figure takes the highest',
  );
  t.same(
    [...BUILTIN_PROFILES.keys()],
    Object.keys(SIM_OVERLAY),
    'the overlay decides which classes are simulated, in order',
  );
});

t.test('simulated capabilities are copies: a device cannot change its profile', async (t) => {
  const profile = BUILTIN_PROFILES.get('rpi4')!;
  const caps = simulatedCapabilities(profile);
  caps.precisions.push('fp16');
  t.notOk(profile.capabilities.precisions.includes('fp16'));
});

t.test('a bad overlay is refused with the problem named', async (t) => {
  const good = { rpi4: SIM_OVERLAY.rpi4 };
  t.equal(deriveDeviceProfiles(builtinProfiles(), good).size, 1);
  t.equal(deriveDeviceProfiles(builtinProfiles(), {}).size, 0);
  t.throws(() => deriveDeviceProfiles(builtinProfiles(), { 'no-such-class': SIM_OVERLAY.rpi4 }), /no built-in profile/);
  t.throws(
    () => deriveDeviceProfiles(builtinProfiles(), { rpi4: { ...SIM_OVERLAY.rpi4, jitterPct: -1 } }),
    /jitterPct/,
  );
  t.throws(
    () => deriveDeviceProfiles(builtinProfiles(), { rpi4: { ...SIM_OVERLAY.rpi4, executionProviders: [] } }),
    /executionProviders/,
  );
  t.throws(() => deriveDeviceProfiles(builtinProfiles(), { rpi4: { ...SIM_OVERLAY.rpi4, extra: 1 } }), TypeError);
});

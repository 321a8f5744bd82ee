/** @edgefleet/simulators: device profiles, virtual devices on the real agent link, and farms of them. */
export { startFarm, assignClasses, farmDeviceIds, type Farm, type FarmOptions } from './farm.js';
export { enrollFarmDevices, type FarmEnrollOptions, type FarmIdentity } from './farm-enroll.js';
export { createVirtualDevice, type VirtualDevice, type VirtualDeviceOptions } from './virtual-device.js';
export {
  activePowerW,
  BUILTIN_PROFILES,
  deriveDeviceProfiles,
  SIM_OVERLAY,
  simOverlaySchema,
  simulatedCapabilities,
  type DeviceProfile,
  type SimOverlay,
} from './profiles/profiles.js';
/** The seeded generator lives in shared/ (one PRNG for toolkit, simulators and server); re-exported here. */
export { createSeededRandom, deriveSeed, shuffled } from '@edgefleet/shared';
export { farmConfigSchema, formatOnlineSummary, parseFarmConfig, type FarmConfig } from './farm-config.js';
export {
  createSimTelemetry,
  simDataDir,
  type DeviceCondition,
  type SimTelemetry,
  type SimTelemetryOptions,
  type SimulatedModel,
} from './sim-telemetry.js';
export * from './faults/index.js';
export { createVirtualClock, createVirtualClocks, type VirtualClock } from './virtual-clock.js';
export { deviceFaults, skewedClock, type DeviceFaults } from './faults/device-faults.js';
export { attachFarmDeploy, type FarmDeployOptions, type VariantLookup } from './farm-deploy.js';

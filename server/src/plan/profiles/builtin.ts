/**
 * The built-in class profiles, which live in shared/src/profiles so the simulators model the
 * same classes the planner plans for. `edgefleet class create NAME --profile rpi4` copies one
 * into the store, where it can be edited. Re-exported here to keep the planner's API.
 */
import { builtinProfiles, parseBuiltinProfiles, type DeviceClassSpec } from '@edgefleet/shared';

export { parseBuiltinProfiles };

/** Built-in profiles by class name: mcu-gateway, rpi4, phone-npu, jetson-orin. */
export const BUILTIN_CLASS_PROFILES: ReadonlyMap<string, DeviceClassSpec> = builtinProfiles();

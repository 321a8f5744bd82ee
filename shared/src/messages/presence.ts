import * as z from 'zod';
import { classNameSchema, deviceIdSchema, epochMsSchema, header, precisionSchema } from './common.js';

/** What a device can run, reported in `hello` [EF-PROTO 3.1]. */
export const capabilitiesSchema = z.object({
  cpuModel: z.string().max(200),
  cores: z.number().int().positive().max(4096),
  memoryBytes: z.number().int().nonnegative(),
  /** onnxruntime execution providers the agent can use, e.g. `cpu`. */
  executionProviders: z.array(z.string().max(64)).max(32),
  precisions: z.array(precisionSchema).max(4),
  /** `measured` when the host exposes real power counters, `modelled` for simulated devices. */
  powerSource: z.enum(['measured', 'modelled', 'none']).default('none'),
});
export type Capabilities = z.infer<typeof capabilitiesSchema>;

/** Published once per connection, QoS 1, not retained. */
export const helloSchema = z.object({
  ...header('hello'),
  deviceId: deviceIdSchema,
  deviceClass: classNameSchema,
  agentVersion: z.string().max(64),
  runtime: z.object({ node: z.string().max(64), onnxruntime: z.string().max(64) }),
  capabilities: capabilitiesSchema,
  /** sha256 of the model the agent is serving, or null. */
  currentModel: z.string().max(128).nullable(),
  sentAt: epochMsSchema,
});
export type Hello = z.infer<typeof helloSchema>;

/**
 * Retained presence. The agent publishes `online` on connect and registers an `offline`
 * last-will, so the broker announces an unclean disconnect [MQTT-3.1.2-8].
 */
export const statusSchema = z.object({
  ...header('status'),
  deviceId: deviceIdSchema,
  state: z.enum(['online', 'offline']),
  /** Why the device went offline: `clean` disconnect or `lost` (last will). */
  reason: z.enum(['connect', 'clean', 'lost']),
  sentAt: epochMsSchema,
});
export type Status = z.infer<typeof statusSchema>;

/** Periodic liveness, QoS 0. */
export const heartbeatSchema = z.object({
  ...header('heartbeat'),
  deviceId: deviceIdSchema,
  seq: z.number().int().nonnegative(),
  uptimeMs: z.number().int().nonnegative(),
  currentModel: z.string().max(128).nullable(),
  sentAt: epochMsSchema,
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

import * as z from 'zod';
import { deviceIdSchema, epochMsSchema, header } from './common.js';

/**
 * Command names the agent understands. `ping`, the only one so far, proves the
 * server-to-device path works; a new command is a new name here and in PROTOCOL.md [EF-PROTO 3.4].
 */
export const COMMAND_NAMES = ['ping'] as const;

/**
 * A one-off instruction from the server to one device, QoS 1, not retained. Strict: a
 * command with fields this agent does not know is rejected rather than half-understood.
 */
export const commandSchema = z.strictObject({
  ...header('command'),
  deviceId: deviceIdSchema,
  /** Caller-chosen id so replies and logs can refer to the command. */
  commandId: z.string().min(1).max(64),
  name: z.enum(COMMAND_NAMES),
  sentAt: epochMsSchema,
});
export type DeviceCommand = z.infer<typeof commandSchema>;

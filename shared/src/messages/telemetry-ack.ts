/**
 * The server's acknowledgement of committed telemetry [EF-PROTO 8.2]: after a SQLite batch
 * commits, one message per device names every window and breach event of that device in the
 * batch, stored now or already stored before (a resend). The agent keeps an outbox entry
 * until it is named here.
 */
import * as z from 'zod';
import { deviceIdSchema, epochMsSchema, header } from './common.js';
import { WATCHED_BUDGETS, type WatchedBudget } from './telemetry.js';

/** Most windows, and most breach events, one acknowledgement names; a bigger batch is split. */
export const MAX_TELEMETRY_ACK_ITEMS = 512;

const seqSchema = z.number().int().nonnegative();

export const telemetryAckSchema = z.strictObject({
  ...header('telemetry-ack'),
  deviceId: deviceIdSchema,
  /** `seq` of each committed window, ascending. */
  windows: z.array(seqSchema).max(MAX_TELEMETRY_ACK_ITEMS),
  /** Each committed breach event, by its identity (`breachIdentity`). */
  breaches: z
    .array(
      z.strictObject({
        budget: z.enum(Object.keys(WATCHED_BUDGETS) as [WatchedBudget, ...WatchedBudget[]]),
        seq: seqSchema,
      }),
    )
    .max(MAX_TELEMETRY_ACK_ITEMS),
  sentAt: epochMsSchema,
});
export type TelemetryAck = z.infer<typeof telemetryAckSchema>;

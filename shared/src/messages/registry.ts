import type { z } from 'zod';
import type { Channel, EnrollChannel } from '../topics.js';
import { commandSchema } from './commands.js';
import { chunkNackSchema, chunkRequestSchema, chunkSchema, deployReportSchema, desiredSchema } from './deploy.js';
import { enrollReplySchema, enrollRequestSchema } from './enroll.js';
import { heartbeatSchema, helloSchema, statusSchema } from './presence.js';
import { breachSchema, telemetryWindowSchema } from './telemetry.js';
import { telemetryAckSchema } from './telemetry-ack.js';

/**
 * Every message schema by `type`, with the channel it travels on. PROTOCOL.md must describe
 * each of them (a test checks this).
 */
export const MESSAGE_SCHEMAS = {
  hello: { channel: 'hello', schema: helloSchema },
  status: { channel: 'status', schema: statusSchema },
  heartbeat: { channel: 'heartbeat', schema: heartbeatSchema },
  command: { channel: 'commands', schema: commandSchema },
  desired: { channel: 'desired', schema: desiredSchema },
  'chunk-req': { channel: 'chunk-req', schema: chunkRequestSchema },
  chunk: { channel: 'chunks', schema: chunkSchema },
  'chunk-nack': { channel: 'chunks', schema: chunkNackSchema },
  'deploy-report': { channel: 'events', schema: deployReportSchema },
  telemetry: { channel: 'telemetry', schema: telemetryWindowSchema },
  breach: { channel: 'events', schema: breachSchema },
  'telemetry-ack': { channel: 'telemetry-ack', schema: telemetryAckSchema },
  // Enrollment travels outside the device tree (ef/v1/enroll/{id}/…) [EF-PROTO 7].
  'enroll-request': { channel: 'enroll-request', schema: enrollRequestSchema },
  'enroll-reply': { channel: 'enroll-reply', schema: enrollReplySchema },
} as const satisfies Record<string, { channel: Channel | EnrollChannel; schema: z.ZodType }>;

export type MessageType = keyof typeof MESSAGE_SCHEMAS;
export type MessageOf<T extends MessageType> = z.infer<(typeof MESSAGE_SCHEMAS)[T]['schema']>;
export type AnyMessage = { [T in MessageType]: MessageOf<T> }[MessageType];

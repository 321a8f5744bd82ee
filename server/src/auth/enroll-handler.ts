import { z } from 'zod';
import {
  encodeMessage,
  enrollRequestSchema,
  enrollTopic,
  jsonNestingDepth,
  MAX_JSON_DEPTH,
  parseEnrollTopic,
  PROTOCOL_VERSION,
  type EnrollFailure,
  type EnrollReply,
} from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { RejectionCounter } from '../registry/rejections.js';
import { enrollIdOfToken, MAX_ENROLL_PAYLOAD_BYTES } from './broker-access.js';
import type { AuthService } from './service.js';

export interface EnrollHandlerOptions {
  readonly auth: AuthService;
  /** Publishes a reply (QoS 1, not retained) through the server's broker client. */
  readonly publish: (topic: string, payload: Buffer) => Promise<void>;
  /** Public keys (base64 raw Ed25519) agents should trust for manifests; may be empty. */
  readonly signingKeys: () => readonly string[];
  readonly rejections: RejectionCounter;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface EnrollHandler {
  /** Entry point for messages on ENROLL_REQUEST_FILTER. Never throws. */
  handleMessage(topic: string, payload: Buffer): void;
  /** Requests answered, by outcome. */
  counts(): Readonly<Record<'accepted' | EnrollFailure, number>>;
}

/**
 * Answers enrollment requests [EF-PROTO 7.2]: validates the token again (an external broker
 * never shows the server the CONNECT password), counts a use, issues the device credential
 * and replies on the enrollee's own reply topic. Tokens and secrets are never logged.
 */
export function createEnrollHandler(options: EnrollHandlerOptions): EnrollHandler {
  const { auth, logger: log, now } = options;
  const counts: Record<'accepted' | EnrollFailure, number> = {
    accepted: 0,
    'invalid-token': 0,
    expired: 0,
    exhausted: 0,
    revoked: 0,
    internal: 0,
  };

  function reply(enrollId: string, message: EnrollReply): void {
    counts[message.ok ? 'accepted' : message.reason] += 1;
    options
      .publish(enrollTopic(enrollId, 'enroll-reply'), encodeMessage(message))
      .catch((err: unknown) =>
        log.warn({ enrollId, err: (err as Error).message }, 'enrollment reply not sent; the agent retries'),
      );
  }

  function refuse(enrollId: string, reason: EnrollFailure, message: string): void {
    log.info({ enrollId, reason }, 'enrollment refused');
    reply(enrollId, { type: 'enroll-reply', v: PROTOCOL_VERSION, enrollId, ok: false, reason, message, sentAt: now() });
  }

  function handle(enrollId: string, payload: Buffer): void {
    if (payload.byteLength > MAX_ENROLL_PAYLOAD_BYTES) {
      options.rejections.record({
        reason: 'oversize',
        detail: `enrollment request of ${payload.byteLength} bytes`,
        deviceId: null,
        clientId: enrollId,
      });
      refuse(enrollId, 'invalid-token', `request larger than ${MAX_ENROLL_PAYLOAD_BYTES} bytes`);
      return;
    }
    if (jsonNestingDepth(payload, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      options.rejections.record({
        reason: 'too-deep',
        detail: `enrollment request nests more than ${MAX_JSON_DEPTH} levels`,
        deviceId: null,
        clientId: enrollId,
      });
      refuse(enrollId, 'invalid-token', 'request is not an enroll-request');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      options.rejections.record({
        reason: 'malformed-json',
        detail: 'enrollment request is not JSON',
        deviceId: null,
        clientId: enrollId,
      });
      refuse(enrollId, 'invalid-token', 'request is not JSON');
      return;
    }
    const parsed = enrollRequestSchema.safeParse(json);
    if (!parsed.success) {
      options.rejections.record({
        reason: 'schema',
        detail: z.prettifyError(parsed.error),
        deviceId: null,
        clientId: enrollId,
      });
      refuse(
        enrollId,
        'invalid-token',
        `request does not match enroll-request: ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
      );
      return;
    }
    const request = parsed.data;
    if (request.enrollId !== enrollId || enrollIdOfToken(request.token) !== enrollId) {
      refuse(enrollId, 'invalid-token', 'the token does not belong to this enrollment topic');
      return;
    }
    const result = auth.enroll(request.token, request.requestedDeviceId);
    if (!('deviceId' in result)) {
      refuse(
        enrollId,
        result.reason,
        `enrollment token ${result.reason}; ask the fleet admin for a new one (edgefleet enroll-token create)`,
      );
      return;
    }
    log.info(
      { enrollId, deviceId: result.deviceId, deviceClass: result.deviceClass, enrollTokenId: result.enrollTokenId },
      'device enrolled',
    );
    reply(enrollId, {
      type: 'enroll-reply',
      v: PROTOCOL_VERSION,
      enrollId,
      ok: true,
      deviceId: result.deviceId,
      deviceClass: result.deviceClass,
      secret: result.secret,
      signingKeys: [...options.signingKeys()],
      sentAt: now(),
    });
  }

  return {
    handleMessage(topic, payload) {
      const parsedTopic = parseEnrollTopic(topic);
      if (parsedTopic?.channel !== 'enroll-request') return;
      try {
        handle(parsedTopic.enrollId, payload);
      } catch (err: unknown) {
        log.error({ enrollId: parsedTopic.enrollId, err: (err as Error).message }, 'enrollment failed');
        refuse(parsedTopic.enrollId, 'internal', 'the server could not complete enrollment; try again');
      }
    },
    counts: () => ({ ...counts }),
  };
}

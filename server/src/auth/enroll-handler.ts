import { z } from 'zod';
import {
  encodeMessage,
  enrollRequestSchema,
  enrollSealContext,
  enrollTopic,
  jsonNestingDepth,
  MAX_JSON_DEPTH,
  parseEnrollTopic,
  PROTOCOL_VERSION,
  asError,
  sealSecret,
  type EnrollFailure,
  type EnrollReply,
} from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { RejectionCounter } from '../registry/rejections.js';
import { enrollIdOfToken, MAX_ENROLL_PAYLOAD_BYTES } from './broker-access.js';
import type { BrokerCredentials } from './broker-credentials.js';
import type { AuthService } from './service.js';

export interface EnrollHandlerOptions {
  readonly auth: AuthService;
  /** Publishes a reply (QoS 1, not retained) through the server's broker client. */
  readonly publish: (topic: string, payload: Buffer) => Promise<void>;
  /** Public keys (base64 raw Ed25519) agents should trust for manifests; may be empty. */
  readonly signingKeys: () => readonly string[];
  /** Tells the broker about the new device before the agent is told (external brokers). Default: nothing to tell. */
  readonly broker?: BrokerCredentials;
  readonly rejections: RejectionCounter;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface EnrollHandler {
  /** Entry point for messages on ENROLL_REQUEST_FILTER. Never throws. */
  handleMessage(topic: string, payload: Buffer): void;
  /** Requests answered, by outcome. */
  counts(): Readonly<Record<'accepted' | 'reissued' | EnrollFailure, number>>;
  /** Resolves when every request received so far is answered (tests, shutdown). */
  idle(): Promise<void>;
}

/**
 * Answers enrollment requests [EF-PROTO 7.2]: validates the token again (an external broker
 * never shows the server the CONNECT password), counts a use (or, for a session that asked
 * before, re-issues its device), gives the broker the new credential, and replies on the
 * session's own reply topic with the secret sealed to the agent's key. Tokens and secrets are
 * never logged.
 */
export function createEnrollHandler(options: EnrollHandlerOptions): EnrollHandler {
  const { auth, logger: log, now } = options;
  const counts: Record<'accepted' | 'reissued' | EnrollFailure, number> = {
    accepted: 0,
    reissued: 0,
    'invalid-token': 0,
    expired: 0,
    exhausted: 0,
    revoked: 0,
    internal: 0,
  };
  const inFlight = new Set<Promise<void>>();

  function reply(enrollId: string, session: string, message: EnrollReply): void {
    if (!message.ok) counts[message.reason] += 1;
    options
      .publish(enrollTopic(enrollId, session, 'enroll-reply'), encodeMessage(message))
      .catch((err: unknown) =>
        log.warn({ enrollId, err: asError(err).message }, 'enrollment reply not sent; the agent retries'),
      );
  }

  function refuse(enrollId: string, session: string, reason: EnrollFailure, message: string): void {
    log.info({ enrollId, session, reason }, 'enrollment refused');
    reply(enrollId, session, {
      type: 'enroll-reply',
      v: PROTOCOL_VERSION,
      enrollId,
      session,
      ok: false,
      reason,
      message,
      sentAt: now(),
    });
  }

  /** Parses and checks a request; refuses and returns null when it is unusable. */
  function parseRequest(enrollId: string, session: string, payload: Buffer) {
    const reject = (reason: 'oversize' | 'too-deep' | 'malformed-json' | 'schema', detail: string, message: string) => {
      options.rejections.record({ reason, detail, deviceId: null, clientId: enrollId });
      refuse(enrollId, session, 'invalid-token', message);
      return null;
    };
    if (payload.byteLength > MAX_ENROLL_PAYLOAD_BYTES)
      return reject(
        'oversize',
        `enrollment request of ${payload.byteLength} bytes`,
        `request larger than ${MAX_ENROLL_PAYLOAD_BYTES} bytes`,
      );
    if (jsonNestingDepth(payload, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
      return reject(
        'too-deep',
        `enrollment request nests more than ${MAX_JSON_DEPTH} levels`,
        'request is not an enroll-request',
      );
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return reject('malformed-json', 'enrollment request is not JSON', 'request is not JSON');
    }
    const parsed = enrollRequestSchema.safeParse(json);
    if (!parsed.success)
      return reject(
        'schema',
        z.prettifyError(parsed.error),
        `request does not match enroll-request: ` +
          `${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
      );
    const request = parsed.data;
    if (request.enrollId !== enrollId || request.session !== session || enrollIdOfToken(request.token) !== enrollId) {
      refuse(enrollId, session, 'invalid-token', 'the token does not belong to this enrollment topic');
      return null;
    }
    return request;
  }

  async function handle(enrollId: string, session: string, payload: Buffer): Promise<void> {
    const request = parseRequest(enrollId, session, payload);
    if (!request) return;
    const result = await auth.enroll(request.token, request.requestedDeviceId, session);
    if (!('deviceId' in result)) {
      refuse(
        enrollId,
        session,
        result.reason,
        `enrollment token ${result.reason}; ask the fleet admin for a new one (edgefleet enroll-token create)`,
      );
      return;
    }
    // The broker must know the device before the agent reconnects as it, or it loops on "not authorized".
    await options.broker?.deviceIssued(result.deviceId, result.secret);
    log.info(
      {
        enrollId,
        session,
        deviceId: result.deviceId,
        deviceClass: result.deviceClass,
        enrollTokenId: result.enrollTokenId,
        reissued: result.reissued,
      },
      result.reissued ? 'device enrolled again (same session): new secret' : 'device enrolled',
    );
    counts[result.reissued ? 'reissued' : 'accepted'] += 1;
    reply(enrollId, session, {
      type: 'enroll-reply',
      v: PROTOCOL_VERSION,
      enrollId,
      session,
      ok: true,
      deviceId: result.deviceId,
      deviceClass: result.deviceClass,
      sealedSecret: sealSecret(request.publicKey, result.secret, enrollSealContext(enrollId, session, result.deviceId)),
      signingKeys: [...options.signingKeys()],
      sentAt: now(),
    });
  }

  return {
    handleMessage(topic, payload) {
      const parsedTopic = parseEnrollTopic(topic);
      if (parsedTopic?.channel !== 'enroll-request') return;
      const { enrollId, session } = parsedTopic;
      const work = handle(enrollId, session, payload).catch((err: unknown) => {
        log.error({ enrollId, session, err: asError(err).message }, 'enrollment failed');
        refuse(enrollId, session, 'internal', 'the server could not complete enrollment; the agent tries again');
      });
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    },
    counts: () => ({ ...counts }),
    idle: async () => {
      await Promise.all([...inFlight]);
    },
  };
}

import { timingSafeEqual } from 'node:crypto';
import {
  deviceTopic,
  enrollTopic,
  isValidDeviceId,
  isValidEnrollId,
  parseEnrollClientId,
  parseEnrollTopic,
  parseTopic,
  SERVER_CHANNELS,
  TOPIC_PREFIX,
} from '@edgefleet/shared';
import { checkPublish, type PublishRejection } from '../broker/guard.js';
import { createRateLimiter, type RateLimit } from './rate-limit.js';
import { SERVER_USERNAME, type AuthService } from './service.js';

/** Who an MQTT connection is, decided once at CONNECT. */
export type Principal =
  | { readonly kind: 'server' }
  | { readonly kind: 'device'; readonly deviceId: string }
  /** One enrollment: the token's enroll id (user name) and the session its client id names. */
  | { readonly kind: 'enroll'; readonly enrollId: string; readonly session: string }
  /** Auth switched off (`auth.enabled: false`): the foundation's open broker. */
  | { readonly kind: 'anonymous' };

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
export type ConnackCode = 2 | 3 | 4 | 5;

export type ConnectDecision =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly returnCode: ConnackCode; readonly reason: string };

/** Enrollment requests are small; anything bigger on an enroll topic is refused. */
export const MAX_ENROLL_PAYLOAD_BYTES = 4096;

/**
 * The embedded broker's access rules [EF-PROTO 7.3], as plain decisions over strings so
 * they are tested without a broker; `broker/embedded.ts` wires them into aedes.
 */
export interface BrokerAccess {
  /** preConnect: false when the address has exceeded its connect rate. */
  allowConnect(remoteAddress: string): boolean;
  authenticate(clientId: string, username: string | undefined, password: Buffer | undefined): Promise<ConnectDecision>;
  /** null to allow; a rejection (counted, and the publisher disconnected) otherwise. */
  authorizePublish(principal: Principal | null, topic: string, payloadBytes: number): PublishRejection | null;
  /** Whether a subscription filter is granted (else SUBACK 0x80). */
  authorizeSubscribe(principal: Principal, filter: string): boolean;
  /** Whether a message on `topic` may be delivered to this client (retained replays included). */
  authorizeForward(principal: Principal, topic: string): boolean;
}

export interface BrokerAccessOptions {
  /** null: auth off; every client is `anonymous` and only the topic/size guard applies. */
  readonly auth: AuthService | null;
  /** Password of the server's own client, generated per process. */
  readonly serverPassword: string;
  readonly maxPayloadBytes: number;
  /** CONNECTs per remote address. */
  readonly connectLimit: RateLimit;
  readonly now: () => number;
}

function sameSecret(a: string, b: Buffer): boolean {
  const bufA = Buffer.from(a, 'utf8');
  return bufA.length === b.length && timingSafeEqual(bufA, b);
}

function forbidden(topic: string, who: string, deviceId: string | null): PublishRejection {
  return { reason: 'forbidden', detail: `${who} may not publish on ${JSON.stringify(topic.slice(0, 200))}`, deviceId };
}

/** The enroll id of a token: `enroll-` + the token's 12-hex id (shared by broker user name, client id and topics). */
export function enrollIdOfToken(token: string): string | null {
  const match = /^efe_([0-9a-f]{12})_/.exec(token);
  return match ? `enroll-${match[1]}` : null;
}

export function createBrokerAccess(options: BrokerAccessOptions): BrokerAccess {
  const { auth } = options;
  const connects = createRateLimiter(options.connectLimit, options.now);
  const limits = { maxPayloadBytes: options.maxPayloadBytes };

  async function authenticateDevice(
    clientId: string,
    username: string,
    password: string,
    service: AuthService,
  ): Promise<ConnectDecision> {
    // [MQTT-3.1.3-8] lets a server refuse a client id: a device connects as itself only.
    if (clientId !== username) return { ok: false, returnCode: 2, reason: 'client-id-mismatch' };
    const check = await service.verifyDevice(username, password);
    if (check === 'ok') return { ok: true, principal: { kind: 'device', deviceId: username } };
    return { ok: false, returnCode: check === 'revoked' ? 5 : 4, reason: check };
  }

  async function authenticateEnroll(
    clientId: string,
    username: string,
    password: string,
    service: AuthService,
  ): Promise<ConnectDecision> {
    // Client id `<enrollId>-<session>` [EF-PROTO 7.1]: unique per enrollment, bound to the token's user name.
    const parsed = parseEnrollClientId(clientId);
    if (!parsed || parsed.enrollId !== username) return { ok: false, returnCode: 2, reason: 'client-id-mismatch' };
    if (enrollIdOfToken(password) !== username) return { ok: false, returnCode: 4, reason: 'invalid-token' };
    const check = await service.checkEnrollToken(password);
    if (check.ok) return { ok: true, principal: { kind: 'enroll', enrollId: username, session: parsed.session } };
    // A session that already enrolled may ask again after its reply was lost, even with the token used up.
    if (check.reason === 'exhausted' && (await service.enrolledSession(password, parsed.session)))
      return { ok: true, principal: { kind: 'enroll', enrollId: username, session: parsed.session } };
    // [EF-PROTO 7.3]: an unknown token (or a wrong secret) is a bad password, 4; a known
    // token that may no longer be used (revoked, expired, used up) is "not authorized", 5.
    return { ok: false, returnCode: check.reason === 'invalid-token' ? 4 : 5, reason: check.reason };
  }

  return {
    allowConnect: (remoteAddress) => connects.take(remoteAddress) === 0,
    async authenticate(clientId, username, password) {
      if (username === SERVER_USERNAME) {
        return password && sameSecret(options.serverPassword, password)
          ? { ok: true, principal: { kind: 'server' } }
          : { ok: false, returnCode: 4, reason: 'bad-server-credential' };
      }
      if (!auth) return { ok: true, principal: { kind: 'anonymous' } };
      if (username === undefined || password === undefined)
        return { ok: false, returnCode: 4, reason: 'no-credentials' };
      const secret = password.toString('utf8');
      if (isValidEnrollId(username)) return authenticateEnroll(clientId, username, secret, auth);
      if (!isValidDeviceId(username)) return { ok: false, returnCode: 4, reason: 'bad-username' };
      return authenticateDevice(clientId, username, secret, auth);
    },
    authorizePublish(principal, topic, payloadBytes) {
      // aedes' default refuses $SYS; overriding authorizePublish must keep that [aedes #597].
      if (topic.startsWith('$SYS')) return forbidden(topic, 'no client', null);
      const enroll = parseEnrollTopic(topic);
      if (enroll) {
        if (payloadBytes > MAX_ENROLL_PAYLOAD_BYTES)
          return {
            reason: 'oversize',
            detail: `enrollment payload of ${payloadBytes} bytes exceeds ${MAX_ENROLL_PAYLOAD_BYTES}`,
            deviceId: null,
          };
        if (principal?.kind === 'server' && enroll.channel === 'enroll-reply') return null;
        if (
          principal?.kind === 'enroll' &&
          enroll.channel === 'enroll-request' &&
          enroll.enrollId === principal.enrollId &&
          enroll.session === principal.session
        )
          return null;
        if (principal?.kind === 'anonymous' && enroll.channel === 'enroll-request') return null;
        return forbidden(topic, principal?.kind ?? 'unknown client', null);
      }
      const rejection = checkPublish(topic, payloadBytes, limits);
      if (rejection) return rejection;
      const parsed = parseTopic(topic);
      if (!parsed || !principal) return forbidden(topic, 'unknown client', parsed?.deviceId ?? null);
      switch (principal.kind) {
        case 'server':
          return null;
        case 'anonymous':
          return null;
        case 'enroll':
          return forbidden(topic, `enrollment client ${principal.enrollId}`, parsed.deviceId);
        case 'device':
          if (parsed.deviceId === principal.deviceId && parsed.direction === 'device-to-server') return null;
          return forbidden(topic, `device ${principal.deviceId}`, principal.deviceId);
      }
    },
    authorizeSubscribe(principal, filter) {
      switch (principal.kind) {
        case 'server':
          return true;
        case 'anonymous':
          return !filter.startsWith('$SYS');
        case 'enroll':
          return filter === enrollTopic(principal.enrollId, principal.session, 'enroll-reply');
        case 'device': {
          const own = `${TOPIC_PREFIX}/devices/${principal.deviceId}`;
          // Wildcards only inside its own subtree; delivery is still narrowed by authorizeForward.
          if (filter === `${own}/#` || filter === `${own}/+`) return true;
          return SERVER_CHANNELS.some((channel) => filter === deviceTopic(principal.deviceId, channel));
        }
      }
    },
    authorizeForward(principal, topic) {
      switch (principal.kind) {
        case 'server':
          return true;
        case 'anonymous':
          return true;
        case 'enroll':
          return topic === enrollTopic(principal.enrollId, principal.session, 'enroll-reply');
        case 'device': {
          const parsed = parseTopic(topic);
          return parsed !== null && parsed.deviceId === principal.deviceId && parsed.direction === 'server-to-device';
        }
      }
    },
  };
}

/**
 * Enrollment over MQTT [EF-PROTO 7.2], robust to many devices enrolling with one token at
 * once: each enrollment has its own session (16 hex), hence its own client id and reply
 * topic, and its own X25519 key the reply's secret is sealed to. Transient failures (no
 * broker, a dropped or kicked connection, no reply, the server's `internal`) are retried
 * with exponential backoff and jitter, with the same session, so a retry never counts a
 * second use of the token; refusals end it at once with an EF_ERR code.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleepMs } from 'node:timers/promises';
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import {
  EdgefleetError,
  encodeMessage,
  enrollClientId,
  ENROLL_TOKEN_PATTERN,
  enrollSealContext,
  enrollTopic,
  generateEnrollKeyPair,
  openSecret,
  PROTOCOL_VERSION,
  type RandomSource,
  asError,
  stripUndefined,
  type EnrollKeyPair,
  type EnrollRequest,
} from '@edgefleet/shared/device';
import { backoffDelay, validateBackoff, type BackoffPolicy } from '../link/backoff.js';
import { awaitEnrollReply, type AttemptOutcome } from './enroll-attempt.js';

/** One enrollment in progress: kept in the data dir so an agent restarted mid-way resumes it. */
export interface PendingEnrollment {
  readonly session: string;
  readonly keys: EnrollKeyPair;
}

/** What a successful enrollment gives the agent. */
export interface EnrolledIdentity {
  readonly deviceId: string;
  readonly deviceClass: string;
  /** The device's MQTT password, opened from the sealed reply. */
  readonly secret: string;
  readonly signingKeys: readonly string[];
}

export interface EnrollOptions {
  readonly brokerUrl: string;
  /** The enrollment token (`efe_…`); never logged. */
  readonly token: string;
  /** Device id to ask for (e.g. the host name); the server may pick another. */
  readonly requestedDeviceId?: string;
  readonly agentVersion: string;
  readonly logger: Logger;
  /** Give up after this long, ms. Default 120000. */
  readonly timeoutMs?: number;
  /** How long one attempt waits for the server's reply before trying again, ms. Default 10000. */
  readonly replyTimeoutMs?: number;
  /** Wait between attempts. Default 500 ms doubling to 10 s, half of it random. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Broker refusals of the token (CONNACK 4/5) tolerated before giving up. Default 3. */
  readonly maxBrokerRefusals?: number;
  /** Session and key pair to use; default a fresh one ({@link newPendingEnrollment}). */
  readonly pending?: PendingEnrollment;
  readonly random?: RandomSource;
  /** Injected clock for `sentAt` and deadlines. Default Date.now. */
  readonly now?: () => number;
}

const ENROLL_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 500, factor: 2, maxMs: 10_000, jitter: 0.5 });

/** The enroll id of a token: `enroll-<12 hex>`; also its MQTT user name [EF-PROTO 7.1]. */
export function enrollIdFor(token: string): string {
  if (!ENROLL_TOKEN_PATTERN.test(token)) {
    throw new EdgefleetError(
      'EF_ERR_ENROLL_INVALID',
      'the enrollment token is malformed: expected efe_<12 hex>_<43 characters>, as `edgefleet enroll-token ' +
        'create` prints it',
    );
  }
  return `enroll-${token.slice(4, 16)}`;
}

/** A fresh session and X25519 key pair for one enrollment. */
export function newPendingEnrollment(): PendingEnrollment {
  return { session: randomBytes(8).toString('hex'), keys: generateEnrollKeyPair() };
}

/** One attempt: connect with a unique client id, ask, wait for the answer (or a reason to retry). */
async function attemptOnce(
  options: EnrollOptions,
  enrollId: string,
  pending: PendingEnrollment,
  waitMs: number,
): Promise<AttemptOutcome> {
  const { session } = pending;
  let client: mqtt.MqttClient;
  try {
    // allowRetries false: with reconnectPeriod 0, mqtt.js otherwise never settles when the broker
    // closes the socket before its CONNACK (aedes does so for a rate-limited connect), and the
    // enrollment would wait forever, its deadline unchecked.
    client = await mqtt.connectAsync(
      options.brokerUrl,
      {
        clientId: enrollClientId(enrollId, session),
        username: enrollId,
        password: options.token,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: Math.max(1000, Math.min(10_000, waitMs)),
        // No 7 MB number cache (see agent-link.ts); the flag is global to mqtt-packet, so both clients say so.
        writeCache: false,
      },
      false,
    );
  } catch (err: unknown) {
    const code = (err as { code?: unknown }).code;
    if (code === 2 || code === 4 || code === 5) return { kind: 'broker-refused', connack: code };
    return { kind: 'retry', reason: `cannot reach the broker: ${asError(err).message}` };
  }
  try {
    const request: EnrollRequest = {
      type: 'enroll-request',
      v: PROTOCOL_VERSION,
      enrollId,
      session,
      publicKey: pending.keys.publicKey,
      token: options.token,
      agentVersion: options.agentVersion,
      sentAt: (options.now ?? Date.now)(),
      ...stripUndefined({ requestedDeviceId: options.requestedDeviceId }),
    };
    return await awaitEnrollReply(client, {
      replyTopic: enrollTopic(enrollId, session, 'enroll-reply'),
      requestTopic: enrollTopic(enrollId, session, 'enroll-request'),
      request: encodeMessage(request),
      enrollId,
      session,
      waitMs,
    });
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}

/** [EF-PROTO 7.3]: CONNACK 4 = the server does not know the token (or its secret is wrong), 5 = it may not be used. */
function brokerRefusal(connack: number, refusals: number): EdgefleetError {
  const why =
    connack === 5
      ? 'it is revoked, expired or used up, or an external broker without the dynamic security plugin has not been ' +
        'given it yet (rerun `edgefleet broker-config mosquitto` and reload mosquitto)'
      : 'the server does not know it (or its secret is wrong)';
  return new EdgefleetError(
    'EF_ERR_ENROLL_INVALID',
    `the broker refused the enrollment token ${refusals} times (CONNACK ${connack}): ${why}; ask the fleet admin for ` +
      `a new token (edgefleet enroll-token create)`,
    { connack },
  );
}

/**
 * Enrolls this device [EF-PROTO 7.2] and returns its identity. Retries transient failures
 * with backoff until `timeoutMs`; throws EF_ERR_ENROLL_INVALID / _EXPIRED / _EXHAUSTED on a
 * refusal and EF_ERR_ENROLL_FAILED when time runs out. Never throws anything else.
 */
export async function enrollDevice(options: EnrollOptions): Promise<EnrolledIdentity> {
  const enrollId = enrollIdFor(options.token);
  const pending = options.pending ?? newPendingEnrollment();
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const policy = validateBackoff({ ...ENROLL_BACKOFF, ...options.backoff });
  const deadline = now() + (options.timeoutMs ?? 120_000);
  const maxRefusals = options.maxBrokerRefusals ?? 3;
  const log = options.logger.child({ component: 'enroll', enrollId, session: pending.session });
  let refusals = 0;
  let lastProblem = 'no attempt made';
  for (let attempt = 0; ; attempt += 1) {
    const waitMs = Math.max(1, Math.min(options.replyTimeoutMs ?? 10_000, deadline - now()));
    let outcome: AttemptOutcome;
    try {
      outcome = await attemptOnce(options, enrollId, pending, waitMs);
    } catch (err: unknown) {
      outcome = { kind: 'retry', reason: asError(err).message };
    }
    if (outcome.kind === 'accepted') {
      const reply = outcome.reply;
      let secret: string;
      try {
        secret = openSecret(
          pending.keys,
          reply.sealedSecret,
          enrollSealContext(enrollId, pending.session, reply.deviceId),
        );
      } catch (err: unknown) {
        throw new EdgefleetError(
          'EF_ERR_ENROLL_FAILED',
          `the enrollment reply's secret does not open with this agent's key (${asError(err).message}); start the ` +
            `agent again to enroll anew`,
          {},
          { cause: err },
        );
      }
      log.info({ deviceId: reply.deviceId, deviceClass: reply.deviceClass, attempts: attempt + 1 }, 'enrolled');
      return { deviceId: reply.deviceId, deviceClass: reply.deviceClass, secret, signingKeys: reply.signingKeys };
    }
    if (outcome.kind === 'refused') throw outcome.error;
    if (outcome.kind === 'broker-refused') {
      refusals += 1;
      lastProblem = `the broker refused the token (CONNACK ${outcome.connack})`;
      if (refusals >= maxRefusals) throw brokerRefusal(outcome.connack, refusals);
    } else {
      lastProblem = outcome.reason;
    }
    const delay = backoffDelay(attempt, policy, random);
    if (now() + delay >= deadline)
      throw new EdgefleetError(
        'EF_ERR_ENROLL_FAILED',
        `could not enroll within ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s (${attempt + 1} attempts); ` +
          `last problem: ${lastProblem}. Is the edgefleet server running and connected to ` +
          `${redact(options.brokerUrl)}?`,
        { attempts: attempt + 1 },
      );
    // Warn on the first failure and then every fifth: a farm of agents retrying should not flood the log.
    if (attempt % 5 === 0)
      log.warn({ attempt: attempt + 1, retryInMs: delay, problem: lastProblem }, 'enrollment attempt failed; retrying');
    await sleepMs(delay);
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'the broker';
  }
}

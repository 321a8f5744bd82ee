import mqtt from 'mqtt';
import type { Logger } from 'pino';
import {
  EdgefleetError,
  encodeMessage,
  ENROLL_TOKEN_PATTERN,
  enrollReplySchema,
  enrollTopic,
  PROTOCOL_VERSION,
  type EnrollAccepted,
  type EnrollRequest,
} from '@edgefleet/shared';

export interface EnrollOptions {
  readonly brokerUrl: string;
  /** The enrollment token (`efe_…`); never logged. */
  readonly token: string;
  /** Device id to ask for (e.g. the host name); the server may pick another. */
  readonly requestedDeviceId?: string;
  readonly agentVersion: string;
  readonly logger: Logger;
  /** How long to wait for the connection and the reply, ms. Default 30000. */
  readonly timeoutMs?: number;
  /** Injected clock for `sentAt`. Default Date.now. */
  readonly now?: () => number;
}

/** The enroll id of a token: `enroll-<12 hex>`; also its MQTT user name and client id [EF-PROTO 7.1]. */
export function enrollIdFor(token: string): string {
  if (!ENROLL_TOKEN_PATTERN.test(token)) {
    throw new EdgefleetError(
      'EF_ERR_ENROLL_INVALID',
      'the enrollment token is malformed: expected efe_<12 hex>_<43 characters>, as `edgefleet enroll-token create` prints it',
    );
  }
  return `enroll-${token.slice(4, 16)}`;
}

/** CONNACK codes mqtt.js reports on refusal: 4 bad user/password, 5 not authorized [MQTT-3.2.2.3]. */
function refusalError(err: unknown): EdgefleetError {
  const code = (err as { code?: unknown }).code;
  if (code === 4 || code === 5 || code === 2) {
    // [EF-PROTO 7.3]: 4 = the server does not know the token (or its secret is wrong), 5 = it knows it but it may not be used.
    const why =
      code === 5 ? 'it is revoked, expired or used up' : 'the server does not know it (or its secret is wrong)';
    return new EdgefleetError(
      'EF_ERR_ENROLL_INVALID',
      `the broker refused the enrollment token (CONNACK ${String(code)}): ${why}; ask the fleet admin for a new one (edgefleet enroll-token create)`,
      { connack: code },
      { cause: err },
    );
  }
  return new EdgefleetError(
    'EF_ERR_ENROLL_FAILED',
    `cannot reach the broker to enroll: ${(err as Error).message}; check --broker`,
    {},
    { cause: err },
  );
}

/**
 * Enrolls this device [EF-PROTO 7.2]: connects with the token as an enrollment client
 * (rights to nothing but its own request and reply topics), asks, and returns the issued
 * identity. The connection is closed before returning; the caller reconnects as the device.
 */
export async function enrollDevice(options: EnrollOptions): Promise<EnrollAccepted> {
  const enrollId = enrollIdFor(options.token);
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const log = options.logger.child({ component: 'enroll', enrollId });
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(options.brokerUrl, {
      clientId: enrollId,
      username: enrollId,
      password: options.token,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
    });
  } catch (err: unknown) {
    throw refusalError(err);
  }
  try {
    const reply = new Promise<EnrollAccepted>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new EdgefleetError(
              'EF_ERR_ENROLL_FAILED',
              `no enrollment reply within ${timeoutMs} ms; is the edgefleet server running and connected to this broker?`,
            ),
          ),
        timeoutMs,
      );
      client.on('message', (_topic, payload) => {
        let json: unknown;
        try {
          json = JSON.parse(payload.toString('utf8'));
        } catch {
          return;
        }
        const parsed = enrollReplySchema.safeParse(json);
        if (!parsed.success || parsed.data.enrollId !== enrollId) return;
        clearTimeout(timer);
        const answer = parsed.data;
        if (answer.ok) return resolve(answer);
        const code =
          answer.reason === 'expired'
            ? 'EF_ERR_ENROLL_EXPIRED'
            : answer.reason === 'exhausted'
              ? 'EF_ERR_ENROLL_EXHAUSTED'
              : answer.reason === 'internal'
                ? 'EF_ERR_ENROLL_FAILED'
                : 'EF_ERR_ENROLL_INVALID';
        reject(
          new EdgefleetError(code, `enrollment refused (${answer.reason}): ${answer.message}`, {
            reason: answer.reason,
          }),
        );
      });
    });
    reply.catch(() => undefined);
    const granted = await client.subscribeAsync(enrollTopic(enrollId, 'enroll-reply'), { qos: 1 });
    if (granted.some((g) => g.qos === 128))
      throw new EdgefleetError(
        'EF_ERR_ENROLL_FAILED',
        'the broker refused the enrollment reply subscription; its ACL does not match `edgefleet broker-config`',
      );
    const request: EnrollRequest = {
      type: 'enroll-request',
      v: PROTOCOL_VERSION,
      enrollId,
      token: options.token,
      agentVersion: options.agentVersion,
      sentAt: now(),
      ...(options.requestedDeviceId === undefined ? {} : { requestedDeviceId: options.requestedDeviceId }),
    };
    await client.publishAsync(enrollTopic(enrollId, 'enroll-request'), encodeMessage(request), { qos: 1 });
    log.info('enrollment requested');
    const accepted = await reply;
    log.info(
      { deviceId: accepted.deviceId, deviceClass: accepted.deviceClass, signingKeys: accepted.signingKeys.length },
      'enrolled',
    );
    return accepted;
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}

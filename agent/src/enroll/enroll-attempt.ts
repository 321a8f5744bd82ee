/**
 * One enrollment attempt on an open connection: subscribe to the session's reply topic,
 * publish the request, and wait for the answer, the connection's loss or the timeout,
 * whichever comes first. Returns an outcome instead of throwing, so the retry loop
 * (enroll.ts) decides what is worth another try.
 */
import type { MqttClient } from 'mqtt';
import {
  asError,
  EdgefleetError,
  enrollReplySchema,
  type EnrollAccepted,
  type EnrollFailure,
} from '@edgefleet/shared/device';

export type AttemptOutcome =
  | { readonly kind: 'accepted'; readonly reply: EnrollAccepted }
  /** The server refused the token: retrying cannot help. */
  | { readonly kind: 'refused'; readonly error: EdgefleetError }
  /** The broker refused the CONNECT (MQTT 3.1.1 return code 2, 4 or 5). */
  | { readonly kind: 'broker-refused'; readonly connack: number }
  | { readonly kind: 'retry'; readonly reason: string };

export interface AttemptTopics {
  readonly replyTopic: string;
  readonly requestTopic: string;
  readonly request: Buffer;
  readonly enrollId: string;
  readonly session: string;
  readonly waitMs: number;
}

const REFUSAL_CODES: Readonly<Record<Exclude<EnrollFailure, 'internal'>, EdgefleetError['code']>> = {
  'invalid-token': 'EF_ERR_ENROLL_INVALID',
  revoked: 'EF_ERR_ENROLL_INVALID',
  expired: 'EF_ERR_ENROLL_EXPIRED',
  exhausted: 'EF_ERR_ENROLL_EXHAUSTED',
};

/** Subscribes, asks once, and waits; the caller closes the connection. */
export async function awaitEnrollReply(client: MqttClient, t: AttemptTopics): Promise<AttemptOutcome> {
  let settle: (outcome: AttemptOutcome) => void = () => undefined;
  const outcome = new Promise<AttemptOutcome>((resolve) => {
    settle = resolve;
  });
  const timer = setTimeout(
    () => settle({ kind: 'retry', reason: `no enrollment reply within ${t.waitMs} ms` }),
    t.waitMs,
  );
  // Another connection with our client id (or the broker) closed this one: try again.
  const onClose = () => settle({ kind: 'retry', reason: 'the broker closed the enrollment connection' });
  client.on('close', onClose);
  client.on('message', (topic, payload) => {
    if (topic !== t.replyTopic) return;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    const parsed = enrollReplySchema.safeParse(json);
    if (!parsed.success || parsed.data.enrollId !== t.enrollId || parsed.data.session !== t.session) return;
    const answer = parsed.data;
    if (answer.ok) return settle({ kind: 'accepted', reply: answer });
    if (answer.reason === 'internal')
      return settle({ kind: 'retry', reason: `the server could not complete enrollment: ${answer.message}` });
    settle({
      kind: 'refused',
      error: new EdgefleetError(
        REFUSAL_CODES[answer.reason],
        `enrollment refused (${answer.reason}): ${answer.message}`,
        {
          reason: answer.reason,
        },
      ),
    });
  });
  try {
    const granted = await client.subscribeAsync(t.replyTopic, { qos: 1 });
    if (granted.some((g) => g.qos === 128))
      return {
        kind: 'refused',
        error: new EdgefleetError(
          'EF_ERR_ENROLL_FAILED',
          'the broker refused the enrollment reply subscription; its permissions do not match `edgefleet ' +
            "broker-config`'s",
        ),
      };
    await client.publishAsync(t.requestTopic, t.request, { qos: 1 });
    return await outcome;
  } catch (err: unknown) {
    return { kind: 'retry', reason: `enrollment request not delivered: ${asError(err).message}` };
  } finally {
    clearTimeout(timer);
    client.off('close', onClose);
  }
}

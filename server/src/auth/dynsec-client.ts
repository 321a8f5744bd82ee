/**
 * Talks to mosquitto's dynamic security plugin over MQTT: commands go to
 * `$CONTROL/dynamic-security/v1` as `{commands: [...]}`, answers come back on its `/response`
 * topic, matched by `correlationData`. Sent through the server's own broker connection, whose
 * role (dynsec-model.ts) allows exactly these topics.
 */
import { randomBytes } from 'node:crypto';
import { asError } from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import type { Logger } from '../log/logger.js';
import { DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC } from './dynsec-model.js';

export interface DynsecCommand {
  readonly command: string;
  readonly [field: string]: unknown;
}

/** One command's answer: its error text (null when it succeeded) and any data it returned. */
export interface DynsecResult {
  readonly error: string | null;
  readonly data: unknown;
}

export interface DynsecClient {
  /**
   * Sends the commands in one message; resolves with each one's result, in order. Rejects
   * when no answer comes within `timeoutMs`.
   */
  send(commands: readonly DynsecCommand[], timeoutMs?: number): Promise<DynsecResult[]>;
  /** True when the plugin answers (the broker has it and lets this client use it). */
  probe(timeoutMs: number): Promise<boolean>;
  close(): void;
}

interface Waiting {
  readonly results: Array<DynsecResult | undefined>;
  readonly resolve: (results: DynsecResult[]) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Subscribes to the response topic and returns a client; throws when the broker refuses the subscription. */
export async function createDynsecClient(client: BrokerClient, logger: Logger): Promise<DynsecClient> {
  const waiting = new Map<string, Waiting>();
  const prefix = randomBytes(4).toString('hex');
  let next = 0;

  const off = client.onMessage((topic, payload) => {
    if (topic !== DYNSEC_RESPONSE_TOPIC) return;
    let parsed: { responses?: Array<{ error?: unknown; correlationData?: unknown; data?: unknown }> };
    try {
      parsed = JSON.parse(payload.toString('utf8')) as typeof parsed;
    } catch {
      return;
    }
    for (const response of parsed.responses ?? []) {
      const [batch, index] = String(response.correlationData ?? '').split(':');
      const w = batch === undefined ? undefined : waiting.get(batch);
      if (!w || index === undefined) continue;
      w.results[Number(index)] = {
        error: typeof response.error === 'string' ? response.error : null,
        data: response.data ?? null,
      };
      if (w.results.every((r) => r !== undefined)) {
        clearTimeout(w.timer);
        waiting.delete(batch as string);
        w.resolve(w.results as DynsecResult[]);
      }
    }
  });
  await client.subscribe([DYNSEC_RESPONSE_TOPIC], 1);

  function send(commands: readonly DynsecCommand[], timeoutMs = 5000): Promise<DynsecResult[]> {
    const batch = `${prefix}-${next++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(batch);
        reject(
          new Error(
            `mosquitto's dynamic security plugin did not answer ${commands.map((c) => c.command).join(', ')} within ` +
              `${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      waiting.set(batch, { results: commands.map(() => undefined), resolve, reject, timer });
      const payload = JSON.stringify({
        commands: commands.map((c, i) => ({ ...c, correlationData: `${batch}:${i}` })),
      });
      client.publish(DYNSEC_TOPIC, payload, { qos: 1 }).catch((err: unknown) => {
        clearTimeout(timer);
        waiting.delete(batch);
        reject(asError(err));
      });
    });
  }

  return {
    send,
    async probe(timeoutMs) {
      try {
        const [result] = await send([{ command: 'getDefaultACLAccess' }], timeoutMs);
        if (result?.error) logger.warn({ error: result.error }, 'dynamic security plugin refused getDefaultACLAccess');
        return result !== undefined && result.error === null;
      } catch {
        return false;
      }
    },
    close() {
      off();
      for (const w of waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error('dynamic security client closed'));
      }
      waiting.clear();
    },
  };
}

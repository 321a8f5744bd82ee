/**
 * A plain MQTT client that records everything on a filter, for asserting what devices
 * publish. `waitFor` polls the record instead of sleeping a fixed time.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface Seen {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly at: number;
  json(): Record<string, unknown>;
}

export interface Watcher {
  readonly client: MqttClient;
  readonly seen: Seen[];
  /** Resolves with the first recorded message matching `predicate` (past or future); rejects after `timeoutMs`. */
  waitFor(predicate: (m: Seen) => boolean, timeoutMs?: number, what?: string): Promise<Seen>;
  close(): Promise<void>;
}

export async function watchTopics(url: string, filter: string | string[]): Promise<Watcher> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    clientId: `watch-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  });
  const seen: Seen[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    seen.push({
      topic,
      payload,
      retain: packet.retain,
      at: Date.now(),
      json: () => JSON.parse(payload.toString('utf8')) as Record<string, unknown>,
    });
    for (const w of [...waiters]) w();
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    client,
    seen,
    waitFor: (predicate, timeoutMs = 10_000, what = 'message') =>
      new Promise<Seen>((resolve, reject) => {
        const check = () => {
          const hit = seen.find(predicate);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      }),
    close: async () => {
      await client.endAsync(true);
    },
  };
}

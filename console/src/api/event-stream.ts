/**
 * The server's fleet events (`GET /v1/events`, Server-Sent Events) read through `fetch`, not
 * `EventSource`: EventSource cannot send the Authorization header, and a token in the URL
 * would end up in logs. Reconnects back off exponentially (1 s → 15 s) and resume with
 * `Last-Event-ID`, so events the server still holds in its ring are not missed.
 */
import { type FleetEventEnvelope, fleetEventEnvelopeSchema } from '@edgefleet/shared/api/events';

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'unauthorized';

export interface EventStreamHandlers {
  onEvent(envelope: FleetEventEnvelope): void;
  onStatus(status: StreamStatus): void;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 15_000;

/** Parses one SSE block (the lines between blank lines) into its id and data, per the SSE format. */
export function parseSseBlock(block: string): { id: string | null; data: string | null } {
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  return { id, data: data.length > 0 ? data.join('\n') : null };
}

/** Opens the stream; returns a function that closes it for good. */
export function openEventStream(token: string, handlers: EventStreamHandlers): () => void {
  let stopped = false;
  let lastId = 0;
  let backoff = MIN_BACKOFF_MS;
  let controller: AbortController | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;

  function handleBlock(block: string): void {
    const { id, data } = parseSseBlock(block);
    if (data === null) return;
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return;
    }
    const parsed = fleetEventEnvelopeSchema.safeParse(json);
    // An event type this console does not know yet (a newer server) is skipped, not fatal.
    if (!parsed.success) return;
    if (id !== null && Number.isInteger(Number(id))) lastId = Number(id);
    handlers.onEvent(parsed.data);
  }

  async function readStream(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        handleBlock(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  async function connect(): Promise<void> {
    controller = new AbortController();
    handlers.onStatus(lastId === 0 ? 'connecting' : 'reconnecting');
    try {
      const res = await fetch('/v1/events', {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'text/event-stream',
          ...(lastId > 0 ? { 'last-event-id': String(lastId) } : {}),
        },
        signal: controller.signal,
      });
      if (res.status === 401) {
        handlers.onStatus('unauthorized');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      handlers.onStatus('live');
      backoff = MIN_BACKOFF_MS;
      await readStream(res.body);
    } catch {
      // Network loss or server restart: fall through to the reconnect below.
    }
    if (stopped) return;
    handlers.onStatus('reconnecting');
    retry = setTimeout(() => void connect(), backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }

  void connect();
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    controller?.abort();
  };
}

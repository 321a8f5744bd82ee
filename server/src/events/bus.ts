import type { FleetEvent, FleetEventEnvelope } from '@edgefleet/shared';

export type { FleetEvent, FleetEventEnvelope, FleetEventType } from '@edgefleet/shared';

export type EventListener = (envelope: FleetEventEnvelope) => void;

/**
 * The server's in-process event bus. Any module publishes fleet events here (the typed union
 * lives in shared/src/api/events.ts so the SSE stream and OpenAPI share it); the admin API
 * streams them to dashboards. A bounded ring of recent events lets an SSE client that
 * reconnects with `Last-Event-ID` catch up.
 */
export interface EventBus {
  publish(event: FleetEvent): FleetEventEnvelope;
  /** Returns a function that unsubscribes. */
  subscribe(listener: EventListener): () => void;
  /** Events with a sequence number above `seq` still in the ring, oldest first. */
  since(seq: number): FleetEventEnvelope[];
  /** Number of current subscribers. */
  listeners(): number;
}

export interface EventBusOptions {
  /** Injected clock, ms. */
  readonly now: () => number;
  /** Events kept for catch-up. Default 1000. */
  readonly ringSize?: number;
  /** Told when a listener throws (the event still reaches the others). */
  readonly onListenerError?: (err: unknown) => void;
}

export function createEventBus(options: EventBusOptions): EventBus {
  const ringSize = options.ringSize ?? 1000;
  const ring: FleetEventEnvelope[] = [];
  const listeners = new Set<EventListener>();
  let seq = 0;
  return {
    publish(event) {
      seq += 1;
      const envelope: FleetEventEnvelope = { seq, at: options.now(), event };
      ring.push(envelope);
      if (ring.length > ringSize) ring.shift();
      for (const listener of listeners) {
        try {
          listener(envelope);
        } catch (err: unknown) {
          options.onListenerError?.(err);
        }
      }
      return envelope;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    since(after) {
      return ring.filter((e) => e.seq > after);
    },
    listeners: () => listeners.size,
  };
}

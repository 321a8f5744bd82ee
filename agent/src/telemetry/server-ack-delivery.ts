/**
 * Server-acknowledged delivery (`server-ack`, the default) [EF-PROTO 8.2]. The oldest
 * entries of the outbox, at most `maxInFlight`, are published and wait for the server's
 * `telemetry-ack`, which it sends only after committing them to its store. An entry leaves
 * the outbox once it and every older entry were acknowledged, so the outbox head (and its
 * on-disk format) still moves over an acknowledged prefix only: after an agent restart
 * whatever was published but not acknowledged is still on disk and goes out again.
 *
 * Sent again: everything unacknowledged after each reconnect (a broker restarted without
 * sessions acknowledged and dropped it), and whatever waited `ackTimeoutMs` (a lost
 * acknowledgement, a failed server batch), backing off to `maxAckTimeoutMs` while the server
 * stays silent. The server deduplicates by `(deviceId, seq)` and breach identity, so a
 * resend costs bandwidth, never a double count. Memory holds only the entries in flight.
 */
import { breachIdentity, type AnyMessage, type BreachIdentity, type TelemetryAck } from '@edgefleet/shared/device';
import type { TimerHandle } from '@edgefleet/shared/device';
import type { OutboxChannel } from './outbox.js';
import type { Delivery, DeliveryOptions } from './transport.js';

export interface ServerAckDeliveryOptions extends DeliveryOptions {
  /** Wait for an acknowledgement before sending again, ms. */
  readonly ackTimeoutMs: number;
  /** Longest wait after repeated timeouts, ms. */
  readonly maxAckTimeoutMs: number;
}

interface InFlight {
  readonly id: number;
  readonly channel: OutboxChannel;
  readonly message: AnyMessage;
  /** What the server acknowledges it by; null for a message it never acknowledges (left on PUBACK). */
  readonly key: string | null;
  /** When last handed to the link (clock ms); null: to be sent (again). */
  sentAt: number | null;
  done: 'acked' | 'skipped' | null;
}

const windowKey = (seq: number): string => `w:${seq}`;
const breachKey = (id: BreachIdentity): string => `b:${id.budget}:${id.seq}`;

/** The identity the server acknowledges a message by [EF-PROTO 8.2]. */
function ackKeyOf(message: AnyMessage): string | null {
  if (message.type === 'telemetry') return windowKey(message.seq);
  if (message.type === 'breach') return breachKey(breachIdentity(message));
  return null;
}

export function createServerAckDelivery(options: ServerAckDeliveryOptions): Delivery {
  const { outbox, transport, clock, log, maxInFlight } = options;
  const subscribeAcks = transport.onAck?.bind(transport);
  if (!subscribeAcks)
    throw new TypeError("server-ack delivery needs a transport with onAck (the link's telemetry-ack channel)");
  const counters = {
    delivered: 0,
    publishFailures: 0,
    unpublishable: 0,
    acked: 0,
    duplicateAcks: 0,
    unmatchedAcks: 0,
    resends: 0,
  };
  /** Contiguous outbox entries from the head: the only ones in memory. */
  let inFlight: InFlight[] = [];
  let timeoutMs = options.ackTimeoutMs;
  let timer: TimerHandle | null = null;
  let unsubscribe: (() => void) | null = null;
  /** Between start() and stop(): a publish settling after stop() must not start another round. */
  let running = false;

  function clearTimer(): void {
    if (timer) clock.clearTimeout(timer);
    timer = null;
  }

  /** Moves the outbox head over the acknowledged prefix. */
  function advance(): void {
    // Entries the bound dropped while in flight are gone (and counted by the outbox).
    const head = outbox.headId();
    inFlight = inFlight.filter((e) => e.id >= head);
    let last: InFlight | null = null;
    while (inFlight[0]?.done) {
      last = inFlight.shift() as InFlight;
      if (last.done === 'acked') counters.delivered += 1;
      else counters.unpublishable += 1;
    }
    if (last) outbox.ack(last.id);
  }

  function fill(): void {
    const room = maxInFlight - inFlight.length;
    if (room <= 0) return;
    const last = inFlight.at(-1);
    for (const e of outbox.peek(room, last ? last.id + 1 : outbox.headId())) {
      inFlight.push({
        id: e.id,
        channel: e.channel,
        message: e.message,
        key: ackKeyOf(e.message),
        sentAt: null,
        done: null,
      });
    }
  }

  function send(e: InFlight): Promise<void> {
    e.sentAt = clock.now();
    return transport.publish(e.channel, e.message).then(
      (outcome) => {
        if (e.done !== null) return;
        if (outcome === 'unpublishable') e.done = 'skipped';
        else if (e.key === null) e.done = 'acked';
        else return;
        void pump();
      },
      (err: unknown) => {
        counters.publishFailures += 1;
        // Not handed to the broker: sent again on the next round (a reconnect starts one).
        if (e.done === null) e.sentAt = null;
        log.debug({ err, pending: outbox.pending() }, 'telemetry publish failed; it stays in the outbox');
      },
    );
  }

  /** Acknowledged prefix out, new entries in, unsent ones out; resolves when those publishes settled. */
  function pump(): Promise<void> {
    advance();
    if (!running || !transport.isOnline()) return Promise.resolve();
    fill();
    const sends = inFlight.filter((e) => e.done === null && e.sentAt === null).map(send);
    armTimer();
    return Promise.all(sends).then(() => undefined);
  }

  function armTimer(): void {
    if (timer) return;
    const waiting = inFlight.filter((e) => e.done === null);
    if (waiting.length === 0) return;
    const oldest = Math.min(...waiting.map((e) => e.sentAt ?? clock.now()));
    timer = clock.setTimeout(handleTimeout, Math.max(0, oldest + timeoutMs - clock.now()));
  }

  function handleTimeout(): void {
    timer = null;
    if (!transport.isOnline()) return; // the reconnect sends everything again
    const now = clock.now();
    const due = inFlight.filter((e) => e.done === null && e.sentAt !== null && e.sentAt + timeoutMs <= now);
    if (due.length > 0) {
      log.info(
        { entries: due.length, firstId: due[0]?.id, timeoutMs },
        'telemetry not acknowledged by the server in time; sending it again',
      );
      for (const e of due) e.sentAt = null;
      counters.resends += due.length;
      // A silent server (down, or not subscribed yet) is asked less and less often, up to the cap.
      timeoutMs = Math.min(timeoutMs * 2, options.maxAckTimeoutMs);
    }
    void pump();
  }

  function handleAck(ack: TelemetryAck): void {
    advance();
    let progress = false;
    for (const key of [...ack.windows.map(windowKey), ...ack.breaches.map(breachKey)]) {
      // Normally one entry; several only if a seq was reused (a lost seq.json): the server keeps
      // the first under that seq, and waiting longer would not change it.
      const matches = inFlight.filter((x) => x.key === key);
      if (matches.length === 0) counters.unmatchedAcks += 1;
      for (const e of matches) {
        if (e.done !== null) {
          counters.duplicateAcks += 1;
          continue;
        }
        e.done = 'acked';
        counters.acked += 1;
        progress = true;
      }
    }
    if (!progress) return;
    // The server answers again: back to the first timeout.
    timeoutMs = options.ackTimeoutMs;
    clearTimer();
    void pump();
  }

  /** Everything unacknowledged goes out again, oldest first. */
  function resendAll(): void {
    for (const e of inFlight) {
      if (e.done !== null || e.sentAt === null) continue;
      e.sentAt = null;
      counters.resends += 1;
    }
    clearTimer();
    void pump();
  }

  return {
    flush: pump,
    // The broker may have acknowledged and then lost them (a restart without sessions).
    reconnected: resendAll,
    start: () => {
      running = true;
      unsubscribe ??= subscribeAcks(handleAck);
    },
    stop: () => {
      running = false;
      clearTimer();
      unsubscribe?.();
      unsubscribe = null;
      // A later start() sends them again; until then they are only on disk and here.
      for (const e of inFlight) if (e.done === null) e.sentAt = null;
    },
    stats: () => ({ ...counters, awaitingAck: inFlight.filter((e) => e.done === null && e.sentAt !== null).length }),
  };
}
